# SPDX-License-Identifier: Apache-2.0
# JWKS cache: fetched at first use, cached per process, refetched once for
# an unknown kid (throttled: at most once per 10 s per provider and process),
# periodic refresh (OBOJWKSRefreshInterval, min 60 s) that keeps the last
# good keys when the IdP fails. Counter bounds use max_procs() (1 with the
# threaded MPMs configured in extra.conf.in, up to 4 under prefork, where a
# request may reach a process that has not fetched the keys yet: that
# process's first fetch is one more, hence the $P - 1 and 2 * $P - 1 bounds;
# with one process they are the exact counts).
#
# Phase 1 runs immediately, then ONE wait of 62 s, then phase 2 checks what
# must happen once the 60 s windows have passed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Crypt::PRNG qw(random_string);
use Time::HiRes qw(sleep time);

need_feature('authn');
idp_reset();
my $P = max_procs();

sub c { my ($name) = @_; return idp_counter($name) }
sub within {
    my ($got, $lo, $hi, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok $got >= $lo && $got <= $hi, "$name (got $got, want $lo..$hi)";
}
sub wait_counter {    # a refresh may finish just after the response
    my ($name, $min, $secs) = @_;
    my $end = time + ($secs // 3);
    my $v;
    while (1) { $v = c($name); last if $v >= $min || time > $end; sleep 0.2 }
    return $v;
}
sub rot_token { my (%o) = @_; return mint(tenant => 'rot', %o) }
sub kid_token { my (%o) = @_; return mint(tenant => 'kid', %o) }
sub ref_token { my (%o) = @_; return mint(tenant => 'refresh', %o) }

# ---------------------------------------------------------------- phase 1
is c('jwks@rot'), 0, 'no JWKS fetched before the first request';
is c('discovery@rot'), 0, 'no discovery before the first request';
expect_ok(obo_get('obo_rot', '/api/env', token => rot_token()), 'first request: 200', user => 'user-sub-1');
within(c('jwks@rot'), 1, $P, 'JWKS fetched at first use');
within(c('discovery@rot'), 1, $P, 'discovery fetched at first use');
my $d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token()), "cached keys: request $_ is 200") for 1 .. 5;
}, 'jwks@rot', 'discovery@rot');
within($d->{'jwks@rot'}, 0, $P - 1, 'keys are cached: no JWKS fetch for 5 more requests');
within($d->{'discovery@rot'}, 0, $P - 1, 'discovery is cached too');

idp_set('rotate@rot' => 1);    # the IdP now publishes key B instead of key A
$d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token(kid => 'rsa-b')),
              'rotation: token signed with the new key B: 200', user => 'user-sub-1');
}, 'jwks@rot');
within($d->{'jwks@rot'}, 1, $P, 'rotation: the unknown kid triggered exactly one refetch (per process)');
$d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token(kid => 'rsa-b')), "key B again: 200") for 1 .. 3;
}, 'jwks@rot');
within($d->{'jwks@rot'}, 0, $P - 1, 'key B is now cached: no more fetches');
$d = counter_delta(sub {
    my $t = rot_token(kid => 'rsa-a');
    expect_invalid_token(obo_get('obo_rot', '/api/env', token => $t), 'retired key A: 401', token => $t,
                         realm => 'rot');
}, 'jwks@rot');
within($d->{'jwks@rot'}, 0, $P - 1, 'key A now unknown, but the refetch is throttled (< 10 s since the last)');

expect_ok(obo_get('obo_kid', '/api/env', token => kid_token()), 'obo_kid: first request 200');
$d = counter_delta(sub {
    for my $i (1 .. 20) {
        my $t = kid_token(kid => 'random-' . random_string(10), sign_key => 'foreign', alg => 'RS256');
        my $r = obo_get('obo_kid', '/api/env', token => $t);
        expect_invalid_token($r, "random kid $i: 401", token => $t, realm => 'kid');
    }
}, 'jwks@kid');
within($d->{'jwks@kid'}, 0, 2 * $P - 1, '20 random kids: at most one refetch per process (and first fetches)');
expect_ok(obo_get('obo_kid', '/api/env', token => kid_token()), 'obo_kid: known kid still 200');

my $t_refresh = time;
expect_ok(obo_get('obo_refresh', '/api/env', token => ref_token()), 'obo_refresh: first request 200');
within(c('jwks@refresh'), 1, $P, 'obo_refresh: JWKS fetched once');
idp_set('jwks_fault@refresh' => 500);

# ------------------------------------------------------------------ wait
my $wake = $t_refresh + 62;
diag sprintf 'waiting %.0f s for the 60 s refresh interval and throttle windows', $wake - time;
sleep($wake - time) if $wake > time;

# ---------------------------------------------------------------- phase 2
my $before = c('jwks@refresh');
expect_ok(obo_get('obo_refresh', '/api/env', token => ref_token()),
          'after the refresh interval, with the JWKS endpoint failing (500): still 200 (last good keys)',
          user => 'user-sub-1');
my $after = wait_counter('jwks@refresh', $before + 1);
ok $after > $before, "a refresh was attempted after OBOJWKSRefreshInterval ($before -> $after)";
idp_set('jwks_fault@refresh' => 'down');
expect_ok(obo_get('obo_refresh', '/api/env', token => ref_token()),
          'JWKS endpoint not answering at all: still 200', user => 'user-sub-1');
idp_set('jwks_fault@refresh' => '');

$d = counter_delta(sub {
    my $t = kid_token(kid => 'random-' . random_string(10), sign_key => 'foreign', alg => 'RS256');
    expect_invalid_token(obo_get('obo_kid', '/api/env', token => $t), 'another random kid after 60 s: 401',
                         token => $t, realm => 'kid');
}, 'jwks@kid');
within($d->{'jwks@kid'}, 1, 1, 'the throttle window has passed: one refetch again');

idp_set('rotate@rot' => 'both');
$d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token(kid => 'rsa-a')),
              'key A republished, throttle window passed: 200 after one refetch', user => 'user-sub-1');
}, 'jwks@rot');
within($d->{'jwks@rot'}, 1, 1, 'exactly one refetch for it');

idp_reset();
done_testing();
