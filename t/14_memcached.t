# SPDX-License-Identifier: Apache-2.0
# The memcached token cache (vhost obo_x_mc + a second httpd with the same
# settings): entries are sealed (no readable token in memcached), shared by
# two servers (one IdP call between them), single flight for a burst of 100
# concurrent first requests across processes and servers, and a memcached
# outage never fails a request.
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
my $V = 'obo_x_mc';

sub ut { my ($sub) = @_; return mint(tenant => 'xmc', claims => { sub => $sub }) }
sub downstream_of {    # the Authorization the echo backend received
    my ($r) = @_;
    my ($a) = ref $r eq 'HASH'
        ? map { $_->[1] } grep { lc $_->[0] eq 'authorization' } @{ $r->{json}{headers} || [] }
        : backend_header($r, 'Authorization');
    return (split ' ', $a // '', 2)[1];
}

memcached_cmd('flush_all');

subtest 'cache hit through memcached; nothing readable in memcached' => sub {
    my $sub = fresh_user('mc');
    my $t = ut($sub);
    my $r = obo_get($V, '/x/env', token => $t);
    expect_ok($r, 'first: 200', user => $sub);
    my $at = cgi_env($r)->{OBO_ACCESS_TOKEN} // '';
    ok decode_idp_token($at), 'OBO_ACCESS_TOKEN is a downstream token';
    is token_calls($sub), 1, 'one IdP call';
    $r = obo_get($V, '/x/backend/y', token => $t);
    is downstream_of($r), $at, 'backend (Authorization): the same token, from the cache';
    is token_calls($sub), 1, 'cache hit';

    my @keys = memcached_keys();
    ok scalar(@keys) >= 1, scalar(@keys) . ' key(s) in memcached';
    my ($h, $p, $s) = split /\./, $at;
    my ($uh, $up, $us) = split /\./, $t;
    my $leak = 0;
    for my $k (@keys) {
        $leak++ if index($k, $sub) >= 0 || index($k, $us) >= 0 || index($k, substr($us, 0, 16)) >= 0;
        my $v = memcached_get($k) // '';
        for my $needle ($at, $p, $s, substr($s, 0, 16), $us, substr($up, 0, 24), $sub, 'eyJ') {
            $leak++, diag("memcached key $k holds a recognisable piece ($needle)") if index($v, $needle) >= 0;
        }
    }
    is $leak, 0, 'no key or value contains the tokens, the user or any JWT (eyJ...)';
};

my $h2 = eval { OBOTest::Httpd2->start(procs => 4) };
ok $h2, 'second httpd started' or diag $@;

SKIP: {
    skip 'no second httpd', 2 unless $h2;
    subtest 'two httpd instances share one memcached' => sub {
        my $sub = fresh_user('two');
        my $t = ut($sub);
        my $r1 = obo_get($V, '/x/backend/y', token => $t);
        expect_status($r1, 200, 'server 1: 200');
        my $r2 = LWP::UserAgent->new(timeout => 30)->get($h2->url('/x/backend/y'), Authorization => "Bearer $t");
        expect_status($r2, 200, 'server 2: 200');
        is downstream_of($r2), downstream_of($r1), 'server 2 got the token server 1 acquired';
        is token_calls($sub), 1, 'one IdP call between the two servers';
    };

    subtest 'burst: 100 concurrent first requests, 2 servers, several processes' => sub {
        my @kids = $h2->children;
        ok @kids >= 2, scalar(@kids) . ' child processes in server 2';
        my $sub = fresh_user('burst');
        my $t = ut($sub);
        my $u1 = vhost_url($V, '/x/backend/b');
        my @reqs = map { [ ($_ % 2 ? $h2->url('/x/backend/b') : $u1), Authorization => "Bearer $t" ] } 1 .. 100;
        my $t0 = time;
        my @res = burst(@reqs);
        my @ok = grep { $_->{code} == 200 } @res;
        is scalar(@ok), 100, sprintf('all 100 answered 200 (%.1f s)', time - $t0)
            or diag join ' ', map { $_->{code} } @res;
        my %tok = map { (downstream_of($_) // 'none') => 1 } @ok;
        is scalar(keys %tok), 1, 'all got the same downstream token';
        is token_calls($sub), 1, 'exactly one IdP call';
    };
}

subtest 'memcached down: requests still succeed, and the cache recovers' => sub {
    memcached_stop();
    ok !OBOTest::Services::port_open(memcached_port()), 'memcached stopped';
    my $sub = fresh_user('mcdown');
    my $t = ut($sub);
    my $t0 = time;
    expect_ok(obo_get($V, '/x/env', token => $t), 'memcached down: 200', user => $sub);
    expect_ok(obo_get($V, '/x/env', token => $t), 'again: 200', user => $sub);
    ok time - $t0 < 10, sprintf('no long stalls (%.1f s for two requests)', time - $t0);
    ok token_calls($sub) >= 1, 'exchanged directly with the IdP';
    if ($h2) {
        my $r = LWP::UserAgent->new(timeout => 30)->get($h2->url('/x/backend/y'), Authorization => "Bearer $t");
        expect_status($r, 200, 'server 2, memcached down: 200');
    }
    memcached_start();
    ok OBOTest::Services::port_open(memcached_port()), 'memcached restarted';
    my $recovered = 0;
    my $end = time + 40;
    while (time < $end) {
        my $s2 = fresh_user('mcback');
        my $t2 = ut($s2);
        my $a = obo_get($V, '/x/env', token => $t2);
        my $b = obo_get($V, '/x/env', token => $t2);
        if ($a->code == 200 && $b->code == 200 && token_calls($s2) == 1
            && scalar(memcached_keys()) > 0) {
            $recovered = 1;
            last;
        }
        sleep 1;
    }
    ok $recovered, 'the cache is used again after memcached comes back (within 40 s)';
};

$h2->stop if $h2;
idp_reset();
done_testing();
