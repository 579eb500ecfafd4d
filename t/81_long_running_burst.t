# SPDX-License-Identifier: Apache-2.0
# Long-running sessions across two servers sharing memcached (vhost obo_lr
# + a second httpd with the same client and cache): 50 concurrent handler
# calls for one session whose access token has expired make exactly one
# refresh-token call and all get the same new token; DELETE on one server
# ends the session on both; and the handler's latency at a cache hit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Config ();
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_lr';

sub ut {
    my ($sub) = @_;
    return mint(tenant => 'lr', claims => { sub => $sub, oid => sprintf('00000000-0000-4000-8000-%012d', $$ % 1e12) });
}
sub refreshes { my ($sub) = @_; return idp_counters()->{"grant:refresh_token:$sub"} // 0 }
sub open_session {
    my ($t) = @_;
    return cgi_env(obo_get($V, '/lr/env', token => $t))->{OBO_SESSION_KEY};
}

my $lib = OBOTest::Config::libexecdir();
my $h2 = eval {
    OBOTest::Httpd2->start(procs => 2, tenant => 'lr', name => 'httpd2lr', extra => <<"EOF") };
<IfModule !mod_authz_host.c>
    LoadModule authz_host_module "$lib/mod_authz_host.so"
</IfModule>
OBOCacheMargin 2
<Location /lr>
    AuthType obo
    Require valid-user
    OBOScope api://downstream/.default
    OBOLongRunning on
</Location>
<Location /token>
    SetHandler obo-token
    Require local
</Location>
EOF
ok $h2, 'second httpd started' or diag $@;

SKIP: {
    skip 'no second httpd', 3 unless $h2;
    my $u1 = vhost_url($V, '/token');
    my $u2 = $h2->url('/token');
    my $ua = LWP::UserAgent->new(timeout => 30);

    subtest '50 concurrent calls, 2 servers, expired access token: one refresh' => sub {
        # access tokens of the session: 4 s (margin 2); refreshed ones 120 s;
        # a slow IdP (1 s) keeps every caller inside the refresh window
        idp_set('expires_in@lr' => 4, 'refresh_expires_in@lr' => 120);
        my $sub = fresh_user('lrburst');
        my $key = open_session(ut($sub));
        ok $key, 'session opened on server 1';
        my $r = $ua->get($u2, 'OBO-Session-Key' => $key);
        is $r->code, 200, 'server 2 knows the session (memcached)';
        my $at0 = json_body($r)->{access_token} // '';
        is refreshes($sub), 0, 'no refresh yet';
        sleep 2.5;
        idp_set('token_fault@lr' => 'slow', 'slow_seconds@lr' => 1);
        my @kids = $h2->children;
        my @reqs = map { [ ($_ % 2 ? $u2 : $u1), 'OBO-Session-Key' => $key ] } 1 .. 50;
        my $t0 = time;
        my @res = burst(@reqs);
        my $secs = time - $t0;
        idp_set('token_fault@lr' => '', 'slow_seconds@lr' => '');
        my @ok = grep { $_->{code} == 200 } @res;
        is scalar(@ok), 50, sprintf('all 50 answered 200 (%.1f s)', $secs)
            or diag join ' ', map { $_->{code} } @res;
        my %tok = map { (ref $_->{json} eq 'HASH' ? $_->{json}{access_token} : 'none') // 'none' => 1 } @ok;
        is scalar(keys %tok), 1, 'all got the same token';
        ok !$tok{$at0}, 'a new one';
        is refreshes($sub), 1, 'exactly one refresh-token call to the IdP for 50 calls on 2 servers';
        diag sprintf('single flight: %d refresh call(s) for 50 concurrent calls over 2 servers '
                     . '(%d + %d processes), %.2f s', refreshes($sub), max_procs(), scalar(@kids), $secs);
        is idp_counter('refresh_stale'), 0, 'no server presented a rotated refresh token';
        my ($a, $b) = map { json_body($ua->get($_, 'OBO-Session-Key' => $key))->{access_token} } $u1, $u2;
        ok $a && $a eq $b && $tok{$a}, 'afterwards both servers serve the same stored token';
        is refreshes($sub), 1, 'without another refresh';
        idp_set('expires_in@lr' => '', 'refresh_expires_in@lr' => '');
    };

    subtest 'DELETE on one server ends the session on both' => sub {
        my $sub = fresh_user('lrdel2');
        my $key = open_session(ut($sub));
        is $ua->get($u2, 'OBO-Session-Key' => $key)->code, 200, 'server 2: 200';
        my $r = $ua->request(HTTP::Request->new(DELETE => $u2, ['OBO-Session-Key' => $key]));
        is $r->code, 204, 'DELETE on server 2: 204';
        is $ua->get($u1, 'OBO-Session-Key' => $key)->code, 404, 'server 1: 404';
        is $ua->get($u2, 'OBO-Session-Key' => $key)->code, 404, 'server 2: 404';
    };

    subtest 'handler latency at a cache hit (1000 sequential calls)' => sub {
        my $sub = fresh_user('lrlat');
        my $key = open_session(ut($sub));
        my $kua = LWP::UserAgent->new(timeout => 30, keep_alive => 1);
        my $before = idp_counter('token');
        my (@ms, $bad);
        for (1 .. 1000) {
            my $t0 = time;
            my $r = $kua->get($u1, 'OBO-Session-Key' => $key);
            push @ms, (time - $t0) * 1000;
            $bad++ unless $r->code == 200;
        }
        is $bad // 0, 0, 'all 1000 answered 200';
        is idp_counter('token') - $before, 0, 'no IdP call';
        my @s = sort { $a <=> $b } @ms;
        my $mean = 0;
        $mean += $_ / @s for @s;
        diag sprintf('handler latency at a cache hit (memcached, keep-alive, 1000 calls): '
                     . 'mean %.2f ms, p50 %.2f ms, p99 %.2f ms, max %.2f ms',
                     $mean, $s[499], $s[989], $s[-1]);
    };
}

$h2->stop if $h2;
idp_reset();
done_testing();
