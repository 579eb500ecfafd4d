# SPDX-License-Identifier: Apache-2.0
# The JOSE header typ (RFC 8725 s.3.11): an IdP signs other kinds of JWT
# with the same keys (logout tokens, security event tokens...). With a
# signature, issuer and audience that pass, only typ tells them from an
# access token: they must get 401 invalid_token. OBOTokenType at+jwt
# accepts RFC 9068 access tokens only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn');
idp_reset();

my $V = 'obo_typ';

sub typed {
    my ($typ) = @_;
    return defined $typ ? mint(tenant => 'typ', header => { typ => $typ })
                        : mint(tenant => 'typ', drop_header => ['typ']);
}

sub accepted {
    my ($path, $typ, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    expect_ok(obo_get($V, "$path/env", token => typed($typ)), $name, user => 'user-sub-1');
}

sub refused {
    my ($path, $typ, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $t = typed($typ);
    expect_invalid_token(obo_get($V, "$path/env", token => $t), $name, token => $t);
}

subtest 'default (OBOTokenType any)' => sub {
    accepted('/any', undef, 'no typ: 200');
    accepted('/any', 'JWT', 'typ JWT: 200');
    accepted('/any', 'at+jwt', 'typ at+jwt: 200');
    accepted('/any', 'application/at+jwt', 'typ application/at+jwt: 200');
    accepted('/any', 'application/okta-internal-at+jwt', 'vendor at+jwt type: 200');
    refused('/any', 'logout+jwt', 'logout token type: 401 invalid_token');
    refused('/any', 'application/logout+jwt', 'application/logout+jwt: 401');
    refused('/any', 'secevent+jwt', 'security event token type: 401');
    refused('/any', 'id_token+jwt', 'id_token+jwt: 401');
    refused('/any', 'JOSE', 'unknown typ JOSE: 401');
    # a real logout token, signed by the tenant's key, for this audience
    my $logout = mint(tenant => 'typ', header => { typ => 'logout+jwt' }, drop => ['scp'],
                      claims => { events => { 'http://schemas.openid.net/event/backchannel-logout' => {} },
                                  sid => 'session-1' });
    expect_invalid_token(obo_get($V, '/any/env', token => $logout),
                         'back-channel logout token: 401 invalid_token', token => $logout);
};

subtest 'OBOTokenType at+jwt' => sub {
    accepted('/at', 'at+jwt', 'typ at+jwt: 200');
    accepted('/at', 'AT+JWT', 'case does not matter: 200');
    accepted('/at', 'application/at+jwt', 'application/at+jwt: 200');
    refused('/at', undef, 'no typ: 401 invalid_token');
    refused('/at', 'JWT', 'typ JWT: 401 invalid_token');
    refused('/at', 'logout+jwt', 'logout+jwt: 401 invalid_token');
};

done_testing();
