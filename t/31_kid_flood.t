# SPDX-License-Identifier: Apache-2.0
# A flood of tokens with random unknown kids cannot hold back a real key
# rotation (issue 6, defect 9): while such a flood runs, a key the IdP has
# just published is accepted within 15 s, and the JWKS fetches stay bounded
# (an unknown kid refetches at most once per 10 s per process, README).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Crypt::PRNG qw(random_string);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);

need_feature('authn');
idp_reset();
my $P = max_procs();
my $FLOOD_SECS = 24;       # the flood's length (bounded)
my $FLOOD_MAX = 4000;      # and its number of requests

sub flood_token {
    return mint(tenant => 'flood', kid => 'random-' . random_string(12), sign_key => 'foreign',
                alg => 'RS256');
}

expect_ok(obo_get('obo_flood', '/api/env', token => mint(tenant => 'flood')),
          'key A before the rotation: 200', user => 'user-sub-1');
my $jwks0 = idp_counter('jwks@flood');

# ---- the flood: one process sending random-kid tokens back to back
my $dir = tempdir(CLEANUP => 1);
my $t_flood = time;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my ($n, %codes) = (0);
    my $end = time + $FLOOD_SECS;
    while (time < $end && $n < $FLOOD_MAX && !-e "$dir/stop") {
        my $r = obo_get('obo_flood', '/api/env', token => flood_token());
        $codes{ $r->code }++;
        $n++;
    }
    open my $fh, '>', "$dir/result" or POSIX::_exit(1);
    print $fh join(' ', map { "$_=$codes{$_}" } sort keys %codes), "\n";
    close $fh;
    POSIX::_exit(0);
}

# the flood's first unknown kid makes the module refetch: the throttle window
# is now running when the IdP rotates its keys
my $end = time + 10;
sleep 0.1 while idp_counter('jwks@flood') == $jwks0 && time < $end;
ok idp_counter('jwks@flood') > $jwks0, 'the flood triggered an unknown-kid refetch';
sleep 1;

idp_set('rotate@flood' => 1);     # the IdP now publishes key B instead of key A
my $t0 = time;
my ($accepted, $tries) = (0, 0);
while (time - $t0 < 25) {
    $tries++;
    my $r = obo_get('obo_flood', '/api/env', token => mint(tenant => 'flood', kid => 'rsa-b'));
    if ($r->code == 200) { $accepted = time - $t0; last }
    sleep 0.5;
}
ok $accepted > 0 && $accepted <= 15,
    $accepted ? sprintf('the new key B is accepted %.1f s after the IdP published it (<= 15 s, '
                        . '%d tries)', $accepted, $tries)
              : sprintf('the new key B is accepted within 15 s (still refused after %.0f s)',
                        time - $t0);

# ---- end of the flood; what it cost the IdP
waitpid($pid, 0);
my $flood_secs = time - $t_flood;
open my $fh, '<', "$dir/result" or die "flood result: $!";
my $res = <$fh> // '';
chomp $res;
my %codes = map { split /=/ } split ' ', $res;
my $n = 0;
$n += $_ for values %codes;
diag "flood: $n requests in ${\ sprintf('%.0f', $flood_secs)} s ($res)";
ok $n >= 100, "the flood sent $n requests";
is $codes{401} // 0, $n, 'every random-kid token: 401';
my $fetches = idp_counter('jwks@flood') - $jwks0;
my $bound = $P * (int($flood_secs / 10) + 2);
ok $fetches <= $bound,
    "JWKS fetches during the flood: $fetches (bound: one per 10 s per process, $bound)";
diag "JWKS fetches during the flood: $fetches for $n random kids";

expect_ok(obo_get('obo_flood', '/api/env', token => mint(tenant => 'flood', kid => 'rsa-b')),
          'key B after the flood: 200', user => 'user-sub-1');

idp_reset();
done_testing();
