# SPDX-License-Identifier: Apache-2.0
# The test infrastructure on its own (no mod_auth_obo behaviour needed):
# IdP over HTTPS with the test CA, discovery/JWKS/token endpoint and its
# switches, token minting cross-checked with Crypt::JWT, the echo CGI, the
# echo backend through mod_proxy, memcached, the WWW-Authenticate parser.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Keys qw(pki_dir published_kids);
use Crypt::JWT qw(decode_jwt);
use HTTP::Request::Common qw(POST);
use JSON::PP;
use MIME::Base64 ();
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $base = "https://127.0.0.1:$port";
my $OBO  = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
my $TE   = 'urn:ietf:params:oauth:grant-type:token-exchange';
my $AT   = 'urn:ietf:params:oauth:token-type:access_token';
idp_reset();

subtest 'IdP discovery over HTTPS, trusted via the test CA only' => sub {
    my $d = idp_get_json('/tenant1/v2.0/.well-known/openid-configuration');
    is $d->{issuer}, "$base/tenant1/v2.0", 'issuer';
    is $d->{jwks_uri}, "$base/tenant1/discovery/v2.0/keys", 'jwks_uri';
    is $d->{token_endpoint}, "$base/tenant1/oauth2/v2.0/token", 'token_endpoint';
    my $c = idp_get_json('/common/v2.0/.well-known/openid-configuration');
    is $c->{issuer}, "$base/{tenantid}/v2.0", 'common: issuer template';
    my $o = idp_get_json('/organizations/v2.0/.well-known/openid-configuration');
    is $o->{issuer}, "$base/{tenantid}/v2.0", 'organizations: issuer template';

    my $ok = LWP::UserAgent->new(timeout => 10, ssl_opts => { SSL_ca_file => pki_dir() . '/ca.pem' });
    ok $ok->get("https://localhost:$port/tenant1/v2.0/.well-known/openid-configuration")->is_success,
        'certificate valid for DNS:localhost too';
    my $bad = LWP::UserAgent->new(timeout => 10, ssl_opts => { SSL_ca_file => pki_dir() . '/untrusted-ca.pem' });
    my $r = $bad->get("$base/tenant1/v2.0/.well-known/openid-configuration");
    ok !$r->is_success, 'untrusted CA: TLS verification fails' or diag $r->status_line;
    my $sys = LWP::UserAgent->new(timeout => 10, ssl_opts => { SSL_ca_path => '/etc/ssl/certs', SSL_ca_file => undef });
    $r = $sys->get("$base/tenant1/v2.0/.well-known/openid-configuration");
    ok !$r->is_success, 'system trust store does not know the test CA' or diag $r->status_line;
};

