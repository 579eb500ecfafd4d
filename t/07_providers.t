# SPDX-License-Identifier: Apache-2.0
# Provider setups other than plain discovery: static issuers + JWKS file,
# JWKS URL without discovery, the multi-tenant "common" authority with a
# {tenantid} issuer, and identity providers that cannot be reached or
# trusted (503, never 401, for a valid token).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn');
idp_reset();
my $P = max_procs();
my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;

sub idp_traffic {
    my $c = idp_counters();
    my $n = 0;
    $n += $c->{$_} // 0 for qw(discovery jwks token);
    return $n;
}

subtest 'OBOIssuer + OBOJWKSFile (no IdP traffic at all)' => sub {
    my $before = idp_traffic();
    expect_ok(obo_get('obo_nodisc', '/api/env', token => mint()), 'RS256 (key A from the file): 200', user => 'user-sub-1');
    expect_ok(obo_get('obo_nodisc', '/api/env', token => mint(kid => 'ec-p256')), 'ES256: 200', user => 'user-sub-1');
    expect_ok(obo_get('obo_nodisc', '/api/env', token => mint(kid => 'ed25519')), 'EdDSA: 200', user => 'user-sub-1');
    my $t = mint(kid => 'rsa-b');
    expect_invalid_token(obo_get('obo_nodisc', '/api/env', token => $t), 'key B (not in the file): 401',
                         token => $t, realm => 'nodisc');
    my $tid = '3c5e2f0a-1111-4222-8333-444455556666';
    expect_ok(obo_get('obo_nodisc', '/api/env',
                      token => mint(claims => { iss => "https://sts.example.test/$tid/", tid => $tid })),
              '{tenantid} issuer template with the matching tid: 200');
    $t = mint(claims => { iss => "https://sts.example.test/$tid/", tid => 'ffffffff-1111-4222-8333-444455556666' });
    expect_invalid_token(obo_get('obo_nodisc', '/api/env', token => $t), 'template issuer, other tid: 401',
                         token => $t, realm => 'nodisc');
    $t = mint(claims => { iss => "https://sts.example.test/$tid/" }, drop => ['tid']);
    expect_invalid_token(obo_get('obo_nodisc', '/api/env', token => $t), 'template issuer, no tid: 401',
                         token => $t, realm => 'nodisc');
    $t = mint(claims => { iss => 'https://sts.example.test/{tenantid}/', tid => '{tenantid}' });
    expect_invalid_token(obo_get('obo_nodisc', '/api/env', token => $t), 'literal {tenantid}: 401',
                         token => $t, realm => 'nodisc');
    $t = mint(tenant => 'tenant2');
    expect_invalid_token(obo_get('obo_nodisc', '/api/env', token => $t), 'unlisted issuer: 401',
                         token => $t, realm => 'nodisc');
    is idp_traffic() - $before, 0, 'the IdP was never contacted';
};

subtest 'OBOIssuer + OBOJWKSURL (no discovery)' => sub {
    expect_ok(obo_get('obo_jwksurl', '/api/env', token => mint(tenant => 'jwksurl')), 'valid token: 200',
              user => 'user-sub-1');
    is idp_counter('discovery@jwksurl'), 0, 'no discovery request';
    my $j = idp_counter('jwks@jwksurl');
    ok $j >= 1 && $j <= $P, "JWKS fetched from OBOJWKSURL ($j)";
    my $t = mint(tenant => 'tenant1');
    expect_invalid_token(obo_get('obo_jwksurl', '/api/env', token => $t), 'token of another issuer: 401',
                         token => $t, realm => 'jwksurl');
};

subtest 'multi-tenant authority (common): issuer {tenantid} from discovery' => sub {
    my $tid1 = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    my $tid2 = '0b0b0b0b-2222-4333-8444-555566667777';
    expect_ok(obo_get('obo_common', '/api/env', token => mint(tid => $tid1)), "tenant $tid1: 200",
              user => 'user-sub-1');
    expect_ok(obo_get('obo_common', '/api/env', token => mint(tid => $tid2)), "tenant $tid2: 200",
              user => 'user-sub-1');
    my $t = mint(tid => $tid1, claims => { tid => $tid2 });
    expect_invalid_token(obo_get('obo_common', '/api/env', token => $t), 'iss tenant != tid: 401',
                         token => $t, realm => 'common');
    $t = mint(tid => $tid1, drop => ['tid']);
    expect_invalid_token(obo_get('obo_common', '/api/env', token => $t), 'no tid: 401', token => $t, realm => 'common');
    $t = mint(claims => { iss => "https://127.0.0.1:$port/{tenantid}/v2.0", tid => '{tenantid}' });
    expect_invalid_token(obo_get('obo_common', '/api/env', token => $t), 'literal {tenantid} issuer: 401',
                         token => $t, realm => 'common');
    $t = mint(tid => $tid1, claims => { iss => "https://127.0.0.1:$port/$tid1/v2.0/extra" });
    expect_invalid_token(obo_get('obo_common', '/api/env', token => $t), 'template plus a suffix: 401',
                         token => $t, realm => 'common');
    ok idp_counter('discovery@common') >= 1, 'discovery of /common/ was used';
};

subtest 'IdP unreachable or untrusted: 503 for a valid token' => sub {
    my $r = obo_get('obo_down', '/api/env', token => mint());
    expect_status($r, 503, 'nothing listening at the metadata URL: 503');
    ok $r->header('Retry-After'), '503 carries Retry-After' or diag describe($r);
    expect_no_token(obo_get('obo_down', '/api/env'), 'no token: still 401 with the challenge', realm => 'down');

    $r = obo_get('obo_sysca', '/api/env', token => mint(tenant => 'sysca'));
    expect_status($r, 503, 'no OBOCACertificateFile, system store cannot verify the test CA: 503');
    is idp_counter('discovery@sysca'), 0, '... and no HTTP request got through TLS';

    $r = obo_get('obo_badca', '/api/env', token => mint(tenant => 'badca'));
    expect_status($r, 503, 'OBOCACertificateFile of an unrelated CA: 503');
    is idp_counter('discovery@badca'), 0, '... and no HTTP request got through TLS';

    idp_set('jwks_fault@jwksfail' => 500);
    $r = obo_get('obo_jwksfail', '/api/env', token => mint(tenant => 'jwksfail'));
    expect_status($r, 503, 'JWKS endpoint answers 500 and no keys were ever fetched: 503');
    ok idp_counter('jwks@jwksfail') >= 1, '... after trying the JWKS endpoint';

    idp_set('discovery_fault@discfail' => 500);
    $r = obo_get('obo_discfail', '/api/env', token => mint(tenant => 'discfail'));
    expect_status($r, 503, 'discovery answers 500: 503');
    ok idp_counter('discovery@discfail') >= 1, '... after trying discovery';
    is idp_counter('jwks@discfail'), 0, '... and no JWKS request without a jwks_uri';
};

idp_reset();
done_testing();
