# SPDX-License-Identifier: Apache-2.0
# A herd of identical requests with one opaque token (issue 16, part 1):
# 50 concurrent requests spread over two servers (two second httpds, 2
# processes each, one memcached) make exactly one introspection call, as
# the exchange's single flight does for tokens (t/95_herd.t); the failure of
# that one call is every waiter's answer (503) and is not cached.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use JSON::PP ();
use LWP::UserAgent;
use Time::HiRes qw(sleep);

need_feature('authn', 'exchange');
idp_reset();

my $TENANT = 'xiherd';
my $N = 50;
# prefork serves one request per process: enough processes for the herd
my $PROCS = (OBOTest::features()->{mpm} // '') eq 'prefork' ? 26 : 2;
# /i introspects; /xa (auto) exchanges with the server's On-Behalf-Of grant,
# which cannot take an opaque token
my $LOC = "<Location /i>\n    AuthType obo\n    Require valid-user\n"
        . "    OBOTokenFormat opaque\n</Location>\nOBOTimeout 10 30\n"
        . "<Location /xa>\n    AuthType obo\n    Require valid-user\n    OBOTokenFormat auto\n"
        . "    OBOScope api://downstream/.default\n</Location>\n"
        . "<Location /obo-status>\n    SetHandler obo-status\n</Location>";

my @srv;
for my $name (qw(httpd2iherda httpd2iherdb)) {
    my $h = eval { OBOTest::Httpd2->start(procs => $PROCS, tenant => $TENANT, name => $name,
                                          extra => $LOC) };
    diag "$name: $@" unless $h;
    push @srv, $h if $h;
}
ok @srv == 2, 'two servers (tenant xiherd, shared memcached, OBOTokenFormat opaque)' or do {
    done_testing();
    exit 0;
};

sub opaque {
    my $sub = fresh_user('iherd');
    return (idp_opaque(active => JSON::PP::true, sub => $sub, aud => 'api://test-api',
                       iss => idp_url("/$TENANT/v2.0"), exp => time + 600), $sub);
}

sub calls { return idp_counter("introspect\@$TENANT") }

sub codes {
    my ($res) = @_;
    my %c;
    $c{ $_->{code} }++ for @$res;
    return join ', ', map { "$_ x $c{$_}" } sort keys %c;
}

sub herd {
    my ($tok, $tag) = @_;
    return burst(map { [ $srv[$_ % 2]->url("/i/backend/$tag"), Authorization => "Bearer $tok" ] }
                 1 .. $N);
}

# every process loads the IdP's discovery and keys before the herd (the
# issuer check needs them), with a token of its own
burst(map { [ $srv[$_ % 2]->url('/i/backend/warm'), Authorization => 'Bearer ' . (opaque())[0] ] }
      1 .. 8);

subtest "a slow introspection endpoint: $N requests over two servers, one call" => sub {
    my ($tok, $sub) = opaque();
    idp_set("introspect_fault\@$TENANT" => 'slow', "slow_seconds\@$TENANT" => 1);
    my $before = calls();
    my @res = herd($tok, 'slow');
    idp_set("introspect_fault\@$TENANT" => '', "slow_seconds\@$TENANT" => '');
    is scalar(grep { $_->{code} == 200 } @res), $N, "every request 200"
        or diag codes(\@res), (map { "\n$_->{body}" } grep { $_->{code} != 200 } @res)[0];
    is calls() - $before, 1, 'exactly one introspection call for the herd';
    is idp_counter("introspect:$sub"), 1, 'for that token';
    my @r2 = herd($tok, 'again');
    is scalar(grep { $_->{code} == 200 } @r2), $N, 'the same herd again: 200';
    is calls() - $before, 1, 'no call: the answer is cached (memcached, each process\'s L1)';
};

subtest 'the endpoint fails: one call, the same 503 for all, nothing cached' => sub {
    my ($tok, $sub) = opaque();
    # slow, then a 500: the whole herd arrives while the one call is out
    # (a quick 500 let latecomers of a loaded machine make a second call)
    idp_set("introspect_fault\@$TENANT" => 'slow_500', "slow_seconds\@$TENANT" => 1);
    my $before = calls();
    my @res = herd($tok, 'fail');
    idp_set("introspect_fault\@$TENANT" => '', "slow_seconds\@$TENANT" => '');
    is scalar(grep { $_->{code} == 503 } @res), $N, 'every request 503' or diag codes(\@res);
    is calls() - $before, 1, 'one introspection call';
    expect_ok(LWP::UserAgent->new(timeout => 30)->get($srv[0]->url('/i/backend/after'),
                                                      Authorization => "Bearer $tok"),
              'the failure is not cached: the next request calls and succeeds');
    is calls() - $before, 2, 'one more call';
};

subtest 'auto with OBOExchange on-behalf-of: an opaque token is answered 401 (OBO428)' => sub {
    my ($tok, $sub) = opaque();
    my $ua = LWP::UserAgent->new(timeout => 30);
    my $r = $ua->get($srv[0]->url('/xa/backend/obo'), Authorization => "Bearer $tok");
    is $r->code, 401, 'opaque token in an on-behalf-of Location: 401';
    my $c = www_authenticate($r);
    is $c && $c->{params}{error}, 'invalid_token', 'invalid_token';
    like $c && $c->{params}{error_description} // '', qr/needs a JWT/, 'which says why';
    is token_calls($sub), 0, 'no exchange was tried';
    my $jwt = mint(tenant => $TENANT, claims => { sub => fresh_user('jwt') });
    is $ua->get($srv[0]->url('/xa/backend/obo'), Authorization => "Bearer $jwt")->code, 200,
       'a JWT there: 200 (exchanged)';
};

# Review 11: an answer cached by a server with a longer cache time was kept
# by one with a shorter time for the longer one (a revoked token accepted
# there past its own OBOIntrospectionCacheTime).
subtest 'a shorter OBOIntrospectionCacheTime beside a longer one on the same cache' => sub {
    my $short = eval { OBOTest::Httpd2->start(procs => 1, tenant => $TENANT,
                                              name => 'httpd2iherdc',
                                              extra => "$LOC\nOBOIntrospectionCacheTime 1") };
    ok $short, 'a third server with OBOIntrospectionCacheTime 1' or return;
    my ($tok) = opaque();
    my $ua = LWP::UserAgent->new(timeout => 30);
    my $before = calls();
    is $ua->get($srv[0]->url('/i/backend/long'), Authorization => "Bearer $tok")->code, 200,
       'the server with 60 s: 200';
    is calls() - $before, 1, '  one introspection call';
    sleep 2.5;
    is $ua->get($short->url('/i/backend/short'), Authorization => "Bearer $tok")->code, 200,
       'the server with 1 s, 2.5 s later: 200';
    is calls() - $before, 2, '  asked the IdP again: the answer is older than its 1 s';
    $short->stop;
};

# Review 12: a pause (429/503 with Retry-After) stopped every request whose
# answer was not in its own process's L1, though the shared cache held it.
subtest 'a pause stops calls, not answers the shared cache holds' => sub {
    my ($tok) = opaque();
    my $ua = LWP::UserAgent->new(timeout => 30);
    expect_ok($ua->get($srv[0]->url('/i/backend/p1'), Authorization => "Bearer $tok"),
              'introspected by the first server');
    idp_set("introspect_fault\@$TENANT" => '503_retry_after', "retry_after\@$TENANT" => 6);
    my $r = $ua->get($srv[0]->url('/i/backend/p2'), Authorization => 'Bearer ' . (opaque())[0]);
    is $r->code, 503, 'another token: the IdP\'s 503 pauses the endpoint';
    my $before = calls();
    expect_ok($ua->get($srv[1]->url('/i/backend/p3'), Authorization => "Bearer $tok"),
              'the first token at the second server during the pause: 200 from the shared '
              . 'cache');
    $r = $ua->get($srv[1]->url('/i/backend/p4'), Authorization => 'Bearer ' . (opaque())[0]);
    is $r->code, 503, 'a new token there: 503 (paused)';
    is calls() - $before, 0, 'no call during the pause';
    idp_set("introspect_fault\@$TENANT" => '', "retry_after\@$TENANT" => '');
    sleep 6.5;
};

subtest 'an inactive token: a herd over two servers makes one call' => sub {
    my ($tok) = idp_opaque(active => JSON::PP::false, sub => fresh_user('iherd'));
    idp_set("introspect_fault\@$TENANT" => 'slow', "slow_seconds\@$TENANT" => 1);
    my $before = calls();
    my @res = herd($tok, 'inactive');
    idp_set("introspect_fault\@$TENANT" => '', "slow_seconds\@$TENANT" => '');
    is scalar(grep { $_->{code} == 401 } @res), $N, 'every request 401' or diag codes(\@res);
    is calls() - $before, 1, 'one introspection call (its note in the shared cache answered '
       . 'the others)';
};

subtest 'introspection calls per provider (the primary, whose discovery names the endpoint)' => sub {
    my $text = LWP::UserAgent->new(timeout => 30)
        ->get($srv[0]->url('/obo-status?format=prometheus'))->decoded_content // '';
    like $text, qr/^mod_auth_obo_provider_idp_requests_total\{provider="1",endpoint="introspection",outcome="ok"\} [1-9]/m,
         'provider="1", endpoint="introspection"';
};

$_->stop for @srv;
done_testing();
