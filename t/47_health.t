# SPDX-License-Identifier: Apache-2.0
# /obo-status?format=health (issue 19, part 2): 200 "OK" when this process
# can validate tokens now (keys loaded and fresh enough) and its token cache
# is attached, else 503 with a one-line reason; no token, claim or user in
# the answer; a poll also brings keys back once the IdP answers again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

need_feature('authn');
idp_reset();
my $ua = LWP::UserAgent->new(timeout => 30);
my $STATUS = "<Location /obo-status>\n    SetHandler obo-status\n</Location>\n";

sub health { my ($h) = @_; return $ua->get($h->url('/obo-status?format=health')) }

subtest 'a server with keys: 200 OK' => sub {
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'health_ok', extra => $STATUS);
    # the child loads its keys as it starts: 503 until they are in
    my ($r, $t0) = (undef, time);
    while (time - $t0 < 10) {
        $r = health($h);
        last if $r->code == 200;
        sleep 0.2;
    }
    is $r->code, 200, 'keys loaded: status 200';
    is $r->decoded_content, "OK\n", 'one line: OK';
    like $r->header('Content-Type') // '', qr{^text/plain}, 'text/plain';
    is $r->header('Cache-Control'), 'no-store', 'not cached';
    $h->stop;
};

subtest 'a cold server while the IdP is down: 503, then 200 once it answers' => sub {
    # a tenant no earlier test used: no saved state, nothing shared (shm)
    my $tenant = 'xhealth' . int(rand(1e6));
    idp_stop();
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'health_cold',
                                   tenant => $tenant, extra => $STATUS);
    my $r = health($h);
    is $r->code, 503, 'no keys: 503' or diag $r->decoded_content;
    like $r->decoded_content, qr/^UNAVAILABLE: identity provider 1: no key set loaded/,
         'one line saying why';
    idp_start();
    my ($code, $t0) = (0, time);
    while (time - $t0 < 20) {
        $code = health($h)->code;
        last if $code == 200;
        sleep 0.5;
    }
    is $code, 200, sprintf('the IdP is back: 200 after %.1f s of polls', time - $t0);
    my $tok = mint(tenant => $tenant);
    isnt $ua->get($h->url('/x/backend/h'), Authorization => "Bearer $tok")->code, 503,
         'and tokens validate (no 503)';
    $h->stop;
};

# Review 33A-F2: a poll while another thread of the process loads the keys
# (a new child's preload) answered 503 at once, though the load ended a
# moment later: at each graceful restart a balancer saw every server fail.
# The poll now waits up to 1 s for that load. The IdP's JWKS answers after
# 2 s; a poll 1.3 s into the load waits for it and gets 200.
subtest 'a poll during the first load waits for it' => sub {
    my $tenant = 'xhload' . int(rand(1e6));
    idp_set("jwks_fault\@$tenant" => 'slow', "slow_seconds\@$tenant" => 2);
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'none', name => 'health_load',
                                   tenant => $tenant, extra => $STATUS);
    # the child's preload fetched discovery and now waits on the JWKS
    my $t0 = time;
    sleep 0.05 until (idp_counters()->{"jwks\@$tenant"} // 0) >= 1 || time - $t0 > 15;
    ok +(idp_counters()->{"jwks\@$tenant"} // 0) >= 1, 'the preload asked for the JWKS';
    sleep 1.3;                    # the JWKS answers about 0.7 s from now
    my $t1 = time;
    my $r = health($h);
    is $r->code, 200, sprintf('polled during the load: 200 after %.1f s', time - $t1)
        or diag $r->decoded_content;
    idp_set("jwks_fault\@$tenant" => '');
    $h->stop;
};

# Review 30B: with several providers, one unreachable since the start took
# every server out of the balancer although the others' tokens validated.
subtest 'one of two providers without keys: 200, degraded' => sub {
    my $dead = OBOTest::Httpd2::free_port();
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'health_two',
        extra => "$STATUS\nOBOMetadataURL https://127.0.0.1:$dead/nobody/v2.0/.well-known/openid-configuration\n");
    my ($r, $t0) = (undef, time);
    while (time - $t0 < 10) {
        $r = health($h);
        last if $r->code == 200;
        sleep 0.2;
    }
    is $r->code, 200, 'the first provider has keys: 200' or diag $r->decoded_content;
    like $r->decoded_content, qr/^OK \(degraded: identity provider \d+: no key set loaded/,
         'degraded, naming the provider without keys';
    $h->stop;
};

# Review 34A-F4: a partner IdP that accepts and never answers held every
# poll spaced over the retry backoff for its whole timeout, though the
# answer was 200 (degraded) anyway: a poll does not load a provider's keys
# while another provider has some.
subtest 'a hanging partner IdP does not hold the polls' => sub {
    require IO::Socket::INET;
    my $hole = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16,
                                     ReuseAddr => 1) or die $!;
    my $hp = $hole->sockport;
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'health_hang',
        extra => "$STATUS\nOBOTimeout 2 6\n"
               . "OBOMetadataURL https://127.0.0.1:$hp/nobody/v2.0/.well-known/openid-configuration\n");
    my ($r, $t0) = (undef, time);
    while (time - $t0 < 20) {
        $r = health($h);
        last if $r->code == 200;
        sleep 0.2;
    }
    is $r->code, 200, 'the first provider has keys: 200' or diag $r->decoded_content;
    my $slowest = 0;
    for (1 .. 3) {
        sleep 5.5;    # past the 5 s retry backoff each time
        my $t1 = time;
        $r = health($h);
        my $took = time - $t1;
        $slowest = $took if $took > $slowest;
    }
    ok $slowest < 1, sprintf('polls past the backoff answer at once (slowest %.1f s)', $slowest);
    like $r->decoded_content, qr/^OK \(degraded: identity provider \d+/, 'still 200 degraded';
    $h->stop;
};

# A server that only validates has no token cache (and needs none): the
# health answer must not count it as missing (it said 503 on 7be2584).
subtest 'a validate-only virtual host: 200' => sub {
    my ($r, $t0) = (undef, time);
    while (time - $t0 < 10) {
        $r = obo_get('obo_disc', '/obo-status?format=health');
        last if $r->code == 200;
        sleep 0.2;
    }
    is $r->code, 200, 'obo_disc (validation only): 200' or diag $r->decoded_content;
    is $r->decoded_content, "OK\n", 'OK';
};

idp_reset();
done_testing();
