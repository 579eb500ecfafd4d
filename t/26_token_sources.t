# SPDX-License-Identifier: Apache-2.0
# Issue 16 part 4: where the token comes from (OBOAcceptTokenAs). A token in
# an accepted cookie, the access_token query parameter or form field is
# validated like the header's and removed from what the CGI, the proxied
# backend and the access log see; other cookies, parameters and fields stay.
# A token in two accepted places is a 400 invalid_request (RFC 6750 s.2);
# one in a place that is not accepted is ignored. Bad values stop configtest;
# query and form warn at startup (OBO401). vhost obo_src.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(check_config expect_config_errors);
use Time::HiRes qw(sleep);

need_feature('authn', 'exchange');
my $V = 'obo_src';

sub tok { my ($sub) = @_; return mint(tenant => 'src', claims => { sub => $sub }) }

sub no_leak {
    my ($r, $t, $name) = @_;
    ok index($r->content // '', $t) < 0, "$name: the token is nowhere in what the backend got";
}

sub expect_invalid_request {
    my ($r, $name) = @_;
    my $c = www_authenticate($r);
    ok $r->code == 400 && $c && ($c->{params}{error} // '') eq 'invalid_request'
        && ($c->{params}{realm} // '') eq 'src', "$name: 400 invalid_request with the challenge"
        or diag describe($r);
}

subtest 'cookie: accepted, removed from Cookie, the other cookies kept' => sub {
    my $u = fresh_user('ck');
    my $t = tok($u);
    my $r = obo_get($V, '/cookie/env', headers => [Cookie => "pre=1; obo_at=$t; post=2"]);
    expect_ok($r, 'cookie token: 200 with the user', user => $u);
    is cgi_env($r)->{HTTP_COOKIE}, 'pre=1; post=2', 'the CGI sees the other cookies only';
    no_leak($r, $t, 'CGI');
    $r = obo_get($V, '/cookie/backend', headers => [Cookie => "obo_at=\"$t\"; post=2"]);
    is $r->code, 200, 'a quoted cookie value: 200' or diag describe($r);
    is_deeply [backend_header($r, 'Cookie')], ['post=2'], 'the backend gets the other cookie';
    no_leak($r, $t, 'proxied backend');
    $r = obo_get($V, '/cookie/env', headers => [Cookie => "obo_at=$t"]);
    expect_ok($r, 'the only cookie', user => $u);
    ok !exists cgi_env($r)->{HTTP_COOKIE}, 'no Cookie header left';
    expect_no_token(obo_get($V, '/cookie/env', token => $t), 'the header is not accepted here: 401',
                    realm => 'src');
    expect_no_token(obo_get($V, '/hdr/env', headers => [Cookie => "obo_at=$t"]),
                    'a cookie where only the header is accepted: ignored, 401', realm => 'src');
    expect_invalid_token(obo_get($V, '/cookie/env', headers => [Cookie => 'obo_at=not a token']),
                         'a malformed cookie value: 401 invalid_token', realm => 'src');
};

subtest 'query: accepted, removed from QUERY_STRING, REQUEST_URI, the backend URL' => sub {
    my $u = fresh_user('q');
    my $t = tok($u);
    my $r = obo_get($V, "/query/env?a=1&access_token=$t&b=2");
    expect_ok($r, 'query token: 200 with the user', user => $u);
    my $env = cgi_env($r);
    is $env->{QUERY_STRING}, 'a=1&b=2', 'QUERY_STRING without access_token';
    is $env->{REQUEST_URI}, '/query/env?a=1&b=2', 'REQUEST_URI without access_token';
    no_leak($r, $t, 'CGI');
    $r = obo_get($V, "/query/env?access_token=$t");
    expect_ok($r, 'the only parameter', user => $u);
    is cgi_env($r)->{QUERY_STRING}, '', 'QUERY_STRING empty';
    is cgi_env($r)->{REQUEST_URI}, '/query/env', 'REQUEST_URI without the query';
    $r = obo_get($V, "/query/backend?x=%20y&access%5Ftoken=$t");
    is $r->code, 200, 'a percent-encoded name is the same parameter: 200' or diag describe($r);
    is json_body($r)->{uri}, '/query/backend?x=%20y', 'the backend URL keeps the other parameter';
    no_leak($r, $t, 'proxied backend');
    expect_no_token(obo_get($V, "/hdr/env?access_token=$t"),
                    'a query token where only the header is accepted: ignored, 401', realm => 'src');
    expect_ok(obo_get($V, "/query/env?access_token=$t", token => 'not-looked-at'),
              'a header where only the query is accepted: ignored, 200', user => $u);
};

subtest 'query: backend URLs built before authentication (nocanon, RewriteRule [P])' => sub {
    my $u = fresh_user('nc');
    my $t = tok($u);
    for my $path ('/ncq/x', '/rwq/x') {
        my $r = obo_get($V, "$path?a=%2F&access_token=$t&b");
        is $r->code, 200, "$path: 200" or diag describe($r);
        is json_body($r)->{uri}, "$path?a=%2F&b", "$path: the backend URL without access_token";
        no_leak($r, $t, $path);
    }
};

subtest 'the access log does not show a query token' => sub {
    my $u = fresh_user('log');
    my $t = tok($u);
    my $r = obo_get($V, "/query/env?k=v&access_token=$t");
    expect_ok($r, 'status 200 with the user', user => $u);
    $r = obo_get($V, '/cookie/env', headers => [Cookie => "obo_at=$t; keep=1"]);
    expect_ok($r, 'status 200 with the user', user => $u);
    my $log = Apache::Test::vars('t_logs') . '/src_access_log';
    my $text = '';
    for (1 .. 20) {
        $text = do { local (@ARGV, $/) = $log; <> } // '';
        last if $text =~ m{\|keep=1$}m;
        sleep 0.1;
    }
    like $text, qr{^GET /query/env\?k=v HTTP/1\.1\|\?k=v\|/query/env\|}m,
         '%r, %q and %U without access_token';
    like $text, qr{^GET /cookie/env HTTP/1\.1\|\|/cookie/env\|keep=1$}m,
         '%{Cookie}i without the accepted cookie';
    ok index($text, $t) < 0, 'the token is nowhere in the access log';
};

# Review 11: through an internal redirect (Action) the earlier request kept
# the token: %r, REQUEST_URI and REDIRECT_QUERY_STRING showed it.
subtest 'a query token reached through an internal redirect is removed there too' => sub {
    my $u = fresh_user('qredir');
    my $t = tok($u);
    my $r = obo_get($V, "/pubq/x?a=1&access_token=$t");
    expect_ok($r, 'public Action into a Location that accepts query tokens: 200', user => $u);
    my $env = cgi_env($r);
    is $env->{QUERY_STRING}, 'a=1', 'QUERY_STRING without access_token';
    unlike $env->{REQUEST_URI} // '', qr/access_token/, 'REQUEST_URI without access_token';
    unlike $env->{REDIRECT_QUERY_STRING} // '', qr/access_token/,
           'REDIRECT_QUERY_STRING without access_token';
    no_leak($r, $t, 'CGI');
    my $log = Apache::Test::vars('t_logs') . '/src_access_log';
    my $text = '';
    for (1 .. 20) {
        $text = do { local (@ARGV, $/) = $log; <> } // '';
        last if $text =~ m{^GET /pubq/x}m;
        sleep 0.1;
    }
    like $text, qr{^GET /pubq/x\?a=1 HTTP/1\.1\|}m, '%r without access_token';
    ok index($text, $t) < 0, 'the token is nowhere in the access log';
};

# Review 11: names a backend such as PHP reads as access_token passed beside
# the validated token, never validated.
subtest 'access.token, access+token, access_token[]: the same parameter' => sub {
    my $u = fresh_user('qnames');
    my $t = tok($u);
    my $r = obo_get($V, "/query/env?access_token=$t&access.token=forged&b=2");
    expect_invalid_request($r, 'access_token and access.token: two tokens');
    $r = obo_get($V, "/query/env?access_token%5B%5D=$t&b=2");
    expect_ok($r, 'access_token[] alone is the token: 200', user => $u);
    is cgi_env($r)->{QUERY_STRING}, 'b=2', '  and is removed';
};

# Review 30B: ASP.NET's query and cookie collections ignore case, so a
# case variant reached such a backend as the token, never validated.
subtest 'case variants of access_token and of the cookie: the same name' => sub {
    my $u = fresh_user('qcase');
    my $t = tok($u);
    expect_invalid_request(obo_get($V, "/query/env?access_token=$t&ACCESS_TOKEN=forged&b=2"),
                           'access_token and ACCESS_TOKEN: two tokens');
    expect_invalid_request(obo_get($V, '/cookie/env', headers => [Cookie => "obo_at=$t; OBO_AT=forged"]),
                           'obo_at and OBO_AT: two tokens');
    my $r = obo_get($V, "/query/env?Access_Token=$t&b=2");
    expect_ok($r, 'Access_Token alone is the token: 200', user => $u);
    is cgi_env($r)->{QUERY_STRING}, 'b=2', '  and is removed';
    $r = obo_get($V, '/cookie/env', headers => [Cookie => "Obo_At=$t; post=2"]);
    expect_ok($r, 'Obo_At alone is the cookie: 200', user => $u);
    is cgi_env($r)->{HTTP_COOKIE}, 'post=2', '  and is removed';
};

subtest 'form: accepted in a urlencoded POST, removed from the body' => sub {
    my $u = fresh_user('f');
    my $t = tok($u);
    my $r = obo_post($V, '/form/env', content => "a=1&access_token=$t&b=2");
    expect_ok($r, 'form token: 200 with the user', user => $u);
    is json_body($r)->{body}, 'a=1&b=2', 'the CGI reads the rest of the body';
    is cgi_env($r)->{CONTENT_LENGTH}, 7, 'CONTENT_LENGTH follows';
    no_leak($r, $t, 'CGI');
    $r = obo_post($V, '/form/backend', content => "access_token=$t&z=%26");
    is $r->code, 200, 'proxied: 200' or diag describe($r);
    is json_body($r)->{body}, 'z=%26', 'the backend gets the rest of the body';
    no_leak($r, $t, 'proxied backend');
    expect_no_token(obo_post($V, '/form/env', content => "{\"access_token\":\"$t\"}",
                             content_type => 'application/json'),
                    'not a form (JSON): 401', realm => 'src');
    expect_no_token(obo_get($V, "/form/env?access_token=$t"),
                    'GET: the query is not the form, 401', realm => 'src');
    my $mark = error_log_mark();
    expect_status(obo_post($V, '/form/env', content => 'a=' . ('x' x 70000)), 413,
                  'a form body over 64 KiB: 413');
    like error_log_since($mark), qr/OBO402: a form body over 65536 bytes/, 'OBO402';

    # review 33A-F3: a raw NUL byte made the module skip the body, and the
    # backend (which reads past it) got the token, with a header token too
    $mark = error_log_mark();
    $r = obo_post($V, '/all/backend', token => $t, content => "access_token=$t&f=a\x00b");
    is $r->code, 400, 'a form body with a NUL byte: 400' or diag describe($r);
    unlike $r->decoded_content // '', qr/\Q$t\E/, '  the token reached no backend';
    like error_log_since($mark), qr/OBO407: a form body with a NUL byte/, '  OBO407';
    $r = obo_post($V, '/form/env', content => "access_token=$t&f=a\x00b");
    is $r->code, 400, 'the same as the only token: 400';
    # review 33A-F3b: PHP reads "urlencoded,text/plain" as a form
    $r = obo_post($V, '/all/env', token => $t, content => "access_token=$t&f=2",
                  content_type => 'application/x-www-form-urlencoded,text/plain');
    is $r->code, 400, 'a form media type followed by a comma is a form: two places, 400'
        or diag describe($r);
    $r = obo_post($V, '/form/env', content => "access_token=$t&f=2",
                  content_type => 'application/x-www-form-urlencoded,text/plain');
    expect_ok($r, '  and its form token is taken', user => $u);
    is json_body($r)->{body}, 'f=2', '  and removed';

    # review 34A-F1: "Content-Encoding: identity" (or empty) is no coding,
    # and PUT, PATCH and DELETE bodies are forms to Rack, Werkzeug, ASP.NET
    for my $ce ('identity', '') {
        $r = obo_post($V, '/all/env', token => $t, content => "access_token=$t&f=2",
                      headers => [ 'Content-Encoding' => $ce ]);
        is $r->code, 400, "Content-Encoding '$ce': the form is looked into, two places: 400";
    }
    $r = obo_post($V, '/all/env', token => $t, content => "access_token=$t&f=2",
                  headers => [ 'Content-Encoding' => 'x-unknown' ]);
    is $r->code, 415, 'another content coding where form tokens are taken: 415';
    unlike $r->decoded_content // '', qr/\Q$t\E/, '  and no backend saw the body';
    for my $m (qw(PUT PATCH DELETE)) {
        $r = obo_request($V, $m, '/all/env', token => $t, content => "access_token=$t&f=2");
        is $r->code, 400, "$m with a form token and a header token: 400";
        $r = obo_request($V, $m, '/form/env', content => "access_token=$t&f=2");
        expect_ok($r, "$m with the form token alone: taken", user => $u);
        is json_body($r)->{body}, 'f=2', '  and removed';
    }

    # review 34A-F3: a chunked form body's trailers reach the headers after
    # the scrub (MergeTrailers on): refused wherever the module reads a form
    require IO::Socket::INET;
    my ($hp) = vhost_url($V, '/') =~ m{^http://([^/]+)/};
    my $sock = IO::Socket::INET->new(PeerAddr => $hp, Timeout => 10) or die "connect $hp: $!";
    my $body = "access_token=$t&f=2";
    print $sock "POST /form/env HTTP/1.1\r\nHost: $hp\r\nConnection: close\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        . sprintf("%x\r\n%s\r\n0\r\nOBO-Claim-roles: Admin\r\n\r\n", length $body, $body);
    my $raw = do { local $/; <$sock> } // '';
    like $raw, qr{^HTTP/1\.1 400 }, 'a chunked form body with a trailer field: 400';
    unlike $raw, qr/Admin/, '  the trailer reached no backend';
};

subtest 'a body is kept for the handler when the token comes from elsewhere' => sub {
    my $u = fresh_user('kb');
    my $t = tok($u);
    my $r = obo_post($V, '/all/env', token => $t, content => 'a=1&b=2');
    expect_ok($r, 'header token, form body without one: 200', user => $u);
    is json_body($r)->{body}, 'a=1&b=2', 'the CGI reads the whole body';
    $r = obo_post($V, '/all/act', content => "access_token=$t&c=3");
    expect_status($r, 200, 'form token, then an internal redirect (Action) to a CGI');
    is json_body($r)->{body}, 'c=3', 'the redirected CGI reads the rest of the body';
    is cgi_env($r)->{CONTENT_LENGTH}, 3, 'and its length';
    my $big = 'v=' . ('y' x 50000);
    $r = obo_post($V, '/all/backend', token => $t, content => $big);
    is $r->code, 200, '50 KB body proxied: 200' or diag describe($r);
    is length(json_body($r)->{body} // ''), length($big), 'the backend gets every byte';
};

subtest 'a token in more than one place: 400 invalid_request' => sub {
    my $t = tok(fresh_user('two'));
    my $mark = error_log_mark();
    expect_invalid_request(obo_get($V, "/all/env?access_token=$t", token => $t), 'header and query');
    expect_invalid_request(obo_get($V, '/all/env', token => $t, headers => [Cookie => "obo_at=$t"]),
                           'header and cookie');
    expect_invalid_request(obo_get($V, "/all/env?access_token=$t", headers => [Cookie => "alt_at=$t"]),
                           'cookie and query');
    expect_invalid_request(obo_get($V, "/all/env?access_token=$t&access_token=$t"), 'query twice');
    expect_invalid_request(obo_get($V, '/all/env', headers => [Cookie => "obo_at=$t; alt_at=$t"]),
                           'two accepted cookies');
    expect_invalid_request(obo_get($V, '/all/env', headers => [Cookie => "obo_at=$t; obo_at=$t"]),
                           'one cookie twice');
    expect_invalid_request(obo_post($V, "/all/env?access_token=$t", content => "access_token=$t"),
                           'query and form');
    expect_invalid_request(obo_get($V, "/xq/backend?access_token=$t", headers => [Cookie => "obo_at=$t"]),
                           'in an exchanging Location');
    like error_log_since($mark), qr/OBO400: bearer token in more than one place \(header, query\)/,
         'OBO400 names the places';
    unlike error_log_since($mark), qr/\Q$t\E/, 'the token is not logged';
};

subtest 'a child Location with its own list replaces its parent\'s' => sub {
    my $u = fresh_user('ch');
    my $t = tok($u);
    expect_ok(obo_get($V, "/all/env?access_token=$t"), 'parent: query accepted', user => $u);
    expect_no_token(obo_get($V, "/all/backend/hdronly?access_token=$t"),
                    'child: header only, 401', realm => 'src');
    expect_status(obo_get($V, '/all/backend/hdronly', token => $t), 200, 'child: the header');
};

subtest 'an exchange with a query token: the backend gets the downstream token only' => sub {
    my $u = fresh_user('xq');
    my $t = tok($u);
    my $r = obo_get($V, "/xq/backend?p=1&access_token=$t",
                    headers => [Cookie => 'other=1']);
    is $r->code, 200, 'status 200' or diag describe($r);
    is json_body($r)->{uri}, '/xq/backend?p=1', 'the backend URL without access_token';
    my ($d) = backend_header($r, 'X-Downstream-Token');
    my $c = defined $d ? decode_idp_token($d) : undef;
    ok $c && $c->{aud} eq 'api://downstream', 'the downstream token' or diag $d // 'none';
    no_leak($r, $t, 'proxied backend');
};

subtest 'configtest refuses bad values, warns for query and form' => sub {
    my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
    my $base = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
             . "OBOAudience api://test-api";
    my $loc = sub { "$base\n<Location /api>\n AuthType obo\n Require valid-user\n $_[0]\n</Location>" };
    expect_config_errors(
        ['unknown place', $loc->('OBOAcceptTokenAs header body'),
         qr/OBOAcceptTokenAs: 'body' is not a place a token comes from/],
        ['cookie without a name', $loc->('OBOAcceptTokenAs cookie:'),
         qr/OBOAcceptTokenAs: 'cookie:' does not name a cookie/],
        ['cookie name with a bad character', $loc->('OBOAcceptTokenAs "cookie:a;b"'),
         qr/OBOAcceptTokenAs: 'cookie:a;b' does not name a cookie/],
        ['a place twice', $loc->('OBOAcceptTokenAs header query header'),
         qr/OBOAcceptTokenAs: header is listed twice/],
        ['a cookie twice', $loc->('OBOAcceptTokenAs cookie:x cookie:x'),
         qr/OBOAcceptTokenAs: cookie:x is listed twice/],
        ['twice in one section', $loc->("OBOAcceptTokenAs header\n OBOAcceptTokenAs query"),
         qr/OBOAcceptTokenAs: is given twice in this section/],
        ['no value', $loc->('OBOAcceptTokenAs'), qr/OBOAcceptTokenAs/],
        ['OBOPreflight', $loc->('OBOPreflight maybe'), qr/OBOPreflight: must be allow or deny/],
    );
    my $c = check_config($loc->('OBOAcceptTokenAs header cookie:sess query form'));
    ok $c->{syntax_ok}, 'every place: configtest passes' or diag $c->{output};
    like $c->{output}, qr/OBO401: OBOAcceptTokenAs query \(.*\): tokens in URLs reach access logs/,
         'OBO401 for query';
    like $c->{output}, qr/OBO401: OBOAcceptTokenAs form /, 'OBO401 for form';
    $c = check_config("$base\nOBOAcceptTokenAs cookie:sess\nOBOPreflight deny\n"
                      . "<Location /api>\n AuthType obo\n Require valid-user\n</Location>");
    ok $c->{syntax_ok}, 'at server level' or diag $c->{output};
    unlike $c->{output}, qr/OBO401/, 'no warning without query or form';
};

done_testing();
