# SPDX-License-Identifier: Apache-2.0
# Defects a review of the running module found after issue 6's first fixes
# (vhost obo_review): a user whom Require denied got a downstream token and
# claims on an ErrorDocument in the same Location; an exchanging Location
# forwarded the caller's Authorization when access was granted without a
# valid token; one claim could shadow another through a colliding name.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn', 'exchange');
my $V = 'obo_review';

sub tok { my (%c) = @_; return mint(tenant => 'review', claims => { %c }) }

subtest 'ErrorDocument 403 to a CGI in the same Location: nothing for the denied user' => sub {
    my $sub = fresh_user('denied-cgi');
    my $r = obo_get($V, '/dcgi/env', token => tok(sub => $sub));
    is $r->code, 403, 'status 403' or diag describe($r);
    my $env = cgi_env($r);
    ok scalar(keys %$env), 'the error page ran (the CGI answered)' or diag describe($r);
    my @leak = grep { /OBO_ACCESS_TOKEN|OBO_CLAIM|OBO-CLAIM|HTTP_OBO/i } keys %$env;
    ok !@leak, 'no downstream token, no claims in its environment' or diag "@leak";
    is token_calls($sub), 0, 'no IdP call for a denied user';
};

subtest 'ErrorDocument 403 to the proxied backend: no downstream token' => sub {
    my $sub = fresh_user('denied-proxy');
    my $ut = tok(sub => $sub);
    my $r = obo_get($V, '/dproxy/backend/x', token => $ut);
    ok scalar(backend_headers($r)), 'the error page ran (the backend answered)' or diag describe($r);
    my @a = backend_header($r, 'Authorization');
    ok !grep({ $_ ne "Bearer $ut" } @a), 'the backend got no downstream token' or diag "@a";
    ok !grep({ lc($_->[0]) =~ /^obo-claim-/ } backend_headers($r)), 'nor claims'
        or diag explain [backend_headers($r)];
    is token_calls($sub), 0, 'no IdP call for a denied user';
};

subtest 'a user who passes still gets the token there' => sub {
    my $sub = fresh_user('admin-ok');
    my $r = obo_get($V, '/dcgi/env', token => tok(sub => $sub, scp => 'access_as_user admin'));
    is $r->code, 200, 'status 200' or diag describe($r);
    ok cgi_env($r)->{OBO_ACCESS_TOKEN}, 'OBO_ACCESS_TOKEN set';
    is token_calls($sub), 1, 'one IdP call';
};

subtest 'access granted without a valid token: the caller\'s Authorization still goes' => sub {
    my $other = tok(sub => fresh_user('other-aud'), aud => 'api://other-api');
    my $r = obo_get($V, '/any/backend', token => $other);
    is $r->code, 200, 'status 200 (Require ip)' or diag describe($r);
    my @a = backend_header($r, 'Authorization');
    ok !@a, 'the backend gets no Authorization header' or diag "@a";
};

subtest 'claims whose names collide are not exported' => sub {
    my $r = obo_get($V, '/claims/env', token => tok(sub => fresh_user('collide'),
        'preferred_username' => 'alice@corp', 'preferred~username' => 'root@corp',
        'roles' => ['Reader'], 'ROLES' => ['Admin'], 'name' => 'Alice'));
    is $r->code, 200, 'status 200' or diag describe($r);
    my $env = cgi_env($r);
    is $env->{OBO_CLAIM_name}, 'Alice', 'an unambiguous claim is exported';
    my @amb = grep { /^(OBO_CLAIM_|HTTP_OBO_CLAIM_)(preferred.username|roles)$/i } keys %$env;
    ok !@amb, 'preferred_username/preferred~username and roles/ROLES: neither exported'
        or diag join ' ', map { "$_=$env->{$_}" } @amb;
};

done_testing();
