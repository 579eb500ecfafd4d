# SPDX-License-Identifier: Apache-2.0
# App-only callers (issue 16, part 3): an application calling as itself
# (Entra: idtyp app, or no scp; RFC 9068: sub = client_id, OBOAppOnlyWhen)
# cannot be exchanged on behalf of a user: 403 insufficient_scope with an
# error_description, and no IdP call. A Location whose downstreams are all
# app downstreams serves it; Require obo-caller user|app admits one kind.
# Vhosts obo_app (tenant xapp, default rules) and obo_app_rfc (tenant
# xapprfc, OBOAppOnlyWhen sub-is-client). The app-only tokens are real ones:
# the test IdP's client credentials grant for its client daemon-app.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use JSON::PP ();

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_app';
my $T = 'xapp';
my $OBO_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
my $DESC = 'an app-only token cannot be exchanged on behalf of a user';

# An app-only token for this API (aud api://test-api) from the IdP itself.
sub daemon_token {
    my ($tenant) = @_;
    my $r = idp_ua()->post(idp_url("/$tenant/oauth2/v2.0/token"), {
        grant_type => 'client_credentials', client_id => 'daemon-app',
        client_secret => 'daemon-s3cret-for-tests', scope => 'api://test-api/.default' });
    die 'daemon token: ' . $r->status_line . ' ' . $r->content unless $r->is_success;
    return JSON::PP->new->decode($r->content)->{access_token};
}

sub obo_calls { return idp_counter("grant:$OBO_GRANT") }

sub expect_app_refused {
    my ($r, $name, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = www_authenticate($r);
    ok($r->code == 403 && $c && ($c->{params}{error} // '') eq 'insufficient_scope'
        && ($c->{params}{error_description} // '') eq ($desc // $DESC), $name)
        or diag describe($r);
}

my $app = daemon_token($T);
my $ac = decode_idp_token($app);
is $ac && $ac->{idtyp}, 'app', 'the IdP\'s client credentials token says idtyp app';
ok $ac && !exists $ac->{scp} && ref $ac->{roles} eq 'ARRAY', '... roles, no scp';

subtest 'an app-only caller where a user is needed: 403, no IdP call' => sub {
    my $before = obo_calls();
    my $tokens = idp_counter('token');
    my $mark = error_log_mark();
    expect_app_refused(obo_get($V, '/obo/env', token => $app),
                       'On-Behalf-Of Location: 403 insufficient_scope + error_description');
    expect_app_refused(obo_get($V, '/obo/backend', token => $app), '... proxied as well');
    expect_app_refused(obo_get($V, '/both/env', token => $app),
                       'a Location with a user downstream beside an app one: 403');
    is obo_calls(), $before, 'no On-Behalf-Of call';
    is idp_counter('token'), $tokens, 'no call to the token endpoint at all';
    like error_log_since($mark), qr/OBO450: caller '[^']+' is an application acting as itself/,
        'OBO450 logged';
    unlike error_log_since($mark), qr/\Q$app\E/, 'the token is not logged';
};

subtest 'an app-only caller at an OBOLongRunning Location: 403, no session, no IdP call' => sub {
    my $lapp = daemon_token('lr');
    my $tokens = idp_counter('token@lr');
    my $r = obo_get('obo_lr', '/lr/env', token => $lapp);
    expect_app_refused($r, 'long-running Location: 403 insufficient_scope');
    ok !defined cgi_env($r)->{OBO_SESSION_KEY}, 'no session key';
    is idp_counter('token@lr'), $tokens, 'no exchange';
};

subtest 'Entra without idtyp: no scp is app-only; idtyp user is a user' => sub {
    my $sub = fresh_user('v1app');
    my $v1 = mint(tenant => $T, claims => { sub => $sub, oid => $sub, roles => ['Data.Read'] },
                  drop => ['scp', 'idtyp']);
    my $before = obo_calls();
    expect_app_refused(obo_get($V, '/obo/env', token => $v1), 'no idtyp, no scp, roles: 403');
    is obo_calls(), $before, 'no IdP call';
    my $usub = fresh_user('user');
    my $r = obo_get($V, '/obo/env', token => user_token($usub, $T));
    expect_ok($r, 'a user (idtyp user, scp): 200', user => $usub);
    is token_calls($usub), 1, '... exchanged';
};

subtest 'an app-only caller where only app downstreams are: served' => sub {
    my $r = obo_get($V, '/apptok/env', token => $app);
    expect_ok($r, 'app downstream only: 200');
    my $c = decode_idp_token(cgi_env($r)->{OBO_ACCESS_TOKEN});
    is $c && $c->{obo_grant}, 'client_credentials', '... with the application\'s token';
    is $c && $c->{azp}, 'middle-tier-api', '... of this API, not of the caller';
};

subtest 'Require obo-caller user|app' => sub {
    my $usub = fresh_user('rq');
    my $ut = user_token($usub, $T);
    expect_ok(obo_get($V, '/users/env', token => $ut), 'obo-caller user: a user 200', user => $usub);
    expect_app_refused(obo_get($V, '/users/env', token => $app), 'obo-caller user: an app 403',
                       'this resource admits users only, not an application acting as itself');
    expect_ok(obo_get($V, '/apps/env', token => $app), 'obo-caller app: an app 200');
    expect_app_refused(obo_get($V, '/apps/env', token => $ut), 'obo-caller app: a user 403',
                       'this resource admits applications acting as themselves only, not users');
};

subtest 'OBOAppOnlyWhen sub-is-client (an RFC 9068 IdP)' => sub {
    my $rt = 'xapprfc';
    my $rfc = mint(tenant => $rt, claims => { sub => 'daemon-9068', client_id => 'daemon-9068',
                                               scope => 'reports.read' },
                   drop => ['scp', 'idtyp', 'oid']);
    my $before = obo_calls();
    expect_app_refused(obo_get('obo_app_rfc', '/obo/env', token => $rfc),
                       'sub = client_id: app-only, 403');
    is obo_calls(), $before, 'no IdP call';
    my $usub = fresh_user('rfcuser');
    my $user = mint(tenant => $rt, claims => { sub => $usub, client_id => 'web-app',
                                               scope => 'reports.read' },
                    drop => ['scp', 'idtyp']);
    expect_ok(obo_get('obo_app_rfc', '/obo/env', token => $user), 'sub != client_id: a user, 200',
              user => $usub);
    my $entra_app = mint(tenant => $rt, claims => { sub => fresh_user('e'), idtyp => 'app',
                                                    roles => ['x'] }, drop => ['scp']);
    my $r = obo_get('obo_app_rfc', '/obo/env', token => $entra_app);
    isnt $r->code, 403, 'idtyp is not a rule here: not refused as app-only';
};

done_testing();
