# SPDX-License-Identifier: Apache-2.0
# Require obo-scope / obo-role / obo-claim: 200 when met, 403 with
# WWW-Authenticate: Bearer error="insufficient_scope" (scope="..." for
# obo-scope) when not; authentication failures stay 401.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn');
idp_reset();
my $V = 'obo_disc';

subtest 'Require obo-scope' => sub {
    expect_ok(obo_get($V, '/scope/env', token => mint()), 'scp access_as_user: 200', user => 'user-sub-1');
    expect_ok(obo_get($V, '/scope/env', token => mint(claims => { scp => 'Files.Read access_as_user Mail.Send' })),
              'scope among several: 200');
    my $t = mint(claims => { scp => 'Files.Read' });
    my $r = obo_get($V, '/scope/env', token => $t);
    expect_insufficient_scope($r, 'other scope: 403 insufficient_scope, scope="access_as_user"', scope => 'access_as_user');
    ok looks_like_no_token_leak($r, $t), '403 does not echo the token';
    unlike $r->content // '', qr/REMOTE_USER/, 'the CGI did not run';
    expect_insufficient_scope(obo_get($V, '/scope/env', token => mint(drop => ['scp'])),
                              'no scp claim: 403', scope => 'access_as_user');
    expect_insufficient_scope(obo_get($V, '/scope/env', token => mint(claims => { scp => 'access_as_user2' })),
                              'scope prefix match is not a match: 403', scope => 'access_as_user');
    expect_insufficient_scope(obo_get($V, '/scope/env', token => mint(claims => { scp => 'ACCESS_AS_USER' })),
                              'scope comparison is case-sensitive: 403', scope => 'access_as_user');
    expect_insufficient_scope(obo_get($V, '/scope-files/env', token => mint()),
                              'Require obo-scope Files.Read: 403 scope="Files.Read"', scope => 'Files.Read');
    expect_ok(obo_get($V, '/scope-files/env', token => mint(claims => { scp => 'Files.Read' })),
              'Files.Read: 200');
    expect_insufficient_scope(obo_get($V, '/scope/env', token => mint(claims => { scp => undef, roles => ['access_as_user'] })),
                              'a role of the same name is not a scope: 403', scope => 'access_as_user');
};

subtest 'Require obo-role' => sub {
    expect_ok(obo_get($V, '/role/env', token => mint(claims => { roles => ['Admin'] })), 'roles [Admin]: 200',
              user => 'user-sub-1');
    expect_ok(obo_get($V, '/role/env', token => mint(claims => { roles => [qw(Reader Admin)] })), 'Admin among roles: 200');
    expect_insufficient_scope(obo_get($V, '/role/env', token => mint(claims => { roles => ['Reader'] })),
                              'roles [Reader]: 403');
    expect_insufficient_scope(obo_get($V, '/role/env', token => mint()), 'no roles claim: 403');
    expect_insufficient_scope(obo_get($V, '/role/env', token => mint(claims => { roles => ['admin'] })),
                              'role comparison is case-sensitive: 403');
    expect_insufficient_scope(obo_get($V, '/role/env', token => mint(claims => { scp => 'Admin' })),
                              'a scope named Admin is not a role: 403');
};

subtest 'Require obo-claim' => sub {
    expect_ok(obo_get($V, '/claim/env', token => mint()), 'tid tenant1: 200', user => 'user-sub-1');
    expect_insufficient_scope(obo_get($V, '/claim-other/env', token => mint()), 'tid mismatch: 403');
    expect_insufficient_scope(obo_get($V, '/claim/env', token => mint(claims => { tid => 'tenant1x' })),
                              'tid with a suffix: 403 (exact value match)');
    expect_insufficient_scope(obo_get($V, '/claim/env', token => mint(drop => ['tid'])), 'no tid: 403');
};

subtest 'RequireAny of obo-role and obo-scope' => sub {
    expect_ok(obo_get($V, '/role-or-scope/env', token => mint(claims => { roles => ['Admin'] })), 'role: 200');
    expect_ok(obo_get($V, '/role-or-scope/env', token => mint(claims => { scp => 'Files.Read' })), 'scope: 200');
    expect_insufficient_scope(obo_get($V, '/role-or-scope/env', token => mint()), 'neither: 403');
};

subtest 'authentication comes first' => sub {
    expect_no_token(obo_get($V, '/role/env'), 'no token at a Require obo-role Location: 401, no error');
    expect_no_token(obo_get($V, '/scope-files/env'), 'no token at a Require obo-scope Location: 401, no error');
    my $t = mint(claims => { exp => time - 3600, roles => ['Admin'] });
    expect_invalid_token(obo_get($V, '/role/env', token => $t), 'expired token with the role: 401', token => $t);
    $t = tok_foreign_key(claims => { scp => 'Files.Read' });
    expect_invalid_token(obo_get($V, '/scope-files/env', token => $t), 'forged token with the scope: 401', token => $t);
};

done_testing();
