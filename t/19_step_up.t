# SPDX-License-Identifier: Apache-2.0
# Step-up (issue 17, part 3): Require obo-acr / obo-auth-age answer 401
# WWW-Authenticate: Bearer error="insufficient_user_authentication" with
# acr_values and max_age (RFC 9470 s.3); Require obo-acrs (Microsoft Entra
# authentication context) answers 401 error="insufficient_claims" with the
# base64 claims request MSAL's WithClaims takes. A step-up that is not met
# never reaches the exchange; they compose with <RequireAll>/<RequireAny>.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use JSON::PP ();
use MIME::Base64 ();
use OBOTest::Config qw(expect_config_errors);

need_feature('authn');
idp_reset();
my $V = 'obo_disc';

sub stepup_challenge {
    my ($r) = @_;
    my $c = www_authenticate($r);
    return $r->code == 401 && $c && ($c->{params}{realm} // '') eq 'test-api' ? $c : undef;
}

sub expect_stepup {
    my ($r, $name, %want) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = stepup_challenge($r);
    my $ok = $c && ($c->{params}{error} // '') eq 'insufficient_user_authentication'
        && length($c->{params}{error_description} // '') > 0;
    for my $k (qw(acr_values max_age)) {
        last unless $ok;
        $ok = defined $want{$k} ? (($c->{params}{$k} // "\0") eq $want{$k} && $c->{quoted}{$k})
                                : !exists $c->{params}{$k};
    }
    $ok &&= !exists $c->{params}{claims};
    return ok($ok, $name) || diag(describe($r));
}

# The claims parameter decoded: its JSON text, exactly.
sub expect_claims {
    my ($r, $name, $json) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = stepup_challenge($r);
    my $ok = $c && ($c->{params}{error} // '') eq 'insufficient_claims' && $c->{quoted}{claims}
        && !exists $c->{params}{acr_values} && !exists $c->{params}{max_age};
    $ok &&= MIME::Base64::decode_base64($c->{params}{claims} // '') eq $json
        && $c->{params}{claims} =~ m{^[A-Za-z0-9+/]+=*$};
    return ok($ok, $name) || diag(describe($r) . ' claims ' . ($c && $c->{params}{claims} // '-'));
}

subtest 'Require obo-acr: the acr is one of the values, or 401 with acr_values' => sub {
    expect_ok(obo_get($V, '/stepup-acr/env', token => mint(claims => { acr => 'urn:example:mfa' })),
              'acr urn:example:mfa: 200', user => 'user-sub-1');
    expect_ok(obo_get($V, '/stepup-acr/env', token => mint(claims => { acr => 'urn:example:hwk' })),
              'the second value: 200');
    my $t = mint(claims => { acr => 'urn:example:pwd' });
    my $r = obo_get($V, '/stepup-acr/env', token => $t);
    expect_stepup($r, 'another acr: 401 insufficient_user_authentication, acr_values',
                  acr_values => 'urn:example:mfa urn:example:hwk');
    ok looks_like_no_token_leak($r, $t), 'the answer does not echo the token';
    unlike $r->content // '', qr/REMOTE_USER/, 'the CGI did not run';
    expect_stepup(obo_get($V, '/stepup-acr/env', token => mint(drop => ['acr'])),
                  'no acr: 401', acr_values => 'urn:example:mfa urn:example:hwk');
    expect_stepup(obo_get($V, '/stepup-acr/env', token => mint(claims => { acr => ['urn:example:mfa'] })),
                  'an acr that is an array is not an acr: 401',
                  acr_values => 'urn:example:mfa urn:example:hwk');
    expect_stepup(obo_get($V, '/stepup-acr/env', token => mint(claims => { acr => 'URN:EXAMPLE:MFA' })),
                  'the comparison is exact: 401', acr_values => 'urn:example:mfa urn:example:hwk');
    expect_invalid_token(obo_get($V, '/stepup-acr/env',
                                 token => mint(claims => { acr => 'urn:example:mfa', aud => 'api://other' })),
                         'an invalid token is still invalid_token, not a step-up');
    expect_no_token(obo_get($V, '/stepup-acr/env'), 'no token: the plain challenge');
};

subtest 'Require obo-auth-age: auth_time recent enough, or 401 with max_age' => sub {
    expect_ok(obo_get($V, '/stepup-age/env', token => mint(claims => { auth_time => time - 10 })),
              'signed in 10 s ago: 200');
    expect_stepup(obo_get($V, '/stepup-age/env', token => mint(claims => { auth_time => time - 1000 })),
                  'signed in 1000 s ago: 401 max_age="300"', max_age => 300);
    expect_stepup(obo_get($V, '/stepup-age/env', token => mint(drop => ['auth_time'])),
                  'no auth_time: 401 max_age="300"', max_age => 300);
    expect_stepup(obo_get($V, '/stepup-age/env', token => mint(claims => { auth_time => "" . (time - 5) })),
                  'auth_time as a string: 401', max_age => 300);
};

subtest 'Require obo-acrs: Entra authentication context, insufficient_claims' => sub {
    expect_ok(obo_get($V, '/stepup-acrs/env', token => mint(claims => { acrs => ['c1'] })), 'acrs [c1]: 200');
    expect_ok(obo_get($V, '/stepup-acrs/env', token => mint(claims => { acrs => ['c4', 'c1'] })),
              'acrs [c4, c1]: 200');
    # the form of Entra's own challenge, byte for byte once decoded
    expect_claims(obo_get($V, '/stepup-acrs/env', token => mint(claims => { acrs => ['c2'] })),
                  'acrs [c2]: 401 insufficient_claims asking for c1',
                  '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}');
    expect_claims(obo_get($V, '/stepup-acrs/env', token => mint(drop => ['acrs'])),
                  'no acrs: 401', '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}');
    expect_claims(obo_get($V, '/stepup-acrs2/env', token => mint()),
                  'two ids: "values"', '{"access_token":{"acrs":{"essential":true,"values":["c2","c3"]}}}');
};

subtest 'composed with RequireAll / RequireAny' => sub {
    my %ok = (acr => 'urn:example:mfa', auth_time => time - 10);
    expect_ok(obo_get($V, '/stepup-all/env', token => mint(claims => \%ok)), 'everything met: 200');
    expect_stepup(obo_get($V, '/stepup-all/env', token => mint(claims => { %ok, auth_time => time - 100 })),
                  'one age of two not met: the smaller in max_age', max_age => 60);
    expect_stepup(obo_get($V, '/stepup-all/env',
                          token => mint(claims => { acr => 'urn:example:pwd', auth_time => time - 1000 })),
                  'acr and age: both in one challenge', acr_values => 'urn:example:mfa', max_age => 60);
    expect_insufficient_scope(obo_get($V, '/stepup-all/env', token => mint(claims => { %ok, scp => 'Other' })),
                              'a scope not met is a 403 whatever the step-up', scope => 'access_as_user');
    expect_insufficient_scope(obo_get($V, '/stepup-scope-first/env',
                                      token => mint(claims => { acr => 'urn:example:pwd' })),
                              'step-up and scope both unmet: 403 (no step-up would help)',
                              scope => 'Files.Write');
    expect_stepup(obo_get($V, '/stepup-scope-first/env',
                          token => mint(claims => { acr => 'urn:example:pwd', scp => 'Files.Write' })),
                  'only the step-up unmet: 401', acr_values => 'urn:example:mfa');
    expect_ok(obo_get($V, '/stepup-any/env', token => mint(claims => { roles => ['Admin'] })),
              'RequireAny: the role alone is enough');
    expect_ok(obo_get($V, '/stepup-any/env', token => mint(claims => { acr => 'urn:example:mfa' })),
              'RequireAny: the acr alone is enough');
    expect_stepup(obo_get($V, '/stepup-any/env', token => mint()),
                  'RequireAny: neither: the step-up is what can help (401)', acr_values => 'urn:example:mfa');
};

# review 25: a value with a space went into acr_values, where the client
# cannot split it back
{
    my $port = OBOTest::idp_port();
    my $base = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
             . "OBOAudience api://test-api\n";
    expect_config_errors(
        ['Require obo-acr with a space in a value',
         $base . "<Location /api>\n    AuthType obo\n    Require obo-acr a \"b c\"\n</Location>",
         qr/obo-acr.*'b c' holds a space/],
        ['Require obo-acrs with a space in an id',
         $base . "<Location /api>\n    AuthType obo\n    Require obo-acrs \"c 1\"\n</Location>",
         qr/'c 1' holds a space/],
    );
}

subtest 'the log says why, once, at info' => sub {
    my $mark = error_log_mark();
    obo_get($V, '/stepup-acr/env', token => mint(claims => { acr => 'urn:example:pwd' }));
    obo_get($V, '/stepup-age/env', token => mint(claims => { auth_time => time - 1000 }));
    my $log = error_log_since($mark);
    my @acr = $log =~ /OBO460: user 'user-sub-1' must step up: the token's acr is not among/g;
    is scalar @acr, 1, 'OBO460 once for one request';
    like $log, qr/OBO461: user 'user-sub-1' must step up: signed in \d+ s ago, Require obo-auth-age 300/,
         'OBO461 with the age';
};

subtest 'metrics count step-up challenges' => sub {
    my $get = sub {
        my $d = json_body(obo_get('default', '/obo-status?format=json')) || {};
        return $d->{requests}{step_up};
    };
    my $before = $get->();
    ok defined $before, 'the JSON has requests.step_up' or return;
    obo_get($V, '/stepup-acrs/env', token => mint()) for 1 .. 3;
    obo_get($V, '/stepup-acrs/env', token => mint(claims => { acrs => ['c1'] }));
    is $get->(), $before + 3, 'requests_total{result="step_up"} +3';
};

SKIP: {
    skip 'no exchange in this build', 1 unless has_feature('exchange');
    subtest 'a step-up that is not met never reaches the exchange' => sub {
        my $sub = fresh_user('stepup');
        my $before = idp_counter('token');
        my $r = obo_get('obo_x', '/xstepup/env', token => user_token($sub, 'xobo'));
        expect_claims($r, '401 insufficient_claims',
                      '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}');
        is idp_counter('token'), $before, 'no call to the token endpoint';
        my $ok = obo_get('obo_x', '/xstepup/env', token => user_token($sub, 'xobo', acrs => ['c1']));
        expect_ok($ok, 'with the context: 200');
        is idp_counter('token'), $before + 1, '... and one exchange';
    };
    # review 25: the step-up noted while <RequireAny> granted through the
    # scope turned the IdP's invalid_grant 401 into a step-up challenge
    subtest 'a step-up another Require line made moot never shapes a later 401' => sub {
        idp_set('token_fault@xobo' => 'invalid_grant');
        my $r = obo_get('obo_x', '/xstepany/env',
                        token => user_token(fresh_user('stepany'), 'xobo', acr => 'urn:example:pwd'));
        idp_set('token_fault@xobo' => '');
        my $c = www_authenticate($r);
        ok $r->code == 401 && $c && ($c->{params}{error} // '') eq 'invalid_token',
           'the IdP refused the assertion: 401 invalid_token, no step-up challenge'
            or diag describe($r);
    };
}

done_testing();
