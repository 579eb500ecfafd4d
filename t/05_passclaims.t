# SPDX-License-Identifier: Apache-2.0
# OBOPassClaims none|env|headers|both: claims as OBO_CLAIM_<name> variables
# (CGI) and OBO-Claim-<name> request headers (CGI and mod_proxy backend);
# client-sent look-alike headers (any case, '-' or '_') never reach either.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn');
idp_reset();
my $V = 'obo_disc';

my @SPOOF = (
    'OBO-Claim-sub'      => 'attacker-1',
    'obo-claim-sub'      => 'attacker-2',
    'OBO_Claim_sub'      => 'attacker-3',
    'OBO-CLAIM-ROLES'    => 'Admin',
    'Obo-Claim-Injected' => 'attacker-4',
    'OBO_CLAIM_TID'      => 'attacker-5',
    'obo-claim_scp'      => 'attacker-6',
);
my $EVIL = qr/attacker|^Admin$/;

sub norm { my ($n) = @_; $n = lc $n; $n =~ tr/_/-/; return $n }

# backend headers named like OBO-Claim-*, normalised name => [values]
sub backend_claim_headers {
    my ($r) = @_;
    my $d = json_body($r) || {};
    my %h;
    for my $p (@{ $d->{headers} || [] }) {
        push @{ $h{ norm($p->[0]) } }, $p->[1] if norm($p->[0]) =~ /^obo-claim-/;
    }
    return \%h;
}

my $t = mint(claims => { roles => ['Reader'] });
my %want = (sub => 'user-sub-1', tid => 'tenant1', scp => 'access_as_user',
            oid => '00000000-0000-4000-8000-0000000000a1');

for my $mode (qw(none env headers both api)) {
    my $loc = $mode eq 'api' ? '/api' : "/pass-$mode";
    my $eff = $mode eq 'api' ? 'none' : $mode;    # README: default none
    subtest "OBOPassClaims $mode ($loc)" => sub {
        my $r = obo_get($V, "$loc/env", token => $t, headers => [@SPOOF]);
        expect_ok($r, 'CGI: 200', user => 'user-sub-1');
        my $env = cgi_env($r);
        is $env->{AUTH_TYPE}, 'obo', 'AUTH_TYPE=obo';
        my @spoofed = grep { /^HTTP_OBO/i && ($env->{$_} // '') =~ $EVIL } sort keys %$env;
        is_deeply \@spoofed, [], 'CGI: no spoofed OBO-Claim header arrived';
        my @bad = grep { /^OBO_CLAIM_/i && ($env->{$_} // '') =~ $EVIL } sort keys %$env;
        is_deeply \@bad, [], 'CGI: no claim variable carries a spoofed value';
        if ($eff eq 'env' || $eff eq 'both') {
            is $env->{"OBO_CLAIM_$_"}, $want{$_}, "CGI: OBO_CLAIM_$_" for sort keys %want;
        }
        else {
            is_deeply [ grep { /^OBO_CLAIM_/ } sort keys %$env ], [], 'CGI: no OBO_CLAIM_* variables';
        }
        if ($eff eq 'headers' || $eff eq 'both') {
            is $env->{HTTP_OBO_CLAIM_SUB}, 'user-sub-1', 'CGI: OBO-Claim-sub header (HTTP_OBO_CLAIM_SUB)';
            is $env->{HTTP_OBO_CLAIM_TID}, 'tenant1', 'CGI: OBO-Claim-tid header';
        }
        else {
            is_deeply [ grep { /^HTTP_OBO_CLAIM/i } sort keys %$env ], [], 'CGI: no OBO-Claim-* headers';
        }

        $r = obo_get($V, "$loc/backend/x", token => $t, headers => [@SPOOF]);
        expect_status($r, 200, 'proxied backend: 200');
        my $h = backend_claim_headers($r);
        my @evil = grep { grep { $_ =~ $EVIL } @{ $h->{$_} } } sort keys %$h;
        is_deeply \@evil, [], 'backend: no spoofed OBO-Claim header (any case, - or _) arrived';
        if ($eff eq 'headers' || $eff eq 'both') {
            is_deeply $h->{'obo-claim-sub'}, ['user-sub-1'], 'backend: exactly one OBO-Claim-sub, the real one';
            is_deeply $h->{'obo-claim-tid'}, ['tenant1'], 'backend: OBO-Claim-tid';
            is_deeply $h->{'obo-claim-scp'}, ['access_as_user'], 'backend: OBO-Claim-scp';
            ok !exists $h->{'obo-claim-injected'}, 'backend: a claim the token lacks is absent';
        }
        else {
            is_deeply [ sort keys %$h ], [], 'backend: no OBO-Claim-* headers at all';
        }
    };
}

subtest 'claim values cannot inject headers' => sub {
    my $evil = mint(claims => { name => "Evil\r\nX-Injected: yes", preferred_username => "a\nX-Injected2: yes" });
    my $r = obo_get($V, '/pass-headers/backend/x', token => $evil);
    my $d = json_body($r) || {};
    my @inj = grep { $_->[0] =~ /^x-injected/i } @{ $d->{headers} || [] };
    is_deeply \@inj, [], 'no X-Injected header reached the backend' or diag describe($r);
    ok $r->code == 200 || $r->code == 401, 'answered 200 or 401' or diag describe($r);
};

subtest 'unauthenticated requests do not reach the backend' => sub {
    my $r = obo_get($V, '/pass-both/backend/x', headers => [@SPOOF]);
    expect_no_token($r, 'no token: 401');
    ok !defined json_body($r) || !exists((json_body($r) || {})->{headers}), 'the backend did not answer';
};

done_testing();
