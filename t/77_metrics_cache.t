# SPDX-License-Identifier: Apache-2.0
# Metrics of the shared cache path (SetHandler obo-status on a second httpd
# with 2 processes and memcached): a burst of concurrent first requests of
# one user against a slow token endpoint makes one IdP call, and the others
# are counted as single-flight waits; the slow call lands in the right
# histogram bucket; with memcached down, requests still succeed and the
# backend errors are counted for "memcached".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Mint qw(mint);
use OBOTest::Services ();
use File::Path qw(remove_tree);
use JSON::PP ();
use LWP::UserAgent;
use POSIX ();

need_feature('authn', 'exchange');

my $T = 'm77';
my $BURST = 10;
remove_tree(OBOTest::Services::run_dir() . "/$T/mod_auth_obo");
my $h = OBOTest::Httpd2->start(procs => 2, tenant => $T, name => $T, extra => <<'EOF');
<Location /obo-status>
    SetHandler obo-status
</Location>
EOF

my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
sub get {
    my ($path, $token) = @_;
    return $ua->get($h->url($path), $token ? (Authorization => "Bearer $token") : ());
}
sub figures { return JSON::PP::decode_json(get('/obo-status?format=json')->decoded_content) }
sub idp_tokens { return idp_counter("token\@$T") }

# $n concurrent requests (one process each); their status codes
sub burst {
    my ($n, $path, $token) = @_;
    my @kids;
    for my $i (1 .. $n) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            my $c = LWP::UserAgent->new(timeout => 30, keep_alive => 0)
                ->get($h->url("$path$i"), Authorization => "Bearer $token")->code;
            print $wr "$c\n";
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [ $pid, $rd ];
    }
    my @codes;
    for my $k (@kids) {
        my $fh = $k->[1];
        my $c = <$fh> // "0\n";
        chomp $c;
        push @codes, $c;
        waitpid $k->[0], 0;
    }
    return @codes;
}

# both processes load keys first, so that the burst is about the token
get("/x/backend/warm$_", mint(tenant => $T, claims => { sub => "m77-warm$_" })) for 1 .. 4;
my $m0 = figures();
my $i0 = idp_tokens();

idp_set("token_fault\@$T" => 'slow', "slow_seconds\@$T" => 1);
my @codes = burst($BURST, '/x/backend/burst', mint(tenant => $T, claims => { sub => 'm77-burst' }));
idp_set("token_fault\@$T" => '', "slow_seconds\@$T" => '');
is(scalar(grep { $_ == 200 } @codes), $BURST, "$BURST concurrent requests: 200") or diag "@codes";
is(idp_tokens() - $i0, 1, 'one token request at the IdP');
my $m1 = figures();
my %d = (
    ok     => $m1->{idp_requests}{token}{ok} - $m0->{idp_requests}{token}{ok},
    waits  => $m1->{single_flight_waits} - $m0->{single_flight_waits},
    smiss  => $m1->{token_cache}{shared}{miss} - $m0->{token_cache}{shared}{miss},
    shit   => $m1->{token_cache}{shared}{hit} - $m0->{token_cache}{shared}{hit},
    l1miss => $m1->{token_cache}{l1}{miss} - $m0->{token_cache}{l1}{miss},
    l1hit  => $m1->{token_cache}{l1}{hit} - $m0->{token_cache}{l1}{hit},
    acc    => $m1->{requests}{accepted} - $m0->{requests}{accepted},
);
diag explain \%d;
is($d{ok}, 1, 'one token request counted');
is($d{acc}, $BURST, "$BURST accepted");
is($d{l1miss} + $d{l1hit}, $BURST, 'one L1 lookup per request');
is($d{smiss} + $d{shit}, $d{l1miss}, 'a shared lookup per L1 miss');
cmp_ok($d{waits}, '>=', 1, 'concurrent misses waited for the one call');
cmp_ok($d{waits}, '<=', $d{smiss} - 1, 'only misses wait, and not the one that called');
my $b = $m1->{idp_request_duration_seconds}{buckets};
my $b0 = $m0->{idp_request_duration_seconds}{buckets};
is($b->{1} - $b0->{1}, 0, 'the 1 s call is not in le=1');
is($b->{'2.5'} - $b0->{'2.5'}, 1, 'it is in le=2.5');
cmp_ok($m1->{idp_request_duration_seconds}{sum} - $m0->{idp_request_duration_seconds}{sum},
       '>=', 1, 'the sum grew by its duration');

# memcached down: the request still works, the backend errors are counted
memcached_stop();
my $code = get('/x/backend/nomc', mint(tenant => $T, claims => { sub => 'm77-nomc' }))->code;
memcached_start();
is($code, 200, 'memcached down: 200 (straight to the IdP)');
my $m2 = figures();
cmp_ok($m2->{cache_backend_errors}{memcached} - $m1->{cache_backend_errors}{memcached}, '>=', 1,
       'memcached errors counted');
is($m2->{cache_backend_errors}{shm}, 0, 'none for shm');
is($m2->{idp_requests}{token}{ok} - $m1->{idp_requests}{token}{ok}, 1, 'one more token request');

$h->stop;
done_testing();
