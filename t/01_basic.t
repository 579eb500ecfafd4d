# SPDX-License-Identifier: Apache-2.0
# Bearer token validation on the default discovery setup (vhost obo_disc,
# tenant1): where the token comes from, the 401 challenges, valid tokens for
# every algorithm, REMOTE_USER/AUTH_TYPE, time claims with the skew, iss,
# aud, ID tokens.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use MIME::Base64 ();

need_feature('authn');
idp_reset();

my $V = 'obo_disc';
my $now = time;

subtest 'no token' => sub {
    my $r = obo_get($V, '/api/env');
    expect_no_token($r, 'no Authorization: 401 Bearer realm="test-api", no error');
    is scalar(grep { /^Bearer/i } $r->header('WWW-Authenticate')), 1, 'exactly one Bearer challenge';
    unlike $r->content // '', qr/REMOTE_USER/, 'the CGI did not run';
    $r = obo_get($V, '/api/env', authorization => 'Basic ' . MIME::Base64::encode_base64('u:p', ''));
    is $r->code, 401, 'Basic credentials are not a bearer token: 401';
    ok www_authenticate($r), '... with a Bearer challenge' or diag describe($r);
    my $t = mint();
    expect_no_token(obo_get($V, "/api/env?access_token=$t"),
                    'token in the query string is ignored (RFC 6750 URI form not accepted)');
    expect_no_token(obo_post($V, '/api/env', content => "access_token=$t"),
                    'token in a form body is ignored');
    expect_no_token(obo_get($V, '/api/env', headers => ['X-Access-Token' => $t]),
                    'token in another header is ignored');
    expect_no_token(obo_get($V, '/norealm/env'), 'no token without AuthName',
                    realm => qr/^(localhost|127\.0\.0\.1)(:\d+)?$/);
};

subtest 'valid token' => sub {
    my $t = mint();
    my $r = obo_get($V, '/api/env', token => $t);
    expect_ok($r, 'valid RS256 token: 200', user => 'user-sub-1');
    my $env = cgi_env($r);
    is $env->{AUTH_TYPE}, 'obo', 'AUTH_TYPE=obo';
    is $env->{REMOTE_USER}, 'user-sub-1', 'REMOTE_USER = sub';
    ok !grep({ /^OBO_CLAIM_/ } keys %$env), 'OBOPassClaims default (none): no claim variables';
    is $env->{HTTP_AUTHORIZATION}, undef, 'the CGI does not get the Authorization header';
    expect_ok(obo_get($V, '/api/env', token => $t), 'same token again: 200', user => 'user-sub-1');
    expect_ok(obo_post($V, '/api/env', token => $t, content => 'x=1'), 'POST: 200', user => 'user-sub-1');
    expect_ok(obo_get($V, '/norealm/env', token => $t), 'no AuthName: valid token still 200');
    for my $scheme (qw(bearer BEARER BeArEr)) {
        expect_ok(obo_get($V, '/api/env', token => $t, scheme => $scheme),
                  "scheme '$scheme' is case-insensitive", user => 'user-sub-1');
    }
    expect_ok(obo_get($V, '/user-oid/env', token => $t), 'OBORemoteUserClaim oid',
              user => '00000000-0000-4000-8000-0000000000a1');
    expect_ok(obo_get($V, '/user-upn/env', token => $t), 'OBORemoteUserClaim preferred_username',
              user => 'test.user@example.test');
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { sub => 'bob' })), 'another user',
              user => 'bob');
};

# A review found a non-string claim flattened into REMOTE_USER: ["a","b"]
# became "a b", 123 "123", and ["alice"] the same user as "alice".
subtest 'the REMOTE_USER claim must be a string' => sub {
    for my $case ([ 'an array', [ 'alice' ] ], [ 'a number', 123 ], [ 'an object', { u => 'alice' } ],
                  [ 'empty', '' ]) {
        my ($what, $v) = @$case;
        my $t = mint(claims => { sub => $v });
        expect_invalid_token(obo_get($V, '/api/env', token => $t), "sub as $what: 401",
                             token => $t);
    }
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { sub => 'alice' })),
              'sub as a string: 200', user => 'alice');
};

