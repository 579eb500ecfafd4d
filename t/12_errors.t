# SPDX-License-Identifier: Apache-2.0
# How identity-provider failures during the exchange reach the caller
# (vhost obo_x_fault, tenant xfault, OBOTimeout 2 4):
#   consent/interaction required -> 401 Bearer error="insufficient_claims",
#       claims="<base64>" + JSON body {error, error_description, suberror, scopes, claims}
#   invalid_grant -> 401 invalid_token;  invalid_client -> 500
#   IdP 5xx / 429 / bad JSON / HTML -> 502;  IdP timeout -> 504
#   (the 429 and 503 here send Retry-After: 1, within the 2 s retry wait, so
#   they are retried; a longer Retry-After is answered 503 at once: t/43)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time sleep);

need_feature('authn', 'exchange');
idp_reset();
my $V = 'obo_x_fault';

sub attempt {
    my ($fault, %o) = @_;
    my $sub = fresh_user('fault');
    my $ut = mint(tenant => 'xfault', claims => { sub => $sub });
    idp_set('token_fault@xfault' => $fault, %{ $o{switches} || {} });
    my $t0 = time;
    my $r = obo_get($V, '/x/env', token => $ut);
    my $dt = time - $t0;
    idp_set('token_fault@xfault' => '', map { $_ => '' } keys %{ $o{switches} || {} });
    return ($r, $ut, $sub, $dt);
}

sub b64_any { my ($s) = @_; $s //= ''; $s =~ tr{-_}{+/}; return decode_base64($s) }

# Review 30B: mod_authn_core keeps AuthName escaped; the module escaped it
# again, and clients read backslashes into the realm.
subtest 'an AuthName with quotes: the realm as configured' => sub {
    my $r = obo_get('obo_x', '/xrealm/env');
    my $c = www_authenticate($r);
    is $r->code, 401, 'no token: 401';
    is $c && $c->{params}{realm}, 'My "API" realm', 'realm decodes to the AuthName'
        or diag join ' | ', $r->header('WWW-Authenticate');
};

subtest 'interaction_required (MFA / conditional access)' => sub {
    my ($r, $ut, $sub) = attempt('interaction_required');
    is $r->code, 401, 'status 401' or diag describe($r);
    my $c = www_authenticate($r) || { params => {} };
    is $c->{params}{error}, 'insufficient_claims', 'error="insufficient_claims"';
    ok $c->{params}{realm}, 'realm present';
    my $claims = b64_any($c->{params}{claims});
    my $cj = eval { decode_json($claims) };
    ok $cj && $cj->{access_token}{capolids}, 'claims= is the base64 of the IdP\'s claims challenge' or diag $claims;
    my $b = json_body($r) || {};
    is $b->{error}, 'interaction_required', 'body: error';
    ok defined $b->{error_description} && length $b->{error_description}, 'body: error_description';
    is $b->{suberror}, 'basic_action', 'body: suberror';
    ok ref $b->{scopes} eq 'ARRAY' && grep({ $_ eq 'api://downstream/.default' } @{ $b->{scopes} }), 'body: scopes';
    like $b->{claims} // '', qr/capolids/, 'body: claims';
    like $r->header('Content-Type') // '', qr{application/json}, 'JSON content type';
    ok looks_like_no_token_leak($r, $ut), 'the user\'s token is not echoed';
};

subtest 'consent_required' => sub {
    my ($r, $ut) = attempt('consent_required');
    is $r->code, 401, 'status 401' or diag describe($r);
    my $c = www_authenticate($r) || { params => {} };
    is $c->{params}{error}, 'insufficient_claims', 'error="insufficient_claims"';
    my $b = json_body($r) || {};
    is $b->{error}, 'consent_required', 'body: error consent_required';
    is $b->{suberror}, 'consent_required', 'body: suberror';
    ok ref $b->{scopes} eq 'ARRAY' && @{ $b->{scopes} }, 'body: scopes';
    ok looks_like_no_token_leak($r, $ut), 'no token echo';
};

subtest 'invalid_grant -> 401 invalid_token' => sub {
    my ($r, $ut) = attempt('invalid_grant');
    expect_invalid_token($r, '401 invalid_token', token => $ut, realm => 'xfault');
};

subtest 'invalid_client -> 500' => sub {
    my $mark = error_log_mark();
    my ($r, $ut) = attempt('invalid_client');
    expect_status($r, 500, 'status 500');
    ok looks_like_no_token_leak($r, $ut), 'no token echo';
    like error_log_since($mark), qr/invalid_client|client/i, 'error_log names the cause';
};

for my $case (['500', 'IdP 500'], ['503_retry_after', 'IdP 503 + Retry-After'], ['429', 'IdP 429'],
              ['badjson', 'IdP answers invalid JSON'], ['html', 'IdP answers an HTML 502']) {
    my ($fault, $name) = @$case;
    subtest "$name -> 502" => sub {
        my ($r, $ut, $sub, $dt) = attempt($fault);
        expect_status($r, 502, 'status 502');
        ok looks_like_no_token_leak($r, $ut), 'no token echo';
        my $n = token_calls($sub);
        ok $n >= 1 && $n <= 2, "at most one retry ($n calls)";
        ok $dt < 10, sprintf('answered in %.1f s', $dt);
        # These two asked for a 1 s pause of the endpoint (t/43_idp_pause.t).
        sleep 1.2 if $fault eq '429' || $fault eq '503_retry_after';
    };
}

subtest 'one retry recovers a transient 500' => sub {
    my ($r, $ut, $sub) = attempt('500', switches => { 'token_fault_times@xfault' => 1 });
    expect_ok($r, '200 after the retry', user => $sub);
    is token_calls($sub), 2, 'two calls: the failure and the retry';
};

subtest 'IdP timeout -> 504' => sub {
    my ($r, $ut, $sub, $dt) = attempt('hang', switches => { 'hang_seconds@xfault' => 12 });
    expect_status($r, 504, 'status 504');
    ok $dt < 11, sprintf('within the configured timeouts (%.1f s)', $dt);
};

subtest 'slow but within the timeout -> 200' => sub {
    my ($r, $ut, $sub) = attempt('slow', switches => { 'slow_seconds@xfault' => 1 });
    expect_ok($r, 'status 200', user => $sub);
};

subtest 'errors are not cached' => sub {
    my $sub = fresh_user('nocache');
    my $ut = mint(tenant => 'xfault', claims => { sub => $sub });
    idp_set('token_fault@xfault' => '500');
    expect_status(obo_get($V, '/x/env', token => $ut), 502, 'first: 502');
    idp_set('token_fault@xfault' => '');
    expect_ok(obo_get($V, '/x/env', token => $ut), 'IdP healthy again: 200 for the same token', user => $sub);
};

subtest 'IdP not reachable during the exchange' => sub {
    my $sub = fresh_user('down');
    my $ut = mint(tenant => 'xfault', claims => { sub => $sub });
    idp_set(down => 3);
    sleep 0.5;
    my $r = obo_get($V, '/x/env', token => $ut);
    ok $r->code == 502 || $r->code == 504, 'IdP down: 502 or 504' or diag describe($r);
    sleep 3;
    for (1 .. 20) { last if eval { idp_counters(); 1 }; sleep 0.25 }
    expect_ok(obo_get($V, '/x/env', token => $ut), 'IdP back: 200', user => $sub);
};

idp_reset();
done_testing();
