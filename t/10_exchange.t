# SPDX-License-Identifier: Apache-2.0
# On-Behalf-Of exchange (vhost obo_x, tenant xobo, client_secret_post, shm
# cache): what the IdP is asked, how the downstream token reaches the CGI
# (env) and the mod_proxy backend (Authorization / a header), that the
# user's token never does, caching per user token + scopes, spoofed headers.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use JSON::PP ();

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_x';
my $OBO = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

sub user_token { my ($sub, %o) = @_; return mint(tenant => 'xobo', claims => { sub => $sub, %{ $o{claims} || {} } }) }

subtest 'a subrequest to another Location verifies the caller\'s token, not the hand-off' => sub {
    my $sub = fresh_user('ssi');
    my $ut = user_token($sub);
    my $r = obo_get($V, '/xssi/index.shtml', token => $ut);
    is $r->code, 200, 'SSI page: 200';
    my ($json) = ($r->decoded_content // '') =~ /(\{.*\})/s;
    my $inc = $json ? eval { JSON::PP->new->decode($json) } : undef;
    ok $inc, 'the include ran: the CGI output is inside the page' or diag $r->decoded_content;
    is $inc && $inc->{env}{REMOTE_USER}, $sub, 'the subrequest authenticated the caller';
    is $inc && $inc->{env}{AUTH_TYPE}, 'obo', 'AUTH_TYPE obo in the subrequest';
    is token_calls($sub), 1, 'one IdP call for the page and its include';
};

subtest 'default hand-off: env OBO_ACCESS_TOKEN' => sub {
    my $sub = fresh_user('env');
    my $ut = user_token($sub);
    my $r = obo_get($V, '/xenv/env', token => $ut);
    expect_ok($r, 'first request: 200', user => $sub);
    my $env = cgi_env($r);
    my $at = $env->{OBO_ACCESS_TOKEN};
    ok defined $at && length $at, 'CGI sees OBO_ACCESS_TOKEN';
    isnt $at, $ut, '... which is not the user\'s token';
    my $c = decode_idp_token($at);
    ok $c, '... and is a token issued by the IdP' or diag $at;
    is $c->{sub}, $sub, 'downstream token: sub = the user';
    is $c->{aud}, 'api://downstream', 'downstream token: aud = the scope\'s resource';
    is $c->{obo_grant}, 'on-behalf-of', 'obtained with the OBO grant';
    my $exp_on = $env->{OBO_ACCESS_TOKEN_EXPIRES_ON};
    ok defined $exp_on && $exp_on =~ /^\d+$/ && abs($exp_on - $c->{exp}) <= 5,
        "OBO_ACCESS_TOKEN_EXPIRES_ON = the token's exp (" . ($exp_on // 'undef') . ")";
    is token_calls($sub), 1, 'one IdP call';
    ok !grep({ defined $env->{$_} && index($env->{$_}, $ut) >= 0 } keys %$env),
        'the user\'s token is in no CGI variable';

    my $last = (grep { ($_->{params}{assertion} // '') eq $ut } @{ idp_last_requests() })[-1];
    ok $last, 'the IdP request is recorded';
    my $p = $last->{params} || {};
    is $p->{grant_type}, $OBO, 'grant_type jwt-bearer';
    is $p->{requested_token_use}, 'on_behalf_of', 'requested_token_use=on_behalf_of';
    is $p->{assertion}, $ut, 'assertion = the user\'s token';
    is $p->{scope}, 'api://downstream/.default', 'scope';
    is $p->{client_id}, 'middle-tier-api', 'client_id';
    is $p->{client_secret}, 's3cret-for-tests', 'client_secret_post';
    like $last->{content_type} // '', qr{^application/x-www-form-urlencoded}i, 'form-encoded';

    $r = obo_get($V, '/xenv/env', token => $ut);
    expect_ok($r, 'second request: 200', user => $sub);
    is cgi_env($r)->{OBO_ACCESS_TOKEN}, $at, 'second request: the same downstream token';
    is token_calls($sub), 1, 'second request: cache hit, no IdP call';
    for (1 .. 3) { obo_get($V, '/xenv/env', token => $ut) }
    is token_calls($sub), 1, 'three more: still one IdP call';

    my $ut2 = user_token($sub);    # same user, another token
    expect_ok(obo_get($V, '/xenv/env', token => $ut2), 'same user, new token: 200');
    is token_calls($sub), 2, 'new user token: new IdP call (the key includes the token)';

    $r = obo_get($V, '/xother/env', token => $ut);
    expect_ok($r, 'other scopes: 200');
    my $c2 = decode_idp_token(cgi_env($r)->{OBO_ACCESS_TOKEN});
    is $c2->{aud}, 'api://other-downstream', 'other scopes: token for the other resource';
    is token_calls($sub), 3, 'other scopes: own IdP call';
    my ($l2) = grep { ($_->{params}{assertion} // '') eq $ut && ($_->{params}{scope} // '') =~ /other/ }
        @{ idp_last_requests() };
    is join(' ', sort split ' ', $l2->{params}{scope} // ''), 'api://other-downstream/read api://other-downstream/write',
        'both scopes requested';
};

subtest 'OBOPassToken authorization: the backend sees the downstream token only' => sub {
    my $sub = fresh_user('authz');
    my $ut = user_token($sub);
    my $r = obo_get($V, '/xauthz/backend/x', token => $ut);
    expect_status($r, 200, 'proxied: 200');
    my @auth = backend_header($r, 'Authorization');
    is scalar(@auth), 1, 'exactly one Authorization header at the backend';
    my ($scheme, $dt) = split ' ', $auth[0] // '', 2;
    is $scheme, 'Bearer', 'Bearer scheme';
    isnt $dt, $ut, 'not the user\'s token';
    is decode_idp_token($dt)->{sub}, $sub, 'the downstream token for this user';
    my $all = join "\n", map { "$_->[0]: $_->[1]" } backend_headers($r);
    ok index($all, $ut) < 0 && index($all, (split /\./, $ut)[2]) < 0, 'the user\'s token appears nowhere';
};

subtest 'OBOPassToken header X-Downstream-Token, spoofing' => sub {
    my $sub = fresh_user('hdr');
    my $ut = user_token($sub);
    my @spoof = ('X-Downstream-Token' => 'fake-1', 'x_downstream_token' => 'fake-2',
                 'X-DOWNSTREAM-TOKEN' => 'fake-3', 'X-Downstream-Token-Expires-On' => '1',
                 'x_downstream_token_expires_on' => '2', 'OBO-Claim-sub' => 'fake-4');
    my $r = obo_get($V, '/xhdr/backend/x', token => $ut, headers => [@spoof]);
    expect_status($r, 200, 'proxied: 200');
    my @tok = backend_header($r, 'X-Downstream-Token');
    is scalar(@tok), 1, 'exactly one X-Downstream-Token at the backend';
    is decode_idp_token($tok[0] // '')->{sub}, $sub, '... the real downstream token';
    my @exp = backend_header($r, 'X-Downstream-Token-Expires-On');
    is scalar(@exp), 1, 'exactly one X-Downstream-Token-Expires-On';
    like $exp[0] // '', qr/^\d{10}$/, '... an epoch time';
    ok !grep({ $_->[1] =~ /^fake-/ } backend_headers($r)), 'no spoofed value arrived';
    my @auth = backend_header($r, 'Authorization');
    ok !@auth, 'the caller\'s Authorization stays in the middle tier (OBOForwardCallerToken off)';

    $r = obo_get($V, '/xhdr/env', token => $ut, headers => [@spoof]);
    expect_ok($r, 'CGI: 200', user => $sub);
    my $env = cgi_env($r);
    is decode_idp_token($env->{HTTP_X_DOWNSTREAM_TOKEN} // '')->{sub}, $sub, 'CGI: HTTP_X_DOWNSTREAM_TOKEN is real';
    ok !grep({ ($env->{$_} // '') =~ /^fake-/ } keys %$env), 'CGI: no spoofed value';
    is token_calls($sub), 1, 'one IdP call for both requests';
};

subtest 'two downstream APIs in one Location' => sub {
    my $sub = fresh_user('multi');
    my $ut = user_token($sub);
    my $r = obo_get($V, '/xmulti/backend/x', token => $ut);
    expect_status($r, 200, 'proxied: 200');
    my ($g) = backend_header($r, 'X-Graph-Token');
    my ($a) = backend_header($r, 'Authorization');
    my $gc = decode_idp_token($g // '');
    my $ac = decode_idp_token((split ' ', $a // '', 2)[1] // '');
    is $gc->{aud}, 'https://graph.example.test', 'X-Graph-Token: graph token';
    is $ac->{aud}, 'api://partner', 'Authorization: partner token';
    is token_calls($sub), 2, 'two IdP calls';
};

subtest 'no OBOScope: no exchange' => sub {
    my $sub = fresh_user('none');
    my $r = obo_get($V, '/xnone/env', token => user_token($sub));
    expect_ok($r, 'status 200', user => $sub);
    ok !exists cgi_env($r)->{OBO_ACCESS_TOKEN}, 'no OBO_ACCESS_TOKEN';
    is token_calls($sub), 0, 'no IdP call';
    expect_no_token(obo_get($V, '/xenv/env'), 'no token at an exchanging Location: 401', realm => 'xobo');
};

done_testing();
