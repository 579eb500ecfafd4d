# SPDX-License-Identifier: Apache-2.0
# Application tokens for downstreams (issue 16, part 3): OBOScope ... app
# gets the application's own token with the client credentials grant (vhost
# obo_app, tenant xapp; obo_app_common for a multi-tenant authority): one
# token per client, authority and scopes, shared by every caller (20 users,
# one IdP call), beside an On-Behalf-Of downstream, refreshed early, through
# the token endpoint's gate; the configurations refused or warned about.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(check_config expect_config_errors);
use OBOTest::Httpd2;

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_app';
my $T = 'xapp';
my $CC = 'cc:middle-tier-api:api://reports/.default';
my $OBO_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

sub caller_token { my ($sub, %c) = @_; return user_token($sub, $T, %c) }

subtest '20 users at once, one client credentials call, one token for all' => sub {
    my @subs = map { fresh_user("app$_") } 1 .. 20;
    my $url = vhost_url($V, '/apptok/env');
    my @res = burst(map { [$url, Authorization => 'Bearer ' . caller_token($_)] } @subs);
    is scalar(grep { $_->{code} == 200 } @res), 20, 'all 20 answered 200'
        or diag join ' ', map { $_->{code} } @res;
    my %tok = map { ($_->{json}{env}{OBO_ACCESS_TOKEN} // '') => 1 } @res;
    is scalar(keys %tok), 1, 'every caller got the same downstream token';
    my ($at) = keys %tok;
    my $c = decode_idp_token($at);
    ok $c, 'a token the IdP issued' or diag $at;
    is $c->{obo_grant}, 'client_credentials', 'obtained with the client credentials grant';
    is $c->{idtyp}, 'app', 'an app-only token (idtyp app)';
    is $c->{azp}, 'middle-tier-api', 'of this application';
    is $c->{aud}, 'api://reports', 'for the scope\'s resource';
    ok !exists $c->{scp}, 'no delegated scopes in it';
    ok !grep({ $c->{sub} eq $_ } @subs), 'no user\'s sub in it';
    is idp_counter($CC), 1, 'exactly one client credentials call for 20 users';
    is token_calls($_), 0, "no exchange for $_" for $subs[0];
    is idp_counter("grant:$OBO_GRANT"), 0, 'no On-Behalf-Of call at all';

    my $last = (grep { ($_->{params}{grant_type} // '') eq 'client_credentials' }
                @{ idp_last_requests() })[-1];
    my $p = $last ? $last->{params} : {};
    is $p->{scope}, 'api://reports/.default', 'scope sent';
    is $p->{client_id}, 'middle-tier-api', 'client_id sent';
    ok defined $p->{client_secret}, 'client authenticated (client_secret_post)';
    ok !exists $p->{assertion} && !exists $p->{requested_token_use}
        && !exists $p->{subject_token}, 'no caller token and no OBO parameters in the request';

    for my $sub (map { fresh_user("later$_") } 1 .. 5) {
        my $r = obo_get($V, '/apptok/env', token => caller_token($sub));
        is cgi_env($r)->{OBO_ACCESS_TOKEN}, $at, "a later caller ($sub) gets the cached token";
    }
    is idp_counter($CC), 1, 'still one call';
};

subtest 'two servers sharing memcached, 4 processes each: 20 users at once, one call' => sub {
    my $tenant = 'xappmc';
    my $extra = "<Location /app>\n    AuthType obo\n    Require valid-user\n"
              . "    OBOScope api://mc-reports/.default app\n    OBOPassToken authorization\n"
              . "</Location>";
    my @h = map { eval { OBOTest::Httpd2->start(procs => 4, tenant => $tenant, name => $_,
                                                 extra => $extra) } } qw(httpd2app1 httpd2app2);
    is scalar(grep { $_ } @h), 2, 'two more servers started' or return diag $@;
    my @res = burst(map {
        my $sub = fresh_user("mc$_");
        [$h[$_ % 2]->url('/app/backend/y'),
         Authorization => 'Bearer ' . mint(tenant => $tenant, claims => { sub => $sub })]
    } 1 .. 20);
    is scalar(grep { $_->{code} == 200 } @res), 20, 'all 20 answered 200'
        or diag join ' ', map { $_->{code} } @res;
    my %tok;
    for my $r (@res) {
        my ($a) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' } @{ $r->{json}{headers} || [] };
        $tok{ (split ' ', $a // '', 2)[1] // '' } = 1;
    }
    is scalar(keys %tok), 1, 'the backend got the same application token for every caller';
    my ($at) = keys %tok;
    is decode_idp_token($at)->{obo_grant}, 'client_credentials', '... of the client credentials grant';
    is idp_counter('cc:middle-tier-api:api://mc-reports/.default'), 1,
        'one client credentials call across both servers and their processes';
    $_->stop for @h;
};

subtest 'an app downstream beside an On-Behalf-Of one' => sub {
    my $before = idp_counter($CC);
    my @subs = map { fresh_user("both$_") } 1 .. 2;
    my %svc;
    for my $sub (@subs) {
        my $r = obo_get($V, '/both/env', token => caller_token($sub));
        expect_ok($r, "$sub: 200", user => $sub);
        my $env = cgi_env($r);
        my $u = decode_idp_token($env->{OBO_ACCESS_TOKEN_USER});
        is $u && $u->{sub}, $sub, 'the user downstream: the user\'s own OBO token';
        is $u && $u->{obo_grant}, 'on-behalf-of', '... from the On-Behalf-Of grant';
        my $s = decode_idp_token($env->{HTTP_X_SVC_TOKEN});
        is $s && $s->{obo_grant}, 'client_credentials', 'the svc downstream: the application\'s';
        $svc{ $env->{HTTP_X_SVC_TOKEN} // '' } = 1;
        is token_calls($sub), 1, 'one exchange for the user';
    }
    is scalar(keys %svc), 1, 'both users got the same application token';
    is idp_counter($CC), $before, 'shared with /apptok (same client, authority, scope): no new '
        . 'client credentials call';
};

subtest 'the authority follows the caller\'s tid (multi-tenant)' => sub {
    my ($t1, $t2) = ('5a5a5a5a-1111-4222-8333-4444555566a1', '5a5a5a5a-1111-4222-8333-4444555566a2');
    my %tok;
    for my $case ([$t1, 'mt1'], [$t1, 'mt2'], [$t2, 'mt3']) {
        my ($tid, $tag) = @$case;
        my $sub = fresh_user($tag);
        my $ut = mint(tenant => $tid, tid => $tid, claims => { sub => $sub, oid => oid_of($sub) });
        my $r = obo_get('obo_app_common', '/apptok/env', token => $ut);
        expect_ok($r, "caller of tenant $tid: 200", user => $sub);
        my $c = decode_idp_token(cgi_env($r)->{OBO_ACCESS_TOKEN});
        is $c && $c->{tid}, $tid, '... an application token of the caller\'s tenant';
        $tok{$tid}{ cgi_env($r)->{OBO_ACCESS_TOKEN} // '' } = 1;
    }
    is idp_counter("cc\@$t1"), 1, 'one call at the first tenant for its two callers';
    is idp_counter("cc\@$t2"), 1, 'one at the second';
    is idp_counter('cc@common'), 0, 'never at /common/';
    is scalar(keys %{ $tok{$t1} }), 1, 'callers of one tenant share its token';
};

subtest 'early refresh (refresh_in): served while renewing, one renewal call' => sub {
    idp_set("refresh_in\@$T" => 2);
    my $cc = 'cc:middle-tier-api:api://refresh-reports/.default';
    my $r = obo_get($V, '/apprefresh/env', token => caller_token(fresh_user('rf1')));
    my $old = cgi_env($r)->{OBO_ACCESS_TOKEN};
    is idp_counter($cc), 1, 'first call';
    sleep 3;
    $r = obo_get($V, '/apprefresh/env', token => caller_token(fresh_user('rf2')));
    is cgi_env($r)->{OBO_ACCESS_TOKEN}, $old, 'inside the refresh window: the cached token, '
        . 'no wait';
    my $until = time + 10;
    sleep 0.2 while idp_counter($cc) < 2 && time < $until;
    is idp_counter($cc), 2, 'one renewal call after the response';
    idp_set("refresh_in\@$T" => '');
    $r = obo_get($V, '/apprefresh/env', token => caller_token(fresh_user('rf3')));
    my $new = cgi_env($r)->{OBO_ACCESS_TOKEN};
    isnt $new, $old, 'the next caller gets the renewed token';
    is idp_counter($cc), 2, 'without another call';
};

subtest 'through the gate: a 503 with Retry-After pauses the endpoint, no second call' => sub {
    # every call, also one the fault answers (before client authentication)
    my $cc = 'token:-:api://paused-reports/.default';
    idp_set("token_fault\@$T" => '503_retry_after', "retry_after\@$T" => 4,
            "token_fault_scope\@$T" => 'paused-reports');
    my $r = obo_get($V, '/apppause/env', token => caller_token(fresh_user('p1')));
    is $r->code, 503, 'the IdP\'s pause: 503';
    ok $r->header('Retry-After'), '... with Retry-After';
    $r = obo_get($V, '/apppause/env', token => caller_token(fresh_user('p2')));
    is $r->code, 503, 'another caller during the pause: 503';
    is idp_counter($cc), 1, 'one IdP call: the second was not made';
    idp_set("token_fault\@$T" => '', "token_fault_scope\@$T" => '', "retry_after\@$T" => '');
    sleep 5;
    $r = obo_get($V, '/apppause/env', token => caller_token(fresh_user('p3')));
    is $r->code, 200, 'after the pause: 200';
};

subtest 'OBOExchange token-exchange: the app downstream still uses client credentials' => sub {
    my $sub = fresh_user('te');
    my $r = obo_get('obo_app_te', '/mixed/env', token => user_token($sub, 'xappte'));
    expect_ok($r, '200', user => $sub);
    my $env = cgi_env($r);
    my $te = decode_idp_token($env->{OBO_ACCESS_TOKEN_TE});
    is $te && $te->{obo_grant}, 'token-exchange', 'the user downstream: RFC 8693';
    is $te && $te->{sub}, $sub, '... for the user';
    my $svc = decode_idp_token($env->{OBO_ACCESS_TOKEN_SVC});
    is $svc && $svc->{obo_grant}, 'client_credentials', 'the app downstream: client credentials';
    is idp_counter('cc@xappte'), 1, 'one client credentials call';
};

subtest 'OBOLongRunning and an app downstream met by merging: 500, no IdP call' => sub {
    my $tokens = idp_counter('token');
    my $mark = error_log_mark();
    my $r = obo_get($V, '/applr/lr/env', token => caller_token(fresh_user('lr')));
    is $r->code, 500, '500';
    like error_log_since($mark), qr/OBO454: no downstream token: \/applr\/lr\/env has OBOLongRunning on/,
        'OBO454 names the path';
    is idp_counter('token'), $tokens, 'no IdP call';
};

subtest 'configurations' => sub {
    my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
    my $base = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
             . "OBOAudience api://test-api\nOBOClientID middle-tier-api\n"
             . "OBOClientSecret s3cret-for-tests";
    my $loc = sub { "$base\n<Location /api>\n AuthType obo\n Require valid-user\n$_[0]\n</Location>" };
    my $c = check_config($loc->(" OBOScope api://reports/.default app"));
    ok $c->{started}, 'an app downstream starts' or diag $c->{output};
    unlike $c->{output}, qr/OBO453/, '... without a warning for <resource>/.default';
    $c = check_config("$base\nOBOExchange token-exchange\n<Location /api>\n AuthType obo\n"
                      . " Require valid-user\n OBOScope api://reports/read app\n</Location>");
    ok $c->{started} && $c->{output} !~ /OBO453/,
        'with OBOExchange token-exchange (not Entra\'s grant): no warning for any scope'
        or diag $c->{output};
    $c = check_config($loc->(" OBOScope downstream=r api://reports/read app"));
    ok $c->{started}, 'an app scope that is not /.default starts' or diag $c->{output};
    like $c->{output}, qr/OBO453: app downstream r .*api:\/\/reports\/read.*\/\.default/,
        '... with a warning (Entra takes <resource>/.default only)';
    expect_config_errors(
        ['OBOLongRunning with an app downstream',
         $loc->(" OBOLongRunning on\n OBOScope api://reports/.default app"),
         qr/OBO451: OBOLongRunning on with an app downstream/],
        ['an app downstream with OBOExchangeAudience',
         $loc->(" OBOScope api://reports/.default app\n OBOExchangeAudience api://reports"),
         qr/OBOExchangeAudience: an app downstream .*takes no audience/],
        ['OBOScope lines that disagree on app',
         $loc->(" OBOScope api://reports/.default app\n OBOScope api://reports/x"),
         qr/OBOScope: every OBOScope line of one downstream must agree on 'app'/],
    );
};

done_testing();
