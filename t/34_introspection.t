# SPDX-License-Identifier: Apache-2.0
# Opaque tokens (issue 16, part 1): RFC 7662 introspection at the test IdP
# (vhost obo_intro, tenant xintro, client_secret_basic). Accepted and
# refused answers (inactive, expired, wrong audience or issuer, a refresh
# token, a non-boolean active), scope / claims / REMOTE_USER from the
# answer, OBOTokenFormat auto and jwt, the cache (one IdP call per token),
# the 503 of a failing IdP (not cached), the RFC 8693 exchange of an
# introspected token, the startup error of opaque + on-behalf-of, and the
# metrics.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(check_config expect_config_errors);
use JSON::PP ();
use LWP::UserAgent;

need_feature('authn', 'exchange');
idp_reset();

my $V = 'obo_intro';
my $T = 'xintro';
my $ISS = idp_url("/$T/v2.0");
my $TRUE = JSON::PP::true;
my $FALSE = JSON::PP::false;

# an opaque token of a fresh user, answered with these members (+ %o)
sub opaque {
    my (%o) = @_;
    my $sub = delete $o{sub} // fresh_user('opq');
    my %c = (active => $TRUE, sub => $sub, iss => $ISS, aud => 'api://test-api',
             exp => time + 600, scope => 'orders.read profile', token_type => 'Bearer',
             client_id => 'frontend', %o);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;   # undef: no such member
    return (idp_opaque(%c), $sub);
}

sub calls { return idp_counter("introspect\@$T") }

sub refused {
    my ($tok, $name, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = obo_get($V, '/o/env', token => $tok);
    expect_invalid_token($r, "$name: 401 invalid_token", realm => $T);
    my $c = www_authenticate($r);
    like $c && $c->{params}{error_description} // '', $desc, "$name: error_description"
        if $desc;
    return $r;
}

# Review 39B-F1: where no provider is the primary (only JWKS lines with
# issuers), an introspected token's user was a bare name while the same
# provider's JWTs were value@issuer
subtest 'no primary provider: an introspected user is value@issuer too' => sub {
    my $piss = 'https://partner.example.test/';
    my $pki = OBOTest::Keys::pki_dir();
    my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
    my %t;
    ($t{with}, my $s1) = opaque(iss => $piss);
    ($t{without}, my $s2) = opaque(iss => undef);
    my $conf = "OBOJWKSFile $pki/jwks-static.json $piss\n"
             . "OBOIntrospectionURL https://127.0.0.1:$port/$T/oauth2/v2.0/introspect\n"
             . "OBOCACertificateFile $pki/ca.pem\nOBOAudience api://test-api\n"
             . "OBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests\n"
             . "<Location />\n AuthType obo\n OBOTokenFormat opaque\n"
             . " Require user $s1\@$piss $s2\@$piss\n</Location>";
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return { map { $_ => $ua->get("http://127.0.0.1:$_[0]/public.txt",
                                      Authorization => "Bearer $t{$_}")->code } keys %t };
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}{with}, 200, 'an answer with the partner\'s iss: user@iss' or diag $c->{output};
    is $c->{probe}{without}, 200, 'an answer without iss: user@ the provider\'s issuer'
        or diag $c->{output};
};