subtest 'malformed Authorization headers' => sub {
    my $t = mint();
    expect_status(obo_get($V, '/api/env', authorization => 'Bearer'), [400, 401], '"Bearer" alone: 400/401');
    expect_status(obo_get($V, '/api/env', authorization => 'Bearer '), [400, 401], '"Bearer " + nothing: 400/401');
    expect_status(obo_get($V, '/api/env', authorization => "Bearer $t $t"), [400, 401],
                  'two tokens in one header: 400/401');
    expect_status(obo_get($V, '/api/env', authorization => "Bearer $t, Bearer $t"), [400, 401],
                  'two Bearer credentials: 400/401');
    # review 30C: RFC 6750 s.2 (one method only): invalid_request, not invalid_token
    my $r = obo_get($V, '/api/env', authorization => "Bearer $t", headers => [Authorization => "Bearer $t"]);
    my $c = www_authenticate($r);
    ok $r->code == 400 && $c && ($c->{params}{error} // '') eq 'invalid_request',
       'two Authorization headers: 400 invalid_request' or diag describe($r);
    $r = obo_get($V, '/api/env', authorization => "Bearer $t, Bearer $t");
    is $r->code, 400, 'two Bearer credentials in one header (as httpd joins two): 400';
    expect_status(obo_get($V, '/api/env', authorization => "Bearer$t"), [400, 401],
                  'no space after the scheme: 400/401');
    expect_status(obo_get($V, '/api/env', authorization => "Token $t"), 401, 'other scheme: 401');
};

subtest 'every allowed algorithm, with and without kid' => sub {
    my %algs = ('rsa-a' => [qw(RS256 RS384 RS512 PS256 PS384 PS512)],
                'ec-p256' => ['ES256'], 'ec-p384' => ['ES384'], 'ec-p521' => ['ES512'],
                'ed25519' => ['EdDSA']);
    for my $kid (sort keys %algs) {
        for my $alg (@{ $algs{$kid} }) {
            expect_ok(obo_get($V, '/api/env', token => mint(kid => $kid, alg => $alg)),
                      "$alg ($kid): 200", user => 'user-sub-1');
        }
    }
    expect_ok(obo_get($V, '/api/env', token => mint(kid => 'rsa-a', alg => 'RS256', no_kid => 1)),
              'RS256 without kid: matching keys are tried', user => 'user-sub-1');
    expect_ok(obo_get($V, '/api/env', token => mint(kid => 'ec-p384', no_kid => 1)),
              'ES384 without kid', user => 'user-sub-1');
    expect_ok(obo_get($V, '/api/env', token => mint(kid => 'ed25519', no_kid => 1)),
              'EdDSA without kid', user => 'user-sub-1');
    expect_ok(obo_get($V, '/api/env', token => mint(header => { typ => 'at+jwt' })),
              'typ at+jwt accepted', user => 'user-sub-1');
};

subtest 'exp, nbf, iat and the clock skew (60 s default)' => sub {
    my $n = time;
    my %cases = (
        'exp 30 s ago (within skew)'        => [200, { exp => $n - 30 }],
        'exp 120 s ago'                     => [401, { exp => $n - 120 }],
        'exp one day ago'                   => [401, { exp => $n - 86400 }],
        'nbf in 30 s (within skew)'         => [200, { nbf => $n + 30 }],
        'nbf in 120 s'                      => [401, { nbf => $n + 120 }],
        'iat in 120 s'                      => [401, { iat => $n + 120, nbf => undef }],
        'iat in 30 s (within skew)'         => [200, { iat => $n + 30, nbf => undef }],
        'no nbf, no iat'                    => [200, { nbf => undef, iat => undef }],
        'exp as a string'                   => [401, { exp => '' . ($n + 3600) . 'x' }],
        'exp not a number (object)'         => [401, { exp => { v => $n + 3600 } }],
    );
    for my $name (sort keys %cases) {
        my ($want, $claims) = @{ $cases{$name} };
        my $t = mint(claims => $claims);
        my $r = obo_get($V, '/api/env', token => $t);
        $want == 200 ? expect_ok($r, "$name: 200", user => 'user-sub-1')
                     : expect_invalid_token($r, "$name: 401 invalid_token", token => $t);
    }
    my $t = mint(drop => ['exp']);
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'missing exp: 401', token => $t);

    $t = mint(claims => { exp => $n - 5 });
    expect_invalid_token(obo_get($V, '/skew0/env', token => $t), 'OBOClockSkew 0: exp 5 s ago: 401', token => $t);
    $t = mint(claims => { nbf => $n + 10 });
    expect_invalid_token(obo_get($V, '/skew0/env', token => $t), 'OBOClockSkew 0: nbf in 10 s: 401', token => $t);
    expect_ok(obo_get($V, '/skew0/env', token => mint()), 'OBOClockSkew 0: fresh token: 200');
    expect_ok(obo_get($V, '/skew300/env', token => mint(claims => { exp => $n - 200 })),
              'OBOClockSkew 300: exp 200 s ago: 200');
    $t = mint(claims => { exp => $n - 400 });
    expect_invalid_token(obo_get($V, '/skew300/env', token => $t), 'OBOClockSkew 300: exp 400 s ago: 401', token => $t);
};

