# SPDX-License-Identifier: Apache-2.0
# Cached downstream tokens expire: at expires_in - OBOCacheMargin (default
# 300 s), and never after the caller's own exp (vhost obo_x_margin).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_x_margin';

subtest 'expires_in - margin' => sub {
    idp_set('expires_in@xmargin' => 304);    # cacheable for 304 - 300 = 4 s
    my $sub = fresh_user('margin');
    my $ut = mint(tenant => 'xmargin', claims => { sub => $sub });
    my $tb = time;
    expect_ok(obo_get($V, '/x/env', token => $ut), 'first: 200', user => $sub);
    # the entry's lifetime starts when the IdP answered, at the latest when the
    # response arrived: timing from before the request fails on a loaded machine
    my $t0 = time;
    is token_calls($sub), 1, 'one IdP call';
    expect_ok(obo_get($V, '/x/env', token => $ut), 'second: 200', user => $sub);
    is token_calls($sub), 1, 'cache hit within the lifetime' if time - $tb < 3.5;
    sleep(4.5 - (time - $t0)) if time - $t0 < 4.5;
    my $r = obo_get($V, '/x/env', token => $ut);
    expect_ok($r, 'after expires_in - margin: 200', user => $sub);
    is token_calls($sub), 2, 'a new IdP call';
    expect_ok(obo_get($V, '/x/env', token => $ut), 'and cached again', user => $sub);
    is token_calls($sub), 2, 'no third call';
    idp_set('expires_in@xmargin' => '');
};

subtest 'never past the caller\'s exp' => sub {
    my $sub = fresh_user('callerexp');
    my $t0 = time;
    my $ut = mint(tenant => 'xmargin', claims => { sub => $sub, exp => int($t0) + 3 });
    expect_ok(obo_get($V, '/x/env', token => $ut), 'first: 200', user => $sub);
    expect_ok(obo_get($V, '/x/env', token => $ut), 'second: 200', user => $sub);
    is token_calls($sub), 1, 'cached while the caller\'s token is valid' if time - $t0 < 2.5;
    sleep(5 - (time - $t0)) if time - $t0 < 5;
    expect_ok(obo_get($V, '/x/env', token => $ut), 'after the caller\'s exp, within the skew: 200', user => $sub);
    is token_calls($sub), 2, 'the cached token was not used past the caller\'s exp';
};

# A review found a token that lives no longer than OBOCacheMargin (300 s:
# Keycloak's default access token lifespan) never stored: every request
# called the IdP (3 requests, 3 calls). It is now kept for half its
# lifetime, and the backend gets it with that much life left at least.
subtest 'a token that lives no longer than the margin is kept for half its life' => sub {
    idp_set('expires_in@xmargin' => 300);
    my $sub = fresh_user('shortlife');
    my $ut = mint(tenant => 'xmargin', claims => { sub => $sub });
    my $first = cgi_env(obo_get($V, '/x/env', token => $ut));
    my $t0 = time;
    is token_calls($sub), 1, 'one IdP call';
    expect_ok(obo_get($V, '/x/env', token => $ut), "request $_: 200", user => $sub) for 2 .. 3;
    is token_calls($sub), 1, 'three requests, one IdP call';
    my $env = cgi_env(obo_get($V, '/x/env', token => $ut));
    is $env->{OBO_ACCESS_TOKEN}, $first->{OBO_ACCESS_TOKEN}, 'the same token, from the cache';
    cmp_ok $env->{OBO_ACCESS_TOKEN_EXPIRES_ON} - time, '>=', 150 - (time - $t0) - 2,
        'with at least half its lifetime left';
    idp_set('expires_in@xmargin' => 2);
    my $sub2 = fresh_user('tinylife');
    my $ut2 = mint(tenant => 'xmargin', claims => { sub => $sub2 });
    expect_ok(obo_get($V, '/x/env', token => $ut2), '2 s token: 200', user => $sub2);
    sleep 1.5;
    expect_ok(obo_get($V, '/x/env', token => $ut2), 'after 1.5 s (past half its life): 200',
              user => $sub2);
    is token_calls($sub2), 2, '... from a new IdP call';
    idp_set('expires_in@xmargin' => '');
};

# exp = 2^58 + 1: exp * 10^6 overflows (undefined; the sanitizer build aborts)
# and wraps to 1 s after 1970: the cache must not take that for the caller's exp
subtest 'a caller\'s exp beyond apr_time_t\'s range does not cap the cache' => sub {
    my $sub = fresh_user('farexp');
    my $ut = mint(tenant => 'xmargin', claims => { sub => $sub, exp => 288230376151711745 });
    expect_ok(obo_get($V, '/x/env', token => $ut), 'first: 200', user => $sub);
    expect_ok(obo_get($V, '/x/env', token => $ut), 'second: 200', user => $sub);
    is token_calls($sub), 1, 'cached for the downstream token\'s lifetime';
};

idp_reset();
done_testing();