subtest 'an active opaque token: accepted, claims from the answer, one IdP call' => sub {
    my ($tok, $sub) = opaque();
    my $before = calls();
    my $r = obo_get($V, '/o/env', token => $tok);
    expect_ok($r, 'opaque token: 200', user => $sub);
    my $env = cgi_env($r);
    is $env->{OBO_CLAIM_client_id}, 'frontend', 'OBOPassClaims exports the answer\'s members';
    is $env->{OBO_CLAIM_scope}, 'orders.read profile', 'scope too';
    is calls() - $before, 1, 'one introspection call';
    my ($last) = grep { ($_->{endpoint} // '') eq 'introspect' } reverse @{ idp_last_requests() };
    is $last->{method}, 'client_secret_basic', 'the client authenticated as at the token endpoint';
    is $last->{hint}, 'access_token', 'token_type_hint access_token';
    expect_ok(obo_get($V, '/o/env', token => $tok), 'again: 200', user => $sub);
    expect_ok(obo_get($V, '/a/env', token => $tok), 'in an auto Location: 200', user => $sub);
    is calls() - $before, 1, 'answered from the cache: no second call';
};

subtest 'refused answers' => sub {
    my $before = calls();
    refused((opaque(active => $FALSE))[0], 'active false', qr/not active/);
    refused(idp_opaque(sub => 'nobody', aud => 'api://test-api'), 'active missing', qr/not active/);
    refused((opaque(active => 'true'))[0], 'active "true" (a string)', qr/not active/);
    refused('opq_' . ('Z' x 40), 'a token the IdP does not know', qr/not active/);
    refused((opaque(exp => time - 600))[0], 'expired', qr/expired/);
    refused((opaque(nbf => time + 3600))[0], 'not yet valid', qr/not yet valid/);
    refused((opaque(aud => 'api://someone-else'))[0], 'wrong audience', qr/audience/);
    refused((opaque(aud => ['api://a', 'api://b']))[0], 'wrong audience array', qr/audience/);
    refused((opaque(iss => idp_url('/other/v2.0')))[0], 'another issuer', qr/issuer/);
    refused((opaque(token_type => 'refresh_token'))[0], 'a refresh token', qr/refresh token/);
    is calls() - $before, 10, 'each was introspected once';
    my ($tok) = opaque(aud => ['api://x', 'api://test-api']);
    expect_ok(obo_get($V, '/o/env', token => $tok), 'aud an array naming OBOAudience: 200');
    ($tok) = opaque(aud => undef, iss => undef, exp => undef);
    expect_ok(obo_get($V, '/o/env', token => $tok), 'no aud, iss or exp (all optional): 200');
};

subtest 'an inactive answer is cached too (at most 10 s)' => sub {
    my ($tok) = opaque(active => $FALSE);
    my $before = calls();
    refused($tok, 'inactive');
    refused($tok, 'inactive again');
    is calls() - $before, 1, 'one call for both';
};

subtest 'Require obo-scope and obo-claim, OBORemoteUserClaim on the answer' => sub {
    my ($tok) = opaque();
    expect_ok(obo_get($V, '/s/env', token => $tok), 'scope orders.read in "scope": 200');
    ($tok) = opaque(scope => 'profile');
    my $r = obo_get($V, '/s/env', token => $tok);
    is $r->code, 403, 'without it: 403';
    my $c = www_authenticate($r);
    is $c && $c->{params}{error}, 'insufficient_scope', 'insufficient_scope';
    ($tok) = opaque(scope => undef, scp => 'orders.read');
    is obo_get($V, '/s/env', token => $tok)->code, 403,
       'scp is not an introspection member: 403';
    ($tok) = opaque(dept => 'sales', username => 'alice.sales');
    expect_ok(obo_get($V, '/c/env', token => $tok), 'obo-claim dept:sales, REMOTE_USER from '
              . 'OBORemoteUserClaim username', user => 'alice.sales');
    ($tok) = opaque(dept => 'hr', username => 'bob');
    is obo_get($V, '/c/env', token => $tok)->code, 403, 'dept hr: 403';
};

subtest 'OBOTokenFormat auto and jwt' => sub {
    my $sub = fresh_user('jwt');
    my $jwt = mint(tenant => $T, claims => { sub => $sub });
    my $before = calls();
    expect_ok(obo_get($V, '/a/env', token => $jwt), 'auto: a JWT is validated locally',
              user => $sub);
    expect_ok(obo_get($V, '/j/env', token => $jwt), 'jwt: a JWT', user => $sub);
    is calls() - $before, 0, 'no introspection for a JWT';
    my ($tok) = opaque();
    refused_at('/j/env', $tok, 'jwt (the default): an opaque token is not introspected');
    is calls() - $before, 0, 'no introspection call';
};

sub refused_at {
    my ($path, $tok, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    expect_invalid_token(obo_get($V, $path, token => $tok), "$name: 401", realm => $T);
}

subtest 'the IdP fails: 503 with Retry-After, nothing cached' => sub {
    my ($tok, $sub) = opaque();
    idp_set("introspect_fault\@$T" => '500');
    my $mark = error_log_mark();
    my $r = obo_get($V, '/o/env', token => $tok);
    idp_set("introspect_fault\@$T" => '');
    is $r->code, 503, 'introspection unreachable: 503' or diag describe($r);
    ok defined $r->header('Retry-After'), 'with Retry-After';
    like error_log_since($mark), qr/OBO426: cannot validate token sha256:\S+: introspection unavailable/,
         'OBO426 logged';
    unlike error_log_since($mark), qr/\Q$tok\E/, 'the token is never logged';
    my $before = calls();
    expect_ok(obo_get($V, '/o/env', token => $tok), 'the IdP is back: 200 (the failure was not '
              . 'cached)', user => $sub);
    is calls() - $before, 1, 'it called again';
    idp_set("introspect_fault\@$T" => 'down');
    ($tok) = opaque();
    is obo_get($V, '/o/env', token => $tok)->code, 503, 'a closed connection: 503';
    idp_set("introspect_fault\@$T" => '');
};

subtest 'RFC 8693: an introspected token is exchanged as subject_token' => sub {
    my ($tok, $sub) = opaque();
    my $r = obo_get($V, '/x/env', token => $tok);
    expect_ok($r, 'token-exchange Location: 200', user => $sub);
    my $at = cgi_env($r)->{OBO_ACCESS_TOKEN};
    ok $at, 'a downstream token';
    my $c = $at ? decode_idp_token($at) : undef;
    is $c && $c->{obo_grant}, 'token-exchange', 'from the RFC 8693 grant';
    is $c && $c->{sub}, $sub, 'for the introspected user';
    is token_calls($sub), 1, 'one exchange';
};

subtest 'startup: OBOExchange on-behalf-of with OBOTokenFormat opaque' => sub {
    my $port = OBOTest::idp_port();
    my $base = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
             . "OBOAudience api://test-api\nOBOClientID middle-tier-api\n"
             . "OBOClientSecret s3cret-for-tests";
    my $loc = "<Location /api>\n AuthType obo\n Require valid-user\n OBOTokenFormat %s\n"
            . " OBOScope api://downstream/.default\n</Location>";
    expect_config_errors(
        ['opaque + on-behalf-of (the default)', "$base\n" . sprintf($loc, 'opaque'),
         qr/OBO420: OBOExchange on-behalf-of .*OBOTokenFormat opaque/],
        ['opaque at server level + on-behalf-of',
         "$base\nOBOTokenFormat opaque\n<Location /api>\n AuthType obo\n Require valid-user\n"
         . " OBOScope api://downstream/.default\n</Location>",
         qr/OBO420: OBOExchange on-behalf-of .*OBOTokenFormat opaque/],
        ['OBOTokenFormat bogus', "$base\n" . sprintf($loc, 'bogus'), qr/OBOTokenFormat/],
        ['OBOIntrospectionURL http', "$base\nOBOIntrospectionURL http://127.0.0.1/introspect",
         qr/OBOIntrospectionURL/],
        ['opaque without client credentials',
         ($base =~ s/OBOClientSecret .*//r) . "\n<Location /o>\n AuthType obo\n Require valid-user\n"
         . " OBOTokenFormat opaque\n</Location>", qr/OBO430/],
    );
    my $c = check_config("$base\nOBOExchange token-exchange\n" . sprintf($loc, 'opaque'));
    ok $c->{started}, 'opaque + token-exchange starts' or diag $c->{output};
    $c = check_config("$base\n" . sprintf($loc, 'auto'));
    ok $c->{started}, 'auto + on-behalf-of starts (JWTs are exchanged)' or diag $c->{output};
    $c = check_config("$base\n<Location /api>\n AuthType obo\n Require valid-user\n"
                      . " OBOTokenFormat opaque\n OBOScope api://reports/.default app\n</Location>");
    ok $c->{started}, 'opaque + on-behalf-of starts when the only downstream is the '
        . 'application\'s (its grant never sends the caller\'s token)' or diag $c->{output};
};

subtest 'a 503 with Retry-After pauses the introspection endpoint' => sub {
    idp_set("introspect_fault\@$T" => '503_retry_after', "retry_after\@$T" => 4);
    my $mark = error_log_mark();
    my $before = calls();
    my $r = obo_get($V, '/o/env', token => (opaque())[0]);
    is $r->code, 503, 'the IdP\'s 503: 503';
    is $r->header('Retry-After'), 4, 'with the IdP\'s Retry-After';
    $r = obo_get($V, '/o/env', token => (opaque())[0]);
    is $r->code, 503, 'another token during the pause: 503';
    ok $r->header('Retry-After') >= 1 && $r->header('Retry-After') <= 4, 'with what is left';
    is calls() - $before, 1, 'without calling the IdP';
    like error_log_since($mark), qr/OBO423: introspection endpoint \S+ answered HTTP 503 with Retry-After 4 s: calls to it are paused for 4 s/,
         'OBO423 logged';
    idp_set("introspect_fault\@$T" => '', "retry_after\@$T" => '');
    sleep 5;
    my ($tok, $sub) = opaque();
    expect_ok(obo_get($V, '/o/env', token => $tok), 'after the pause: 200', user => $sub);
};

subtest 'private_key_jwt at OBOIntrospectionURL; OBOIntrospectionCacheTime 0' => sub {
    my $pt = 'xintropk';
    idp_set("discovery_fault\@$pt" => 'no_introspection_endpoint');
    my $sub = fresh_user('pk');
    my $tok = idp_opaque(active => $TRUE, sub => $sub, iss => idp_url("/$pt/v2.0"),
                         aud => 'api://test-api', exp => time + 600);
    my $before = idp_counter("introspect\@$pt");
    expect_ok(obo_get('obo_intro_pk', '/o/env', token => $tok), 'opaque token: 200',
              user => $sub);
    my ($last) = grep { ($_->{endpoint} // '') eq 'introspect' } reverse @{ idp_last_requests() };
    like $last->{method} // '', qr/^private_key_jwt:PS256$/,
         'a private_key_jwt assertion (PS256) for the token endpoint\'s audience';
    expect_ok(obo_get('obo_intro_pk', '/o/env', token => $tok), 'again: 200', user => $sub);
    is idp_counter("introspect\@$pt") - $before, 2, 'cache time 0: each request introspects';
    idp_set("discovery_fault\@$pt" => '');
};

# Review 11: the OBO420/OBO428 refusals counted app downstreams too.
subtest 'an opaque token where the only downstream is the application\'s: 200' => sub {
    my $pt = 'xintropk';
    my $sub = fresh_user('pkapp');
    my $tok = idp_opaque(active => $TRUE, sub => $sub, iss => idp_url("/$pt/v2.0"),
                         aud => 'api://test-api', exp => time + 600);
    my $r = obo_get('obo_intro_pk', '/aa/env', token => $tok);
    expect_ok($r, 'OBOTokenFormat auto + OBOScope ... app: 200, not OBO428', user => $sub);
    ok cgi_env($r)->{OBO_ACCESS_TOKEN}, 'with the application\'s token';
};

# Review 12: every random string an anonymous client sent as an opaque token
# wrote a lock and an inactive answer into OBOCache shm, whose rings evict
# their oldest entry for each new one: 300 such requests turned a 512 KiB
# cache over twice, evicting tokens and sessions in use.
sub shm_counter {
    my ($name) = @_;
    my $text = obo_get($V, '/obo-status?format=prometheus')->decoded_content // '';
    my ($n) = $text =~ /^\Q$name\E (\d+)$/m;
    return $n;
}

subtest 'random opaque strings write nothing into the shm cache' => sub {
    # bursts of 30: a loaded machine (the suite's shards side by side) timed
    # out some of 150 at once
    my $N = 60;
    my $writes = shm_counter('mod_auth_obo_shm_cache_writes_total');
    ok defined $writes, "mod_auth_obo_shm_cache_writes_total is shown ($writes)" or return;
    my $before = calls();
    my @tok = map { join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 40 } 1 .. $N;
    my @res = map { burst(map { [ vhost_url($V, '/o/env'), Authorization => "Bearer $_" ] } @$_) }
              ([ @tok[0 .. 29] ], [ @tok[30 .. 59] ]);
    is scalar(grep { $_->{code} == 401 } @res), $N, "$N unknown tokens: 401 each"
        or diag join ' ', map { $_->{code} } @res;
    is calls() - $before, $N, 'each introspected once';
    my $after = shm_counter('mod_auth_obo_shm_cache_writes_total');
    cmp_ok $after - $writes, '<=', 3, "shm cache entries written: ${\ ($after - $writes)} "
        . '(no lock, no inactive answer; was 2 per token)';
    is shm_counter('mod_auth_obo_shm_locks_displaced_total'), 0,
       'the lock table never had to displace a live lock';
    my $r = obo_get($V, '/o/env', token => $tok[0]);
    is $r->code, 401, 'one of them again: 401';
    is calls() - $before, $N, 'without a call: the note (or the L1) remembered it';
    # the counter is the server's: another virtual host's key set may be
    # published meanwhile (a few writes at most)
    my @act = map { [ opaque() ] } 1 .. 10;
    $writes = shm_counter('mod_auth_obo_shm_cache_writes_total');
    is scalar(grep { obo_get($V, '/o/env', token => $_->[0])->code == 200 } @act), 10,
       '10 active tokens: 200 each';
    my $d = shm_counter('mod_auth_obo_shm_cache_writes_total') - $writes;
    ok $d >= 10 && $d <= 13, "their answers are $d shm entries: one each (the locks live in "
       . 'the lock table; were 2 each)';
};

# Review 14A: while the endpoint failed, each random string's failure was
# shared with its waiters through a sealed entry in the shm cache, and 250
# such requests ended a long-running session.
subtest 'while introspection fails, random strings write nothing into the shm cache' => sub {
    my $N = 60;
    my $writes = shm_counter('mod_auth_obo_shm_cache_writes_total');
    idp_set("introspect_fault\@$T" => '500');
    my $before = calls();
    my @tok = map { join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 40 } 1 .. $N;
    my @res = map { burst(map { [ vhost_url($V, '/o/env'), Authorization => "Bearer $_" ] } @$_) }
              ([ @tok[0 .. 29] ], [ @tok[30 .. 59] ]);
    idp_set("introspect_fault\@$T" => '');
    is scalar(grep { $_->{code} == 503 } @res), $N, "$N unknown tokens, endpoint failing: 503";
    is calls() - $before, $N, 'each one call';
    my $delta = shm_counter('mod_auth_obo_shm_cache_writes_total') - $writes;
    cmp_ok $delta, '<=', 3, "shm cache entries written: $delta (was one per failure)";
};

# Review 15A: each failed exchange shared its failure through a sealed entry
# in the shm cache, even with nobody waiting: one caller resending a token
# whose exchange kept failing turned the rings over idle sessions.
subtest 'a failing exchange writes nothing into the shm cache' => sub {
    my ($tok) = opaque();
    expect_ok(obo_get($V, '/o/env', token => $tok), 'the token is introspected once');
    my $writes = shm_counter('mod_auth_obo_shm_cache_writes_total');
    idp_set("token_fault\@$T" => '500');
    my @codes = map { obo_get($V, '/x/env', token => $tok)->code } 1 .. 20;
    idp_set("token_fault\@$T" => '');
    is scalar(grep { $_ == 502 } @codes), 20, '20 requests, the exchange fails: 502 each'
        or diag "@codes";
    my $delta = shm_counter('mod_auth_obo_shm_cache_writes_total') - $writes;
    cmp_ok $delta, '<=', 3, "shm cache entries written: $delta (was two per request)";
};

subtest 'metrics' => sub {
    my $r = obo_get($V, '/obo-status?format=prometheus');
    is $r->code, 200, 'status page';
    my $text = $r->decoded_content // '';
    my ($ok) = $text =~ /^mod_auth_obo_idp_requests_total\{endpoint="introspection",outcome="ok"\} (\d+)$/m;
    ok $ok && $ok > 0, "introspection calls counted (ok: ${\ ($ok // 'none')})";
    my ($err) = $text =~ /^mod_auth_obo_idp_requests_total\{endpoint="introspection",outcome="server_error"\} (\d+)$/m;
    ok $err && $err > 0, 'the failed one too (server_error)';
    for my $l ('level="l1",result="hit"', 'level="shared",result="miss"') {
        my ($n) = $text =~ /^mod_auth_obo_introspection_cache_total\{\Q$l\E\} (\d+)$/m;
        ok $n && $n > 0, "mod_auth_obo_introspection_cache_total{$l}: ${\ ($n // 'none')}";
    }
    my $html = obo_get($V, '/obo-status')->decoded_content // '';
    like $html, qr/introspection/, 'the HTML page shows them';
};

done_testing();
