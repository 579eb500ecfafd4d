# SPDX-License-Identifier: Apache-2.0
# Early refresh (issue 9, MSAL's refresh_in): a cached downstream token in
# its refresh window is still served, and exactly one request - across
# threads, processes and two servers sharing memcached - renews it after
# its response has gone out; a failed renewal keeps serving the valid token
# and is not retried before its backoff; the renewed token is then served.
# Tokens live 30 s here (OBOCacheMargin 5: cached until 25 s); the IdP
# advises refresh_in 4 s, or OBOCacheRefresh 20 (6 s) applies without it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();

my $TENANT = 'xrefr';
my @srv;
for my $name (qw(httpd2refra httpd2refrb)) {
    my $h = eval { OBOTest::Httpd2->start(procs => 2, tenant => $TENANT, name => $name,
                                          extra => "OBOCacheMargin 5\nOBOCacheRefresh 20") };
    diag "$name: $@" unless $h;
    push @srv, $h if $h;
}
ok @srv == 2, 'two servers (tenant xrefr, shared memcached)' or do { done_testing(); exit 0 };

my $ua = LWP::UserAgent->new(timeout => 30);
sub ut { my ($sub) = @_; return mint(tenant => $TENANT, claims => { sub => $sub }) }

# the downstream token the backend got, and how long the request took
sub fetch {
    my ($i, $tok) = @_;
    my $t0 = time;
    my $r = $ua->get($srv[$i % 2]->url('/x/backend/r'), Authorization => "Bearer $tok");
    my ($auth) = backend_header($r, 'Authorization');
    $auth //= '';
    $auth =~ s/^Bearer //;
    return ($r->code, $auth, time - $t0);
}

sub seq_of { my $c = decode_idp_token($_[0]); return $c ? $c->{obo_seq} : undef }

sub settle {
    my ($user, $want, $secs) = @_;
    my $end = time + $secs;
    sleep 0.2 while time < $end && token_calls($user) < $want;
    return token_calls($user);
}

sub burst_tokens {
    my ($tok, $n) = @_;
    my @res = burst(map { [ $srv[$_ % 2]->url('/x/backend/b'), Authorization => "Bearer $tok" ] }
                    1 .. $n);
    my %seen;
    for (@res) {
        my ($a) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
                  @{ ref $_->{json} eq 'HASH' ? $_->{json}{headers} // [] : [] };
        $seen{ $_->{code} == 200 && $a ? ($a =~ s/^Bearer //r) : "status $_->{code}" }++;
    }
    return \%seen;
}

subtest 'refresh_in: served while refreshing, one refresh across two servers, then the new token' => sub {
    idp_set("expires_in\@$TENANT" => 30, "refresh_in\@$TENANT" => 4,
            "token_fault\@$TENANT" => '');
    my $u = fresh_user('rin');
    my $tok = ut($u);
    my $t0 = time;
    my ($code, $first) = fetch(0, $tok);
    is $code, 200, 'first request 200';
    ok $first, 'with a downstream token';
    my ($c2, $same) = fetch(1, $tok);
    is $same, $first, 'before the window: the cached token, from the other server too';
    is token_calls($u), 1, 'one IdP call so far';

    sleep 4.5 - (time - $t0);
    # the IdP takes 4 s; the renewed token's own window opens late
    # (refresh_in 25): no second refresh here
    idp_set("token_fault\@$TENANT" => 'slow', "slow_seconds\@$TENANT" => 4,
            "refresh_in\@$TENANT" => 25);
    my $tr = time;
    my ($c0, $t0tok, $lat) = fetch(0, $tok);
    is $t0tok, $first, 'the first request in the window: the still-valid token';
    ok $lat < 1.5, sprintf('at once (%.2f s): it renews the token after its response, the '
                           . 'IdP taking 4 s', $lat);
    my $seen = burst_tokens($tok, 20);
    my $during = time - $tr;
    is_deeply [ keys %$seen ], [ $first ], 'while it renews: 20 concurrent requests over both '
        . 'servers all get the still-valid token' or diag explain $seen;
    ok $during < 4, sprintf('(all answered within %.1f s, before the renewal ended)', $during);
    is settle($u, 2, 8), 2, 'exactly one refresh call for all of them';
    sleep 5.5 - (time - $tr);    # the slow refresh call completes and is stored
    idp_set("token_fault\@$TENANT" => '', "slow_seconds\@$TENANT" => '');
    my %after;
    for my $i (0 .. 7) {
        my ($c, $t) = fetch($i, $tok);
        $after{$t}++;
    }
    is scalar(keys %after), 1, 'after the refresh: one token everywhere';
    my ($new) = keys %after;
    isnt $new, $first, 'a new token';
    ok seq_of($new) && seq_of($first) && seq_of($new) > seq_of($first),
       'issued by the later IdP call';
    is token_calls($u), 2, 'and no further call';
};

subtest 'a failed refresh keeps serving the valid token, one attempt per backoff' => sub {
    idp_set("expires_in\@$TENANT" => 30, "refresh_in\@$TENANT" => 4,
            "token_fault\@$TENANT" => '');
    my $u = fresh_user('rfail');
    my $tok = ut($u);
    my $t0 = time;
    my ($code, $first) = fetch(0, $tok);
    is $code, 200, 'first request 200';
    sleep 4.5 - (time - $t0);
    idp_set("token_fault\@$TENANT" => '500');
    my $seen = burst_tokens($tok, 20);
    is_deeply [ keys %$seen ], [ $first ], 'in the window, the refresh failing: every request '
        . 'gets the valid token' or diag explain $seen;
    is settle($u, 3, 6), 3, 'one refresh attempt (the IdP call and its one retry)';
    sleep 1;
    $seen = burst_tokens($tok, 20);
    is_deeply [ keys %$seen ], [ $first ], 'later requests: still the valid token';
    sleep 1;
    is token_calls($u), 3, 'and no new attempt during the backoff';
    idp_set("token_fault\@$TENANT" => '');
};

subtest 'without refresh_in: OBOCacheRefresh 20 opens the window after 20 % (6 s)' => sub {
    idp_set("expires_in\@$TENANT" => 30, "refresh_in\@$TENANT" => '',
            "token_fault\@$TENANT" => '');
    my $u = fresh_user('rshare');
    my $tok = ut($u);
    my $t0 = time;
    my ($code, $first) = fetch(0, $tok);
    sleep 4.5 - (time - $t0);
    my ($c, $t) = fetch(1, $tok);
    is $t, $first, 'at 4.5 s: the cached token';
    sleep 0.5;
    is token_calls($u), 1, 'no refresh before 20 % of the lifetime';
    sleep 6.5 - (time - $t0);
    ($c, $t) = fetch(0, $tok);
    is $t, $first, 'at 6.5 s: still the cached token';
    is settle($u, 2, 5), 2, 'renewed after that request';
    sleep 0.5;
    ($c, $t) = fetch(1, $tok);
    isnt $t, $first, 'the next request gets the new token';
};

idp_set("expires_in\@$TENANT" => '', "refresh_in\@$TENANT" => '', "token_fault\@$TENANT" => '',
        "slow_seconds\@$TENANT" => '');
$_->stop for @srv;
done_testing();
