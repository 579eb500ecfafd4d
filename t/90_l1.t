# SPDX-License-Identifier: Apache-2.0
# The L1 of validated tokens (issue 9), vhost obo_l1 (tenant l1): its own
# L1 of 8 slots, LogLevel auth_obo:debug in its own ErrorLog, where a hit
# is logged as OBO350 with the token's fingerprint (never the token).
#   - a repeated token is a hit (no decoding, parsing or verify again);
#   - a hit still applies the Location's rules: the same token is refused
#     at a Location with another audience (401), another Require obo-scope
#     (403) or another OBOTokenType (401), and still accepted at its own;
#   - a token whose exp passes while it is in the L1 is refused;
#   - more distinct tokens (80) than slots (8) all validate; one-shot tokens do
#     not evict a token in use (a slot is replaced only on a token's second
#     request), a token seen twice gets in;
#   - a JWKS change (key A removed) forgets the L1: A's token is refused;
#   - concurrent requests (worker/event threads) with a mix of tokens.
# Hits are per process: under prefork (max_procs > 1) a request may reach
# another process, so hits are looked for over a few requests and the
# assertions that need one process are skipped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);

need_feature('authn');
idp_reset();
my $V = 'obo_l1';
my $P = max_procs();
my $LOG = Apache::Test::vars('t_logs') . '/l1_error_log';

sub log_mark { return -s $LOG || 0 }
sub log_since {
    my ($mark) = @_;
    sleep 0.2;   # the child may write its line after the response
    open my $fh, '<', $LOG or return '';
    seek $fh, $mark, 0;
    local $/;
    return scalar(<$fh>) // '';
}
sub fp { return 'sha256:' . substr(sha256_hex($_[0]), 0, 12) }
sub hits { my ($text, $tok) = @_; my $f = fp($tok); return scalar(() = $text =~ /OBO350: token \Q$f\E/g) }
sub tok { my (%o) = @_; return mint(tenant => 'l1', %o) }

# Requests $tok at $path until one is an L1 hit (at most $n); returns
# (hit seen, last response).
sub until_hit {
    my ($path, $tok, $n) = @_;
    my ($hit, $r) = (0, undef);
    for (1 .. $n) {
        my $m = log_mark();
        $r = obo_get($V, $path, token => $tok);
        $hit = hits(log_since($m), $tok);
        last if $hit;
    }
    return ($hit, $r);
}

# ------------------------------------------------------------ hit path
my $a = tok();
my $m = log_mark();
expect_ok(obo_get($V, '/api/env', token => $a), 'first request: 200', user => 'user-sub-1');
is hits(log_since($m), $a), 0, 'first request: validated in full (no L1 hit)';
my ($hit, $r) = until_hit('/api/env', $a, 4 * $P);
ok $hit, 'the same token again: served from the L1 (OBO350)';
expect_ok($r, 'and accepted', user => 'user-sub-1');
unlike log_since(0), qr/\Q$a\E/, 'the token itself is never logged';

# ------------------------------------------- the Location's rules on a hit
$m = log_mark();
my $r2 = obo_get($V, '/other/env', token => $a);
expect_invalid_token($r2, 'another Location, another audience: 401 although in the L1',
                     token => $a, realm => 'l1');
SKIP: {
    skip 'one process needed to know the L1 was hit', 1 if $P > 1;
    ok hits(log_since($m), $a), 'and that refusal was an L1 hit (audience re-checked)';
}
expect_insufficient_scope(obo_get($V, '/admin/env', token => $a),
                          'another Require obo-scope: 403 insufficient_scope', realm => 'l1',
                          scope => 'admin.all');
expect_invalid_token(obo_get($V, '/at/env', token => $a),
                     'another OBOTokenType (at+jwt only): 401', token => $a, realm => 'l1');
expect_ok(obo_get($V, '/api/env', token => $a), 'back at its own Location: 200',
          user => 'user-sub-1');

# ---------------------------------------------------------------- expiry
my $short = tok(claims => { exp => int(time()) + 3, sub => 'short-lived' });
expect_ok(obo_get($V, '/api/env', token => $short), 'short-lived token: 200',
          user => 'short-lived');
($hit) = until_hit('/api/env', $short, 4 * $P);
ok $hit, 'short-lived token in the L1';
sleep 4.2;
$m = log_mark();
expect_invalid_token(obo_get($V, '/api/env', token => $short),
                     'its exp passed while in the L1: 401 (OBOClockSkew 0)', token => $short,
                     realm => 'l1');

# ------------------------------------------------- eviction and admission
# A token takes a free slot at once but replaces another entry only on its
# second request: one-shot tokens never push out a token in use.
my ($a_in) = until_hit('/api/env', $a, 4 * $P);
ok $a_in, 'a token in use is in the L1 before the flood';
my @many = map { tok(claims => { sub => "many-$_" }) } 1 .. 80;
my $all = 1;
for my $i (0 .. $#many) {
    my $x = obo_get($V, '/api/env', token => $many[$i]);
    $all &&= $x->code == 200 && (cgi_env($x)->{REMOTE_USER} // '') eq 'many-' . ($i + 1);
}
ok $all, '80 distinct tokens through an L1 of 8 slots: all 200 with their own user';
SKIP: {
    skip 'one process needed to know which entries it holds', 2 if $P > 1;
    $m = log_mark();
    expect_ok(obo_get($V, '/api/env', token => $a), 'the token in use again: 200',
              user => 'user-sub-1');
    is hits(log_since($m), $a), 1, '80 one-shot tokens did not evict it: an L1 hit';
}
expect_ok(obo_get($V, '/api/env', token => $many[0]), 'the first of them again: 200',
          user => 'many-1');
# its second request stored it (replacing another entry); the third is a hit
($hit) = until_hit('/api/env', $many[-1], 4 * $P);
ok $hit, 'a token seen a second time is admitted: then a hit';

# --------------------------------------------------------- threads at once
SKIP: {
    skip 'needs a threaded MPM', 1 if $P > 1;
    my @toks = (@many[-4 .. -1], $a);
    my @subs = ((map { "many-$_" } 77 .. 80), 'user-sub-1');
    my $url = vhost_url($V, '/api/env');
    my @results = burst(map { [$url, Authorization => "Bearer $toks[$_ % @toks]"] } 0 .. 39);
    for my $i (0 .. $#results) {
        my $env = ref $results[$i]{json} eq 'HASH' ? $results[$i]{json}{env} || {} : {};
        $results[$i] = $results[$i]{code} == 200
            && ($env->{REMOTE_USER} // '') eq $subs[$i % @toks] ? 1 : 0;
    }
    is scalar(grep { $_ } @results), 40, '40 concurrent requests, 5 tokens: each got its own user';
}

# ------------------------------------------------------------ JWKS change
SKIP: {
    skip 'one process needed: the unknown-kid refetch happens in one process', 3 if $P > 1;
    ($hit) = until_hit('/api/env', $a, 2);
    ok $hit, 'token of key A in the L1';
    idp_set('rotate@l1' => 1);    # the IdP now publishes key B only
    expect_ok(obo_get($V, '/api/env', token => tok(kid => 'rsa-b')),
              'a token of key B: unknown kid, the JWKS is fetched again: 200');
    $m = log_mark();
    expect_invalid_token(obo_get($V, '/api/env', token => $a),
                         'key A left the JWKS: its token, in the L1 before, is refused',
                         token => $a, realm => 'l1');
}
idp_set('rotate@l1' => 0);

done_testing();
