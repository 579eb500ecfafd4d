# SPDX-License-Identifier: Apache-2.0
# JWT conformance (issue 20): NumericDates with a fraction are accepted and
# compared with it (RFC 7519 s.2); a sub that is not a string is refused
# (s.4.1.2), whatever claim makes REMOTE_USER; an aud array holding
# anything but strings is refused even when one element matches (s.4.1.3).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Time::HiRes ();
use JSON::PP ();

need_feature('authn');
idp_reset();
my $V = 'obo_disc';

subtest 'NumericDates with a fraction' => sub {
    my $now = Time::HiRes::time();
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { exp => int($now) + 600.5 })),
              'exp with a fraction: 200', user => 'user-sub-1');
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { iat => int($now) - 10.25,
                                                                nbf => int($now) - 10.75 })),
              'iat and nbf with a fraction: 200');
    # each time taken just before its token: a loaded machine may take
    # seconds between requests (the exact comparison is unit-tested)
    my $t = sub { Time::HiRes::time() };
    expect_ok(obo_get($V, '/skew0/env', token => mint(claims => { exp => $t->() + 20.5 })),
              'OBOClockSkew 0: exp 20.5 s ahead has not expired');
    expect_invalid_token(obo_get($V, '/skew0/env', token => mint(claims => { exp => $t->() - 0.5 })),
                         'OBOClockSkew 0: exp 0.5 s ago has expired');
    expect_invalid_token(obo_get($V, '/skew0/env', token => mint(claims => { nbf => $t->() + 20.5 })),
                         'OBOClockSkew 0: nbf 20.5 s ahead is not yet valid');
    expect_ok(obo_get($V, '/skew0/env', token => mint(claims => { nbf => $t->() - 0.5 })),
              'OBOClockSkew 0: nbf 0.5 s ago is valid');
    expect_invalid_token(obo_get($V, '/api/env', token => mint(claims => { exp => '1800000000' })),
                         'exp as a string: still refused');
    expect_invalid_token(obo_get($V, '/api/env', token => mint(claims => { exp => JSON::PP::true() })),
                         'exp as a boolean: still refused');
};

subtest 'sub is a string' => sub {
    my $t = mint(claims => { sub => 123456, oid => '3f2b6c1e-0000-4000-8000-000000000001' });
    expect_invalid_token(obo_get($V, '/user-oid/env', token => $t),
                         'numeric sub refused where REMOTE_USER comes from oid');
    expect_invalid_token(obo_get($V, '/api/env', token => $t), '... and where it comes from sub');
    expect_ok(obo_get($V, '/user-oid/env',
                      token => mint(claims => { oid => '3f2b6c1e-0000-4000-8000-000000000001' })),
              'a string sub: 200', user => '3f2b6c1e-0000-4000-8000-000000000001');
};

subtest 'aud arrays hold strings only' => sub {
    expect_invalid_token(obo_get($V, '/api/env', token => mint(claims => { aud => ['api://test-api', 7] })),
                         'a match beside a number: refused');
    expect_invalid_token(obo_get($V, '/api/env', token => mint(claims => { aud => [undef, 'api://test-api'] })),
                         'a match beside null: refused');
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { aud => ['api://other', 'api://test-api'] })),
              'strings only, one matches: 200');
};

done_testing();
