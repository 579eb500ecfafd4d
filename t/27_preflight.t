# SPDX-License-Identifier: Apache-2.0
# Issue 16 part 5: a CORS preflight (OPTIONS with Origin and
# Access-Control-Request-Method, no credentials) reaches whatever answers it
# (mod_headers, the proxied backend) instead of a 401: with OBOPreflight
# allow (the default) it passes Require valid-user and Require obo-* without
# a user, no exchange happens and nothing of the hand-off reaches the
# backend (client-sent look-alikes are still removed). Require lines that do
# not depend on a user (Require ip) still refuse it. Any other OPTIONS, a
# preflight with credentials and OBOPreflight deny are treated as before.
# vhost obo_pf.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('authn', 'exchange');
my $V = 'obo_pf';
my @PF = (Origin => 'https://app.example', 'Access-Control-Request-Method' => 'POST',
          'Access-Control-Request-Headers' => 'authorization');

sub tok { my ($sub, %c) = @_; return mint(tenant => 'pf', claims => { sub => $sub, %c }) }
sub preflight {
    my ($path, %o) = @_;
    my $extra = delete $o{headers} || [];
    return obo_request($V, 'OPTIONS', $path, %o, headers => [@PF, @$extra]);
}

subtest 'a preflight passes Require valid-user and reaches mod_headers and the backend' => sub {
    my $r = preflight('/pf/backend', headers => ['OBO-Claim-sub' => 'forged', 'X-Downstream-Token' => 'forged']);
    is $r->code, 200, 'proxied preflight: 200, not 401' or diag describe($r);
    is $r->header('Access-Control-Allow-Origin'), 'https://app.example', 'mod_headers answered the CORS part';
    my $b = json_body($r) || {};
    is $b->{method}, 'OPTIONS', 'the backend got the OPTIONS request';
    is_deeply [backend_header($r, 'Origin')], ['https://app.example'], 'with its Origin';
    ok !backend_header($r, 'OBO-Claim-sub'), 'a client-sent OBO-Claim-sub is still removed';
    ok !grep({ $_->[0] =~ /^OBO/i } backend_headers($r)), 'no OBO-* header at the backend';
    ok !backend_header($r, 'Authorization'), 'no Authorization at the backend';
    ok !$r->header('WWW-Authenticate'), 'no challenge';
    $r = preflight('/pf/nothing-here');
    is $r->code, 200, 'a preflight answered by httpd itself (OPTIONS): 200' or diag describe($r);
    is $r->header('Access-Control-Allow-Origin'), 'https://app.example', 'with the CORS header';
};

subtest 'Require obo-scope, exchange and hand-off: none of it for a preflight' => sub {
    my $before = idp_counter('token@pf');
    my $r = preflight('/pfx/backend');
    is $r->code, 200, 'preflight: 200' or diag describe($r);
    ok !backend_header($r, 'X-Downstream-Token'), 'no downstream token header';
    ok !backend_header($r, 'Authorization'), 'no Authorization (OBOPassToken authorization)';
    is idp_counter('token@pf'), $before, 'no exchange at the IdP';
    my $u = fresh_user('pfx');
    $r = obo_get($V, '/pfx/backend', token => tok($u));
    is $r->code, 200, 'control: a GET with a token exchanges' or diag describe($r);
    ok scalar(backend_header($r, 'X-Downstream-Token')), 'and hands the token off';
    is idp_counter('token@pf'), $before + 2, 'two exchanges (two downstreams)';
};

# Review 11: an OPTIONS with a body and X-HTTP-Method-Override: DELETE was
# let through as a preflight and ran the protected CGI (and reached the
# proxied backend) without a user.
subtest 'an OPTIONS with a body or a method override is no preflight: 401' => sub {
    my $r = preflight('/pf/backend', headers => ['Content-Type' => 'application/json'],
                      content => '{"delete":"everything"}');
    is $r->code, 401, 'with a body: 401' or diag describe($r);
    ok !(json_body($r) || {})->{method}, '  the backend did not get it';
    $r = preflight('/pf/backend', headers => ['X-HTTP-Method-Override' => 'DELETE']);
    is $r->code, 401, 'with X-HTTP-Method-Override: 401' or diag describe($r);
    $r = preflight('/pf/backend', headers => ['X-Method-Override' => 'PUT']);
    is $r->code, 401, 'with X-Method-Override: 401' or diag describe($r);
    $r = preflight('/pf/backend', headers => ['Content-Length' => '0']);
    is $r->code, 200, 'Content-Length: 0 is still a preflight: 200' or diag describe($r);
};

subtest 'what is not a preflight is treated as before' => sub {
    expect_no_token(obo_request($V, 'OPTIONS', '/pf/backend'), 'OPTIONS without CORS headers: 401',
                    realm => 'pf');
    expect_no_token(obo_request($V, 'OPTIONS', '/pf/backend', headers => [Origin => 'https://app.example']),
                    'Origin without Access-Control-Request-Method: 401', realm => 'pf');
    expect_no_token(obo_request($V, 'OPTIONS', '/pf/backend', headers => [
                        Origin => 'https://app.example', 'Access-Control-Request-Method' => '']),
                    'an empty Access-Control-Request-Method names no method: 401 (review 14B)',
                    realm => 'pf');
    expect_no_token(obo_request($V, 'GET', '/pf/backend', headers => [@PF]),
                    'a GET with the CORS headers: 401', realm => 'pf');
    expect_invalid_token(preflight('/pf/backend', authorization => 'Bearer not.a.token'),
                         'a preflight with an Authorization header is a request: 401 invalid_token',
                         realm => 'pf');
    my $u = fresh_user('pfa');
    my $r = preflight('/pf/backend', token => tok($u));
    is $r->code, 200, 'an OPTIONS with a valid token: 200' or diag describe($r);
    is_deeply [backend_header($r, 'OBO-Claim-sub')], [$u], 'authenticated: the claims as usual';
};

subtest 'OBOPreflight deny, and the merge of a child Location' => sub {
    expect_no_token(preflight('/pfdeny/backend'), 'deny: 401 as before', realm => 'pf');
    is preflight('/pfdeny/allow/backend')->code, 200, 'a child Location with allow: 200';
};

subtest 'Require rules that do not depend on a user still apply' => sub {
    my $mark = error_log_mark();
    is preflight('/pfip/backend')->code, 403, '<RequireAll> with Require ip refusing: 403';
    is preflight('/pfany/backend')->code, 200, '<RequireAny> of Require ip and valid-user: 200';
    like error_log_since($mark), qr/OBO405: CORS preflight \(OPTIONS from origin "https:\/\/app\.example"\) let through/,
         'OBO405 at debug';
};

subtest 'metrics count preflights' => sub {
    my $get = sub {
        my $d = json_body(obo_get('default', '/obo-status?format=json')) || {};
        return $d->{requests}{preflight};
    };
    my $before = $get->();
    ok defined $before, 'the JSON has requests.preflight' or return;
    preflight('/pf/backend') for 1 .. 3;
    is $get->(), $before + 3, 'requests_total{result="preflight"} +3';
};

done_testing();