subtest 'issuer' => sub {
    my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
    my %bad = (
        'other tenant'      => issuer('tenant2'),
        'trailing slash'    => issuer('tenant1') . '/',
        'other host'        => "https://login.example.test/tenant1/v2.0",
        'http scheme'       => "http://127.0.0.1:$port/tenant1/v2.0",
        'case changed'      => issuer('TENANT1'),
        'prefix only'       => "https://127.0.0.1:$port/tenant1",
        'empty'             => '',
    );
    for my $name (sort keys %bad) {
        my $t = mint(claims => { iss => $bad{$name} });
        expect_invalid_token(obo_get($V, '/api/env', token => $t), "iss $name: 401", token => $t);
    }
    my $t = mint(drop => ['iss']);
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'no iss: 401', token => $t);
    $t = mint(claims => { iss => [ issuer('tenant1') ] });
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'iss as an array: 401', token => $t);
};

subtest 'audience' => sub {
    my $t = mint(claims => { aud => 'api://other-api' });
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'wrong aud: 401', token => $t);
    $t = mint(drop => ['aud']);
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'no aud: 401', token => $t);
    $t = mint(claims => { aud => 'api://test-api/' });
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'aud with a trailing slash: 401', token => $t);
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { aud => [ 'api://x', 'api://test-api' ] })),
              'aud array containing the audience: 200');
    $t = mint(claims => { aud => [ 'api://x', 'api://y' ] });
    expect_invalid_token(obo_get($V, '/api/env', token => $t), 'aud array without it: 401', token => $t);
    $t = mint();
    expect_invalid_token(obo_get($V, '/aud-other/env', token => $t),
                         'Location OBOAudience api://other-api: token for api://test-api: 401', token => $t);
    expect_ok(obo_get($V, '/aud-other/env', token => mint(claims => { aud => 'api://other-api' })),
              'Location OBOAudience api://other-api: matching token: 200');
    expect_ok(obo_get($V, '/aud-multi/env', token => mint()), 'OBOAudience with two values: first matches');
    expect_ok(obo_get($V, '/aud-multi/env', token => mint(claims => { aud => 'api://other-api' })),
              'OBOAudience with two values: second matches');
};

subtest 'ID tokens are not access tokens' => sub {
    for my $v (qw(idtyp nonce both)) {
        my $t = tok_id_token(variant => $v);
        expect_invalid_token(obo_get($V, '/api/env', token => $t), "ID token ($v): 401", token => $t);
    }
    expect_ok(obo_get($V, '/api/env', token => mint(claims => { idtyp => 'app' })), 'idtyp app: 200');
};

subtest 'responses never echo the token' => sub {
    my $t = mint(claims => { exp => time - 7200, sub => '<script>alert(1)</script>' });
    my $r = obo_get($V, '/api/env', token => $t);
    expect_invalid_token($r, 'expired token: 401', token => $t);
    unlike $r->as_string, qr/<script>/, 'claim values are not reflected';
    my $c = www_authenticate($r);
    unlike $c->{params}{error_description} // '', qr/[\r\n]/, 'error_description on one line';
};

done_testing();