subtest 'JWKS, rotation switch, per-tenant switches' => sub {
    my $k = idp_get_json('/tenant1/discovery/v2.0/keys');
    my %kid = map { $_->{kid} => $_ } @{ $k->{keys} };
    is_deeply [ sort keys %kid ], [ sort(published_kids(0)) ], 'key A + EC + OKP published';
    ok !$kid{foreign}, 'foreign key never published';
    is $kid{'rsa-a'}{kty}, 'RSA', 'RSA kty';
    is $kid{'ec-p521'}{crv}, 'P-521', 'P-521 crv';
    is $kid{ed25519}{kty}, 'OKP', 'Ed25519 is OKP';
    is scalar(grep { ($_->{use} // '') eq 'sig' } values %kid), scalar(keys %kid), 'all use=sig';
    ok !grep({ exists $_->{d} || exists $_->{p} } values %kid), 'no private members';

    idp_set('rotate@rotcheck' => 1);
    my %r = map { $_->{kid} => 1 } @{ idp_get_json('/rotcheck/discovery/v2.0/keys')->{keys} };
    ok $r{'rsa-b'} && !$r{'rsa-a'}, 'rotate@tenant: key B replaces key A';
    my %o = map { $_->{kid} => 1 } @{ idp_get_json('/tenant1/discovery/v2.0/keys')->{keys} };
    ok $o{'rsa-a'} && !$o{'rsa-b'}, 'other tenants unaffected';
    idp_set('rotate@rotcheck' => 'both');
    %r = map { $_->{kid} => 1 } @{ idp_get_json('/rotcheck/discovery/v2.0/keys')->{keys} };
    ok $r{'rsa-a'} && $r{'rsa-b'}, 'rotate=both publishes A and B';
    idp_set('jwks_fault@rotcheck' => 500);
    is idp_ua()->get(idp_url('/rotcheck/discovery/v2.0/keys'))->code, 500, 'jwks_fault=500';
    idp_set('jwks_fault@rotcheck' => 'down');
    my $r = idp_ua()->get(idp_url('/rotcheck/discovery/v2.0/keys'));
    ok !$r->is_success, 'jwks_fault=down: no answer' or diag $r->status_line;
    idp_set('discovery_fault@rotcheck' => 'badjson');
    $r = idp_ua()->get(idp_url('/rotcheck/v2.0/.well-known/openid-configuration'));
    ok !eval { decode_json($r->content); 1 }, 'discovery_fault=badjson';
    my $c = idp_counters();
    is $c->{'jwks@rotcheck'}, 4, 'per-tenant jwks counter';
    is $c->{'discovery@rotcheck'}, 1, 'per-tenant discovery counter';
    idp_reset();
    is_deeply idp_counters(), {}, 'reset clears counters';
};

subtest 'minted tokens verify against the published JWKS (Crypt::JWT)' => sub {
    my $jwks = idp_get_json('/tenant1/discovery/v2.0/keys');
    my %algs = ('rsa-a' => [qw(RS256 RS384 RS512 PS256 PS384 PS512)],
                'ec-p256' => ['ES256'], 'ec-p384' => ['ES384'], 'ec-p521' => ['ES512'],
                'ed25519' => ['EdDSA']);
    for my $kid (sort keys %algs) {
        for my $alg (@{ $algs{$kid} }) {
            my $t = mint(kid => $kid, alg => $alg);
            my $c = eval { decode_jwt(token => $t, kid_keys => $jwks) };
            ok $c && $c->{sub} eq 'user-sub-1', "$alg ($kid) verifies" or diag $@;
        }
    }
    my $c = decode_jwt(token => mint(), kid_keys => $jwks);
    is $c->{iss}, "$base/tenant1/v2.0", 'default iss';
    is $c->{aud}, 'api://test-api', 'default aud';
    ok $c->{exp} > time + 3000, 'default exp';

    my %bad = (
        'alg none'          => tok_alg_none(),
        'HS256 + public key' => tok_hmac_with_public_key(),
        'foreign key'       => tok_foreign_key(),
        'embedded jwk'      => tok_embedded_jwk(),
        'jku'               => tok_jku(),
        'x5c'               => tok_x5c(),
        'tampered'          => tok_tampered(),
        'rsa-b (unpublished)' => mint(kid => 'rsa-b'),
    );
    for my $n (sort keys %bad) {
        my $v = eval { decode_jwt(token => $bad{$n}, kid_keys => $jwks, accepted_alg => qr/^(RS|PS|ES)\d+$|^EdDSA$/) };
        ok !$v, "$n does not verify";
    }
    ok length(tok_oversized(20 * 1024)) > 20 * 1024, 'oversized token is > 20 KiB';
    my ($h) = split /\./, tok_unknown_crit();
    like MIME::Base64::decode_base64url($h), qr/"crit":\["urn:example:must-understand"\]/, 'crit header present';
};

sub token_req {
    my (%p) = @_;
    my $tenant = delete $p{_tenant} // 'tenant1';
    my $basic = delete $p{_basic};
    my $req = POST(idp_url("/$tenant/oauth2/v2.0/token"), [%p]);
    $req->authorization_basic(@$basic) if $basic;
    return idp_ua()->request($req);
}

subtest 'token endpoint: OBO and RFC 8693, client authentication' => sub {
    my $user = mint(claims => { sub => 'alice' });
    my %obo = (grant_type => $OBO, assertion => $user, requested_token_use => 'on_behalf_of',
               scope => 'api://downstream/.default');
    my $r = token_req(%obo, client_id => 'middle-tier-api', client_secret => 's3cret-for-tests');
    is $r->code, 200, 'OBO + client_secret_post';
    my $b = decode_json($r->content);
    is $b->{token_type}, 'Bearer', 'token_type';
    is $b->{expires_in}, 3600, 'expires_in default';
    my $jwks = idp_get_json('/tenant1/discovery/v2.0/keys');
    my $at = decode_jwt(token => $b->{access_token}, kid_keys => $jwks);
    is $at->{sub}, 'alice', 'downstream token sub = user';
    is $at->{aud}, 'api://downstream', 'aud = scope resource';
    is $at->{scp}, '.default', 'scp';
    ok $at->{jti}, 'jti';

    $r = token_req(%obo, _basic => ['middle-tier-api', 's3cret-for-tests']);
    is $r->code, 200, 'client_secret_basic';
    my $at2 = decode_jwt(token => decode_json($r->content)->{access_token}, kid_keys => $jwks);
    isnt $at2->{jti}, $at->{jti}, 'unique jti per issuance';

    $r = token_req(%obo, client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
                   client_assertion => tok_client_assertion(alg => 'PS256'));
    is $r->code, 200, 'private_key_jwt PS256 + x5t#S256';
    my $ca = tok_client_assertion(alg => 'RS256');
    $r = token_req(%obo, client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
                   client_assertion => $ca);
    is $r->code, 200, 'private_key_jwt RS256 + x5t';
    $r = token_req(%obo, client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
                   client_assertion => $ca);
    is $r->code, 401, 'replayed jti refused';
    for my $case (['wrong aud', aud => 'https://elsewhere/token'],
                  ['expired', claims => { exp => time - 600 }],
                  ['too long', claims => { exp => time + 7200 }],
                  ['no jti', claims => { jti => undef }],
                  ['wrong iss', claims => { iss => 'someone' }],
                  ['bad thumbprint', header => { 'x5t#S256' => 'AAAA' }]) {
        my ($name, @o) = @$case;
        $r = token_req(%obo, client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
                       client_assertion => tok_client_assertion(@o));
        is $r->code, 401, "client assertion: $name -> 401";
    }
    $r = token_req(%obo, client_id => 'middle-tier-api', client_secret => 'wrong');
    is $r->code, 401, 'wrong secret -> 401';
    is decode_json($r->content)->{error}, 'invalid_client', 'invalid_client';
    like decode_json($r->content)->{error_description}, qr/^AADSTS7000215: /, 'Entra-style description';
    $r = token_req(%obo, client_id => 'middle-tier-api', client_secret => 's3cret-for-tests',
                   _basic => ['middle-tier-api', 's3cret-for-tests']);
    is $r->code, 400, 'two client auth methods -> 400';
    idp_set(client_secret => 'other-secret');
    is token_req(%obo, client_id => 'middle-tier-api', client_secret => 'other-secret')->code, 200,
        'configurable extra secret';
    idp_set(client_secret => '');

    $r = token_req(%obo, assertion => tok_foreign_key(), client_id => 'middle-tier-api',
                   client_secret => 's3cret-for-tests');
    is $r->code, 400, 'assertion signed by foreign key -> 400';
    is decode_json($r->content)->{error}, 'invalid_grant', 'invalid_grant';
    $r = token_req(%obo, assertion => mint(claims => { exp => time - 3600 }),
                   client_id => 'middle-tier-api', client_secret => 's3cret-for-tests');
    is decode_json($r->content)->{error}, 'invalid_grant', 'expired assertion -> invalid_grant';

    $r = token_req(grant_type => $TE, subject_token => $user, subject_token_type => $AT,
                   audience => 'api://downstream-te', scope => 'read',
                   requested_token_type => $AT,
                   client_id => 'middle-tier-api', client_secret => 's3cret-for-tests');
    is $r->code, 200, 'RFC 8693 token exchange';
    $b = decode_json($r->content);
    is $b->{issued_token_type}, $AT, 'issued_token_type';
    is decode_jwt(token => $b->{access_token}, kid_keys => $jwks)->{aud}, 'api://downstream-te', 'aud = audience';
    $r = token_req(grant_type => $TE, subject_token => $user, subject_token_type => 'urn:x:bogus',
                   audience => 'api://downstream-te',
                   client_id => 'middle-tier-api', client_secret => 's3cret-for-tests');
    is $r->code, 400, 'TE: bad subject_token_type -> 400';

    my $c = idp_counters();
    ok $c->{'token:alice:api://downstream/.default'} >= 5, 'per user+scope counter';
    is $c->{'token:alice:read'}, 1, 'per user+scope counter (TE)';
    is $c->{'auth:client_secret_basic'}, 1, 'per client-auth-method counter';
};

subtest 'token endpoint fault switches' => sub {
    my %ok = (grant_type => $OBO, assertion => mint(), requested_token_use => 'on_behalf_of',
              scope => 'api://downstream/.default', client_id => 'middle-tier-api',
              client_secret => 's3cret-for-tests');
    my %expect = (consent_required => [400, 'invalid_grant'], interaction_required => [400, 'interaction_required'],
                  invalid_grant => [400, 'invalid_grant'], invalid_client => [401, 'invalid_client'],
                  500 => [500, 'server_error'], '503_retry_after' => [503, 'temporarily_unavailable'],
                  429 => [429, 'temporarily_unavailable']);
    for my $f (sort keys %expect) {
        idp_set('token_fault@faults' => $f);
        my $r = token_req(%ok, _tenant => 'faults');
        is $r->code, $expect{$f}[0], "$f: status";
        my $b = eval { decode_json($r->content) } || {};
        is $b->{error}, $expect{$f}[1], "$f: error";
        ok ref $b->{error_codes} eq 'ARRAY' && $b->{trace_id} && $b->{correlation_id} && $b->{timestamp},
            "$f: Entra error members";
        ok $r->header('Retry-After'), "$f: Retry-After" if $f =~ /^(503|429)/;
    }
    idp_set('token_fault@faults' => 'interaction_required');
    my $b = decode_json(token_req(%ok, _tenant => 'faults')->content);
    like $b->{claims}, qr/capolids/, 'interaction_required carries claims';
    idp_set('token_fault@faults' => 'consent_required');
    is decode_json(token_req(%ok, _tenant => 'faults')->content)->{suberror}, 'consent_required', 'consent suberror';
    idp_set('token_fault@faults' => 'badjson');
    my $r = token_req(%ok, _tenant => 'faults');
    is $r->code, 200, 'badjson: 200';
    ok !eval { decode_json($r->content); 1 }, 'badjson: body is not JSON';
    idp_set('token_fault@faults' => 'slow', 'slow_seconds@faults' => 1);
    my $t0 = time;
    is token_req(%ok, _tenant => 'faults')->code, 200, 'slow: still answers';
    ok time - $t0 >= 0.9, 'slow: took >= 1 s';
    idp_set('token_fault@faults' => 'hang', 'hang_seconds@faults' => 3);
    my $ua = LWP::UserAgent->new(timeout => 1, ssl_opts => { SSL_ca_file => pki_dir() . '/ca.pem' });
    $t0 = time;
    $r = $ua->request(POST(idp_url('/faults/oauth2/v2.0/token'), [%ok]));
    ok !$r->is_success && time - $t0 < 2.5, 'hang: client times out' or diag $r->status_line;
    idp_set('token_fault@faults' => '500', 'token_fault_times@faults' => 1);
    is token_req(%ok, _tenant => 'faults')->code, 500, 'fault applied once';
    is token_req(%ok, _tenant => 'faults')->code, 200, 'then cleared (token_fault_times)';
    idp_set(expires_in => 120);
    is decode_json(token_req(%ok)->content)->{expires_in}, 120, 'expires_in switch';
    idp_set(refresh_token => 1);
    ok decode_json(token_req(%ok)->content)->{refresh_token}, 'refresh_token switch (OBO)';
    idp_reset();
};

subtest 'IdP down and back' => sub {
    idp_set(down => 2);
    sleep 0.6;
    my $ua = LWP::UserAgent->new(timeout => 3, ssl_opts => { SSL_ca_file => pki_dir() . '/ca.pem' });
    my $r = $ua->get(idp_url('/tenant1/v2.0/.well-known/openid-configuration'));
    ok !$r->is_success, 'down: refused' or diag $r->status_line;
    my $up = 0;
    for (1 .. 40) { sleep 0.25; $r = $ua->get(idp_url('/tenant1/v2.0/.well-known/openid-configuration')); if ($r->is_success) { $up = 1; last } }
    ok $up, 'back up after the down period';
    idp_stop();
    ok !OBOTest::Services::port_open($port), 'idp_stop: port closed';
    idp_start();
    ok idp_ua()->get(idp_url('/control/counters'))->is_success, 'idp_start: answers again';
};

subtest 'echo CGI and echo backend through httpd (no auth)' => sub {
    my $r = obo_get('default', '/public.txt');
    is $r->code, 200, 'static file';
    $r = obo_get('default', '/cgi-bin/env.cgi?x=1', headers => ['X-Probe' => 'cgi']);
    is $r->code, 200, 'CGI runs';
    my $d = json_body($r);
    is $d->{env}{QUERY_STRING}, 'x=1', 'CGI env QUERY_STRING';
    is $d->{env}{HTTP_X_PROBE}, 'cgi', 'CGI sees request headers';
    $r = obo_post('default', '/cgi-bin/env.cgi', content => 'a=b');
    is json_body($r)->{body}, 'a=b', 'CGI sees body';

    $r = obo_get('default', '/backend/x?y=2',
                 headers => ['OBO-Claim-sub' => 'spoof', 'obo_claim_roles' => 'Admin']);
    is $r->code, 200, 'proxy to echo backend';
    $d = json_body($r);
    is $d->{uri}, '/backend/x?y=2', 'backend sees the URI';
    my %h = map { $_->[0] => $_->[1] } @{ $d->{headers} };
    is $h{'OBO-Claim-sub'}, 'spoof', 'without the module, spoofed headers pass (baseline)';
    is $h{'obo_claim_roles'}, 'Admin', 'underscore header name kept verbatim';
};

subtest 'memcached' => sub {
    my $v = memcached_cmd('version');
    like $v // '', qr/^VERSION /, 'memcached answers';
    like memcached_cmd("set obo-infra 0 60 5\r\nhello"), qr/STORED/, 'set';
    is memcached_get('obo-infra'), 'hello', 'get';
    memcached_cmd('delete obo-infra');
};

subtest 'WWW-Authenticate parser' => sub {
    my $c = www_authenticate('Bearer realm="test-api", error="invalid_token", error_description="The token \"x\" expired"');
    is $c->{scheme}, 'Bearer', 'scheme';
    is $c->{params}{realm}, 'test-api', 'realm';
    is $c->{params}{error}, 'invalid_token', 'error';
    is $c->{params}{error_description}, 'The token "x" expired', 'escaped quotes';
    my @all = www_authenticate('Basic realm="a", Bearer realm="b", error=insufficient_scope, scope="x y"');
    is scalar(@all), 2, 'two challenges';
    is $all[1]{params}{scope}, 'x y', 'scope';
    is $all[1]{params}{error}, 'insufficient_scope', 'token form value';
};

subtest 'features probe' => sub {
    my $f = OBOTest::features();
    ok -f $f->{module}, "module built: $f->{module}";
    ok defined $f->{authn}, 'authn probed: ' . ($f->{authn} ? 'directives known' : 'placeholder module');
    ok defined $f->{exchange}, 'exchange probed: ' . ($f->{exchange} ? 'OBOScope known' : 'not yet');
};

done_testing();
