# SPDX-License-Identifier: Apache-2.0
# A failing exchange writes nothing among the entries of OBOCache shm, also
# when requests of other processes wait for the failing call (review 16A).
# Before, each failed call that had a waiter in another process wrote a
# sealed failure entry under one key: one caller resending a token whose
# exchange kept failing turned that key's shmcb ring over other users'
# idle sessions. A second httpd (2 processes, shm) takes bursts of 8
# concurrent requests with one token while the IdP answers 500, then 429,
# then a user who needs consent sends fresh tokens.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use LWP::UserAgent;
use OBOTest;
use OBOTest::Httpd2;

need_feature('authn', 'exchange');
idp_reset();

my $T = 'failw';
my $h = eval { OBOTest::Httpd2->start(procs => 2, tenant => $T, cache => 'shm',
                                      name => 'httpd2failw',
                                      extra => "<Location /obo-status>\n    SetHandler "
                                               . "obo-status\n</Location>") };
ok $h, 'a second httpd: 2 processes, OBOCache shm' or do { diag $@; done_testing(); exit 0 };

my $ua = LWP::UserAgent->new(timeout => 30);
sub writes {
    my $text = $ua->get($h->url('/obo-status?format=prometheus'))->decoded_content // '';
    my ($n) = $text =~ /^mod_auth_obo_shm_cache_writes_total (\d+)$/m;
    return $n // -1;
}

my $tok = mint(tenant => $T, claims => { sub => fresh_user('failw') });
# both processes load the keys before the fault (each its own first request)
burst(map { [ $h->url('/x/backend/warm'), Authorization => 'Bearer '
              . mint(tenant => $T, claims => { sub => fresh_user('warm') }) ] } 1 .. 8);
my $before = writes();
ok $before >= 0, "the shm write count is shown ($before)";
idp_set("token_fault\@$T" => '500');
my %codes;
for (1 .. 10) {
    $codes{ $_->{code} }++
        for burst(map { [ $h->url('/x/backend/f'), Authorization => "Bearer $tok" ] } 1 .. 8);
}
idp_set("token_fault\@$T" => '');
is $codes{502} // 0, 80, '80 requests in bursts of 8, the exchange fails: 502 each'
    or diag explain \%codes;
my $delta = writes() - $before;
cmp_ok $delta, '<=', 2, "shm cache entries written: $delta (the failure is shared beside the "
       . 'locks, never among the entries)';
# Review 17A: a 429 with Retry-After rewrote the pause entry among the
# entries at each expiry (one key, one ring): 44 writes in 90 s, and
# other users' idle sessions lost.
idp_set("token_fault\@$T" => '429', "retry_after\@$T" => 1);
$before = writes();
my %c2;
for (1 .. 12) {
    $c2{ $_->{code} }++
        for burst(map { [ $h->url('/x/backend/p'), Authorization => "Bearer $tok" ] } 1 .. 4);
    sleep 0.5;
}
idp_set("token_fault\@$T" => '', "retry_after\@$T" => '');
ok(($c2{503} // 0) >= 40 && ($c2{503} // 0) + ($c2{502} // 0) == 48,
   '48 requests over 6 s while the IdP answers 429 Retry-After 1: 503 (502 for the calls that '
   . 'met the 429)') or diag explain \%c2;
$delta = writes() - $before;
cmp_ok $delta, '<=', 2, "shm cache entries written: $delta (the pause lives beside the locks; "
       . 'was one per pause)';
# Review 19: a refused user's answer is remembered per token (a fresh
# token after MFA must reach the IdP at once), so each fresh token of a
# user who needs consent wrote one negative entry among the entries: 80
# writes for 80 tokens. Now it lives beside the locks, and is still
# shared: the same tokens again make no IdP call in either process.
sleep 2;    # the last pause (Retry-After 1) ends
idp_set("token_fault\@$T" => 'consent_required');
my $sub = fresh_user('failw-neg');
my @toks = map { mint(tenant => $T, claims => { sub => $sub, jti => "neg-$_" }) } 1 .. 40;
$before = writes();
my (%c3, %c4);
for my $round (\%c3, \%c4) {
    for my $i (0 .. 4) {
        $round->{ $_->{code} . ':' . ($_->{json} ? $_->{json}{error} // '' : '') }++
            for burst(map { [ $h->url('/x/backend/n'), Authorization => "Bearer $_" ] }
                      @toks[$i * 8 .. $i * 8 + 7]);
    }
}
idp_set("token_fault\@$T" => '');
is $c3{'401:consent_required'} // 0, 40, '40 fresh tokens of a user who needs consent: 401 '
   . 'consent_required each' or diag explain \%c3;
is $c4{'401:consent_required'} // 0, 40, 'the same 40 again: answered from memory, same error'
    or diag explain \%c4;
is token_calls($sub), 40, 'one IdP call per token, in either process';
$delta = writes() - $before;
cmp_ok $delta, '<=', 2, "shm cache entries written: $delta (was one per token)";
$h->stop;
done_testing();
