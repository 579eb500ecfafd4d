# SPDX-License-Identifier: Apache-2.0
# Client authentication and exchange variants: client_secret_basic with a
# secret from the environment, client_secret_post with a secret from a file,
# private_key_jwt (PS256 + x5t#S256, RS256 + x5t), RFC 8693 token exchange,
# OBOTokenEndpoint, and the multi-tenant authority that exchanges at the
# user's own tenant.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn', 'exchange');
idp_reset();

sub exchange_ok {
    my ($vhost, $tenant, $name, %o) = @_;
    my $sub = fresh_user($tenant);
    my $ut = mint(tenant => $o{iss_tenant} // $tenant, ($o{tid} ? (tid => $o{tid}) : ()),
                  claims => { sub => $sub });
    my $r = obo_get($vhost, '/x/env', token => $ut);
    expect_ok($r, "$name: 200", user => $sub);
    my $c = decode_idp_token(cgi_env($r)->{OBO_ACCESS_TOKEN} // '');
    is $c && $c->{sub}, $sub, "$name: downstream token for the user";
    is token_calls($sub), 1, "$name: one IdP call";
    my ($last) = grep { ($_->{params}{assertion} // $_->{params}{subject_token} // '') eq $ut }
        @{ idp_last_requests() };
    return ($last || {}, $c || {});
}

subtest 'client_secret_basic, OBOClientSecret env:' => sub {
    my ($last) = exchange_ok('obo_x_basic', 'xbasic', 'basic');
    like $last->{authorization} // '', qr/^Basic /, 'HTTP Basic client authentication';
    ok !exists $last->{params}{client_secret}, 'no client_secret in the body';
    is idp_counter('auth:client_secret_basic'), 1, 'the IdP saw client_secret_basic';
};

subtest 'client_secret_post, OBOClientSecret file:' => sub {
    my ($last) = exchange_ok('obo_x_file', 'xfile', 'post/file');
    is $last->{params}{client_secret}, 's3cret-for-tests', 'secret read from the file';
    ok !defined $last->{authorization}, 'no Authorization header to the IdP';
};

subtest 'private_key_jwt PS256 (default)' => sub {
    my ($last, $c) = exchange_ok('obo_x_pk', 'xpk', 'PS256');
    is idp_counter('auth:private_key_jwt:PS256'), 1, 'the IdP verified a PS256 client assertion (x5t#S256)';
    ok !exists $last->{params}{client_secret}, 'no client secret sent';
    is $c->{azpacr}, '2', 'certificate-authenticated client (azpacr 2)';
    # a second user: a new assertion (fresh jti), no replay refusal
    exchange_ok('obo_x_pk', 'xpk', 'PS256, second user');
    is idp_counter('auth:private_key_jwt:PS256'), 2, 'second exchange accepted: new jti';
};

subtest 'private_key_jwt RS256 (OBOClientAssertionAlg RS256)' => sub {
    exchange_ok('obo_x_pkrs', 'xpkrs', 'RS256');
    is idp_counter('auth:private_key_jwt:RS256'), 1, 'the IdP verified an RS256 client assertion (x5t)';
};

subtest 'RFC 8693 token exchange' => sub {
    my ($last, $c) = exchange_ok('obo_x_te', 'xte', 'token-exchange');
    my $p = $last->{params} || {};
    is $p->{grant_type}, 'urn:ietf:params:oauth:grant-type:token-exchange', 'grant_type token-exchange';
    is $p->{subject_token_type}, 'urn:ietf:params:oauth:token-type:access_token', 'subject_token_type';
    is $p->{audience}, 'api://downstream-te', 'audience';
    is $p->{scope}, 'read', 'scope';
    ok !exists $p->{assertion} && !exists $p->{requested_token_use}, 'no OBO parameters';
    is $c->{aud}, 'api://downstream-te', 'token for the audience';
    is $c->{obo_grant}, 'token-exchange', 'issued by the token-exchange grant';
};

subtest 'OBOTokenEndpoint' => sub {
    exchange_ok('obo_x_tep', 'xtep', 'override');
    is idp_counter('token@xtep-override'), 1, 'the configured endpoint was used';
    is idp_counter('token@xtep'), 0, 'not discovery\'s';
};

subtest 'multi-tenant authority: exchange at the user\'s tenant' => sub {
    my $tid = '5a5a5a5a-1111-4222-8333-444455556666';
    exchange_ok('obo_x_common', $tid, 'common', tid => $tid);
    is idp_counter("token\@$tid"), 1, 'token endpoint of the user\'s tenant';
    is idp_counter('token@common'), 0, 'not /common/';
};

done_testing();
