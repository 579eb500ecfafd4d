# SPDX-License-Identifier: Apache-2.0
# Long-running On-Behalf-Of sessions (vhost obo_lr, memcached): the session
# key reaches a CGI (OBO_SESSION_KEY) and a proxied backend (OBO-Session-Key)
# and a client's own copy never does; the obo-token handler returns a
# downstream token after the caller's token has expired, refreshes once the
# downstream token expires (rotating refresh tokens at the IdP), ends
# sessions on DELETE and on a revoked refresh token, and refuses unknown
# keys, keys in the URL and keys used at a Location of another client id or
# downstream set. Nothing secret in error_log or in memcached in clear.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
memcached_cmd('flush_all');
my $V = 'obo_lr';
my $mark = error_log_mark();
my (%keys_seen, %ats_seen);

sub ut {
    my ($sub, %c) = @_;
    return mint(tenant => 'lr', claims => { sub => $sub, oid => oid_of($sub), %c });
}
sub open_session {    # a user request at /lr/env: (key, access token, response)
    my ($t, @h) = @_;
    my $r = obo_get($V, '/lr/env', token => $t, headers => [@h]);
    my $env = cgi_env($r);
    $keys_seen{ $env->{OBO_SESSION_KEY} } = 1 if $env->{OBO_SESSION_KEY};
    $ats_seen{ $env->{OBO_ACCESS_TOKEN} } = 1 if $env->{OBO_ACCESS_TOKEN};
    return ($env->{OBO_SESSION_KEY}, $env->{OBO_ACCESS_TOKEN}, $r);
}
sub handler {
    my ($key, %o) = @_;
    my $r = obo_request($o{vhost} // $V, $o{method} // 'GET', $o{path} // '/token',
                        headers => [ defined $key ? ('OBO-Session-Key' => $key) : () ],
                        (defined $o{content} ? (content => $o{content}) : ()));
    my $j = json_body($r);
    $ats_seen{ $j->{access_token} } = 1 if ref $j eq 'HASH' && $j->{access_token};
    return ($r, ref $j eq 'HASH' ? $j : {});
}
sub sessions_metric {    # the status page's session figures (all processes)
    my $r = obo_get($V, '/obo-status?format=json');
    my $j = json_body($r);
    return ref $j eq 'HASH' && ref $j->{sessions} eq 'HASH' ? $j->{sessions}
                                                           : { started => -1000, ended => -1000 };
}
sub refreshes { my ($sub) = @_; return idp_counters()->{"grant:refresh_token:$sub"} // 0 }

subtest 'the key reaches CGI and proxied backends; client copies never do' => sub {
    my $sub = fresh_user('lrkey');
    my $t = ut($sub);
    my ($key, $at, $r) = open_session($t, 'OBO-Session-Key' => 'forged-by-client',
                                      'OBO_SESSION_KEY' => 'forged-too');
    expect_ok($r, 'long-running Location: 200', user => $sub);
    like $key // '', qr/^[A-Za-z0-9_-]{43}$/, 'CGI: OBO_SESSION_KEY is 256 bits in base64url';
    ok decode_idp_token($at), 'CGI: OBO_ACCESS_TOKEN is a downstream token';
    my $env = cgi_env($r);
    is $env->{HTTP_OBO_SESSION_KEY}, $key, 'the client\'s OBO-Session-Key was replaced';
    ok !grep({ ($env->{$_} // '') =~ /forged/ } keys %$env), 'no forged value anywhere in the CGI env';
    my $last = idp_last_requests()->[-1];
    like $last->{params}{scope} // '', qr/(^| )offline_access( |$)/, 'the exchange asked for offline_access';
    is token_calls($sub), 1, 'one IdP call';

    $r = obo_get($V, '/lr/backend/x', token => $t, headers => ['OBO-Session-Key' => 'forged-by-client',
                 'OBO.Session.Key' => 'forged-look-alike', 'OBO.Claim.Sub' => 'forged-claim']);
    expect_status($r, 200, 'proxied: 200');
    is_deeply [ backend_header($r, 'OBO-Session-Key') ], [$key],
        'proxied backend: exactly the module\'s key, the same session for the same caller token';
    unlike $r->content, qr/forged-look-alike|forged-claim/,
        'look-alike names (OBO.Session.Key, OBO.Claim.Sub) never reach the proxied backend';
    is token_calls($sub), 1, 'same caller token: no extra IdP call';

    my ($key2) = open_session(ut($sub));
    ok $key2 && $key2 ne $key, 'a new caller token starts a new session';
    is token_calls($sub), 2, 'which made one IdP call';

    $r = obo_get($V, '/plain/env', token => $t, headers => ['OBO-Session-Key' => 'forged-by-client']);
    expect_status($r, 200, 'ordinary Location: 200');
    $env = cgi_env($r);
    ok !exists $env->{OBO_SESSION_KEY} && !exists $env->{HTTP_OBO_SESSION_KEY},
        'ordinary exchanging Location: no session key, the client\'s copy removed';
};

subtest 'after the caller token expired: tokens from the handler, refresh on expiry' => sub {
    idp_set('expires_in@lr' => 6);    # downstream tokens: 6 s (OBOCacheMargin 2)
    my $sub = fresh_user('lrexp');
    my $t = ut($sub, exp => int(time) + 3);
    my ($key, $at0) = open_session($t);
    ok $key, 'session opened';
    my ($r, $j) = handler($key);
    expect_status($r, 200, 'handler: 200');
    is $j->{access_token}, $at0, 'the stored access token (no IdP call)';
    is $j->{token_type}, 'Bearer', 'token_type Bearer';
    ok $j->{expires_on} && $j->{expires_on} > time, 'expires_on in the future';
    like $j->{scope} // '', qr{downstream}, 'scope';
    like $r->header('Cache-Control') // '', qr/no-store/, 'Cache-Control: no-store';
    like $r->header('Content-Type') // '', qr{application/json}, 'JSON';
    is token_calls($sub), 1, 'still one IdP call';

    sleep 4.5;
    expect_status(obo_get($V, '/lr/env', token => $t), 401, 'the caller token has expired');
    ($r, $j) = handler($key);
    expect_status($r, 200, 'handler after the caller token expired: 200');
    my $at1 = $j->{access_token} // '';
    isnt $at1, $at0, 'a new downstream token';
    my $c = decode_idp_token($at1) || {};
    is $c->{obo_grant}, 'refresh_token', 'from the refresh-token grant';
    is $c->{sub}, $sub, 'for the same user';
    is refreshes($sub), 1, 'one refresh call';
    ($r, $j) = handler($key, method => 'POST', content => '');
    is $j->{access_token}, $at1, 'POST: the same token, stored';
    is refreshes($sub), 1, 'no second refresh';

    sleep 4.5;
    ($r, $j) = handler($key);
    expect_status($r, 200, 'after the downstream token expired: 200');
    ok $j->{access_token} && $j->{access_token} ne $at1, 'refreshed again';
    is refreshes($sub), 2, 'the second refresh used the rotated refresh token';
    is idp_counter('refresh_stale'), 0, 'no stale refresh token was ever presented';
    idp_set('expires_in@lr' => '');
};

subtest 'refusals: unknown key, key in the URL, other client id or downstream set' => sub {
    my $sub = fresh_user('lrbad');
    my ($key) = open_session(ut($sub));
    ok $key, 'session opened';
    my ($r, $j) = handler('A' x 43);
    expect_status($r, 404, 'unknown key: 404');
    is $j->{error}, 'session_not_found', 'error session_not_found';
    ($r, $j) = handler('not-a-key');
    expect_status($r, 404, 'malformed key: 404');
    ($r, $j) = handler(undef);
    expect_status($r, 400, 'no key: 400');
    ($r, $j) = handler($key, path => "/token?session_key=$key");
    expect_status($r, 400, 'key in the query string: 400');
    is $j->{error}, 'invalid_request', 'invalid_request';
    ($r) = handler($key, path => "/token/$key");
    expect_status($r, 400, 'key in the path: 400');
    ($r) = handler($key, method => 'POST', content => "session_key=$key");
    expect_status($r, 400, 'key as a form field: 400');
    # review 36A-F7: the refused path and query are not in the access log
    {
        my $log = Apache::Test::vars('t_logs') . '/lr_access_log';
        my $text = '';
        for (1 .. 20) {    # the log line is written after the answer
            $text = do { local $/; open my $fh, '<', $log or last; <$fh> } // '';
            last if $text =~ m{/token\|.*\n.*/token\|}s;
            select undef, undef, undef, 0.1;
        }
        like $text, qr{GET /token HTTP/1\.1\|\|/token}, 'the access log records the handler\'s URL';
        unlike $text, qr/\Q$key\E/, '... without the key sent in its query or path';
    }
    ($r) = handler($key, method => 'PUT', content => '');
    expect_status($r, 405, 'PUT: 405');
    ($r) = handler($key, path => '/token?downstream=nosuch');
    expect_status($r, 404, 'a downstream the session does not have: 404');
    ($r) = handler($key, path => '/remotetoken');
    expect_status($r, 403, 'a handler Location the client may not reach: 403');
    # a request the handler never saw (403 by Require): its path and query
    # are not in the access log either
    ($r) = handler($key, path => "/remotetoken/$key?session_key=$key");
    expect_status($r, 403, 'the key in the path and query of a refused handler URL: 403');
    {
        my $log = Apache::Test::vars('t_logs') . '/lr_access_log';
        my $text = '';
        for (1 .. 20) {
            $text = do { local $/; open my $fh, '<', $log or last; <$fh> } // '';
            last if $text =~ m{/remotetoken\n(?:.*\n)*.*/remotetoken\n};
            select undef, undef, undef, 0.1;
        }
        like $text, qr{(?:GET /remotetoken HTTP/1\.1\|\|/remotetoken\n.*){2}}s,
             'the access log records both refused requests at the handler\'s URL ...';
        unlike $text, qr/\Q$key\E/, '... without the key in its path or query';
    }
    # review 40A-F2: the same where RewriteRule [H=obo-token] or AddHandler
    # places the handler (applied after authorization: not on a refusal)
    ($r) = handler($key, path => "/rwtoken?session_key=$key");
    expect_status($r, 403, 'RewriteRule [H=obo-token], refused: 403');
    ($r) = handler($key, path => "/exttoken/s.otok?session_key=$key");
    expect_status($r, 403, 'AddHandler obo-token .otok, refused: 403');
    ($r) = handler($key, path => "/exttoken/s.otok/$key");
    expect_status($r, 403, 'AddHandler, the key in the path: 403');
    {
        my $log = Apache::Test::vars('t_logs') . '/lr_access_log';
        my $text = '';
        for (1 .. 20) {
            $text = do { local $/; open my $fh, '<', $log or last; <$fh> } // '';
            last if ($text =~ tr/\n//) >= 3 && $text =~ m{(?:exttoken.*\n.*){2}}s;
            select undef, undef, undef, 0.1;
        }
        like $text, qr{GET /rwtoken HTTP/1\.1\|\|/rwtoken\n},
             'the access log records the rewritten handler URL ...';
        like $text, qr{(?:GET /exttoken\S* HTTP/1\.1\|\|/exttoken\S*\n.*){2}}s,
             '... and the AddHandler ones ...';
        unlike $text, qr/\Q$key\E/, '... without the key in their path or query';
    }
    ($r) = handler($key, vhost => 'obo_lr_c2');
    expect_status($r, 404, 'handler of another client id: 404');
    ($r) = handler($key, path => '/dstoken');
    expect_status($r, 404, 'handler of another downstream set: 404');
    ($r) = handler($key, path => '/token?downstream=');
    expect_status($r, 200, 'the right handler still answers 200 for it');

    my $other = fresh_user('lrother');
    my $r2 = obo_get($V, '/lx/env', token => ut($other), headers => ['OBO-Session-Key' => $key]);
    my $env = cgi_env($r2);
    $keys_seen{ $env->{OBO_SESSION_KEY} } = 1 if $env->{OBO_SESSION_KEY};
    ok $env->{OBO_SESSION_KEY} && $env->{OBO_SESSION_KEY} ne $key,
        'user B sending user A\'s key at another Location gets only a session of its own';
    isnt $env->{HTTP_OBO_SESSION_KEY}, $key, 'A\'s key does not reach that backend';
    ($r) = handler($env->{OBO_SESSION_KEY}, path => '/dstoken');
    expect_status($r, 200, 'B\'s session is served at the handler of its downstream set');
};

subtest 'DELETE ends the session; a revoked refresh token gives 401 and ends it' => sub {
    my $sub = fresh_user('lrdel');
    my $t = ut($sub);
    my $s0 = sessions_metric();
    my ($key) = open_session($t);
    open_session($t);
    my $s1 = sessions_metric();
    is $s1->{started} - $s0->{started}, 1, 'mod_auth_obo_sessions_total: one session started';
    my ($r) = handler($key, method => 'DELETE');
    expect_status($r, 204, 'DELETE: 204');
    my $s2 = sessions_metric();
    is $s2->{ended} - $s1->{ended}, 1, 'mod_auth_obo_sessions_total: one session ended';
    is $r->content, '', 'no body';
    ($r, my $j) = handler($key);
    expect_status($r, 404, 'after DELETE: 404');
    is $j->{error}, 'session_not_found', 'session_not_found';
    ($r) = handler($key, method => 'DELETE');
    expect_status($r, 404, 'DELETE again: 404');
    my ($key2) = open_session($t);
    ok $key2 && $key2 ne $key, 'the same caller token then starts a new session';

    idp_set('expires_in@lr' => 6);
    my $rs = fresh_user('lrrev');
    my ($rk) = open_session(ut($rs));
    my $rev = OBOTest::idp_post_json("/control/revoke?sub=$rs");
    ok $rev->{revoked} >= 1, "IdP: $rev->{revoked} refresh token(s) of the user revoked";
    ($r) = handler($rk);
    expect_status($r, 200, 'before the access token expires: still served');
    sleep 4.5;
    ($r, $j) = handler($rk);
    expect_status($r, 401, 'revoked refresh token: 401');
    is $j->{error}, 'interaction_required', 'error interaction_required';
    like $j->{error_description} // '', qr/AADSTS50173/, 'error_description from the IdP';
    is $j->{suberror}, 'bad_token', 'suberror';
    like $r->header('Cache-Control') // '', qr/no-store/, 'Cache-Control: no-store';
    ($r) = handler($rk);
    expect_status($r, 404, 'the session has ended: 404');
    is idp_counter('grant:refresh_token:' . $rs), 1, 'one refused refresh, no retries';
    idp_set('expires_in@lr' => '');
};

# Review 36B-F6 (vhost obo_lr_multi: downstreams default and b): a POST
# body the handler cannot read (JSON, multipart, text) was discarded, and a
# backend that named downstream=b there got the default downstream's token
# (200), one meant for another API. Two downstream values that differ were
# settled by the last one (a framework appending "downstream=" got the
# default's token), and a form's %ZZ was decoded twice (404). All are 400.
subtest 'the handler: downstream= named once, in a query or urlencoded form; else 400' => sub {
    my $M = 'obo_lr_multi';
    my $sub = fresh_user('lrds');
    my $env = cgi_env(obo_get($M, '/lr/env', token => user_token($sub, 'lrmulti')));
    my $key = $env->{OBO_SESSION_KEY};
    ok $key, 'a session with two downstreams' or return;
    $keys_seen{$key} = 1;
    my $ask = sub {
        my ($method, $path, %o) = @_;
        my $r = obo_request($M, $method, $path, headers => [ 'OBO-Session-Key' => $key ], %o);
        my $j = json_body($r);
        $j = {} unless ref $j eq 'HASH';
        $ats_seen{ $j->{access_token} } = 1 if $j->{access_token};
        my $c = $j->{access_token} ? decode_idp_token($j->{access_token}) : undef;
        return ($r, $j, ref $c eq 'HASH' ? (ref $c->{aud} ? $c->{aud}[0] : $c->{aud}) : '');
    };
    my ($r, $j, $aud);
    for my $ok (
        [ 'GET ?downstream=b', 'GET', '/token?downstream=b', 'api://other' ],
        [ 'POST urlencoded downstream=b', 'POST', '/token', 'api://other',
          content => 'downstream=b' ],
        [ 'POST urlencoded; charset=utf-8', 'POST', '/token', 'api://other',
          content => 'downstream=b', content_type => 'application/x-www-form-urlencoded; charset=UTF-8' ],
        [ 'GET without downstream', 'GET', '/token', 'api://downstream' ],
        [ 'POST with an empty JSON-typed body', 'POST', '/token', 'api://downstream',
          content => '', content_type => 'application/json' ],
        [ 'the same value twice in the query', 'GET', '/token?downstream=b&downstream=b',
          'api://other' ],
        [ 'the same value in query and form', 'POST', '/token?downstream=b', 'api://other',
          content => 'downstream=b' ],
    ) {
        my ($what, $method, $path, $want, %o) = @$ok;
        ($r, $j, $aud) = $ask->($method, $path, %o);
        expect_status($r, 200, "$what: 200");
        is $aud, $want, "... the token for $want";
    }
    my $m = error_log_mark();
    my $boundary = 'obo-test-boundary';
    for my $bad (
        [ 'a JSON body', 'POST', '/token', content => '{"downstream":"b"}',
          content_type => 'application/json' ],
        [ 'a multipart body', 'POST', '/token',
          content => "--$boundary\r\nContent-Disposition: form-data; name=\"downstream\"\r\n\r\n"
                     . "b\r\n--$boundary--\r\n",
          content_type => "multipart/form-data; boundary=$boundary" ],
        [ 'a text/plain body', 'POST', '/token', content => 'downstream=b',
          content_type => 'text/plain' ],
        [ '?downstream=b&downstream=', 'GET', '/token?downstream=b&downstream=' ],
        [ '?downstream=&downstream=b', 'GET', '/token?downstream=&downstream=b' ],
        [ '?downstream=b&downstream=c (was 404)', 'GET', '/token?downstream=b&downstream=c' ],
        [ 'query b, form empty', 'POST', '/token?downstream=b', content => 'downstream=' ],
        [ 'query empty, form b', 'POST', '/token?downstream=', content => 'downstream=b' ],
        [ 'form b&b&c', 'POST', '/token', content => 'downstream=b&downstream=b&downstream=c' ],
        [ 'form %ZZ (was 404)', 'POST', '/token', content => 'downstream=%ZZ' ],
        [ 'query %ZZ', 'GET', '/token?downstream=%ZZ' ],
        [ 'a NUL byte in the form before a second downstream', 'POST', '/token',
          content => "downstream=b\0&downstream=c" ],
        # review 37C-F1: a GET (or DELETE) with a body is not read
        [ 'a GET with a form body', 'GET', '/token', content => 'downstream=b' ],
    ) {
        my ($what, $method, $path, %o) = @$bad;
        ($r, $j) = $ask->($method, $path, %o);
        expect_status($r, 400, "$what: 400");
        is $j->{error}, 'invalid_request', '... invalid_request';
        ok !$j->{access_token}, '... and no token';
    }
    ($r, $j) = $ask->('POST', '/token', content => 'downstream=%ZZ');
    like $j->{error_description} // '', qr/bad downstream name/, '%ZZ: "bad downstream name"';
    ($r, $j) = $ask->('POST', '/token', content => '{"downstream":"b"}',
                      content_type => 'application/json');
    like $j->{error_description} // '', qr{application/x-www-form-urlencoded},
        'a JSON body: the answer says what the handler reads';
    my $log = error_log_since($m);
    like $log, qr{OBO132: token handler: bad request: .*application/x-www-form-urlencoded},
        'OBO132 for a body of another type';
    like $log, qr/OBO132: token handler: bad request: .*downstream.*more than once/,
        'OBO132 for two downstream values';
    ($r, $j, $aud) = $ask->('GET', '/token?downstream=b');
    is $aud, 'api://other', 'the session still serves b';
};

subtest 'no refresh token or session key in error_log or in memcached in clear' => sub {
    my $st = OBOTest::idp_get_json('/control/state');
    my @rts = keys %{ $st->{rts} || {} };
    ok scalar(@rts) >= 5, scalar(@rts) . ' refresh tokens issued';
    my @keys = keys %keys_seen;
    ok scalar(@keys) >= 5, scalar(@keys) . ' session keys seen';
    my @secrets = (@rts, @keys, map { (split /\./)[2] // () } keys %ats_seen);
    my $log = error_log_since($mark);
    ok length($log) > 0, 'error_log has lines about these requests';
    like $log, qr/OBO332/, 'sessions were logged (by fingerprint)';
    my @in_log = grep { index($log, $_) >= 0 || index($log, substr($_, 0, 20)) >= 0 } @secrets;
    is scalar(@in_log), 0, 'error_log: no refresh token, session key or token signature'
        or diag "leaked: @in_log";
    # the session entries are named by hashes of the key (obo_session.h);
    # metadump may list only part of them, so they are looked up directly
    my %mk = map { $_ => 1 } memcached_keys();
    for my $k (@keys) {
        $mk{ memcached_name('obos:' . sha256_hex("$_\n$k\n")) } = 1 for qw(meta alive rt at);
    }
    my @mk = grep { defined memcached_get($_) } sort keys %mk;
    my %sess = map { memcached_name('obos:' . sha256_hex("$_->[0]\n$_->[1]\n")) => 1 }
               map { my $k = $_; map { [$_, $k] } qw(meta alive rt at) } @keys;
    ok scalar(grep { $sess{$_} } @mk) >= 8, scalar(@mk) . ' memcached entries, session entries among them';
    my $leak = 0;
    for my $k (@mk) {
        my $v = memcached_get($k) // '';
        for my $s (@secrets, 'rt-', 'eyJ') {
            $leak++, diag("memcached $k holds a recognisable piece") if index($k, $s) >= 0
                || index($v, $s) >= 0 || (length $s > 20 && index($v, substr($s, 0, 20)) >= 0);
        }
    }
    is $leak, 0, 'memcached: no key or value contains a refresh token, session key or JWT';
};

idp_reset();
done_testing();
