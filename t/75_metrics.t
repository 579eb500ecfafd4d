# SPDX-License-Identifier: Apache-2.0
# Metrics across processes (SetHandler obo-status): a second httpd with 2
# child processes that each serve at most 4 connections, so that a run of
# sequential requests is served by at least 3 different processes (the
# access log's %P says which), some of which have exited by the time the
# page is read. The figures must move exactly as the requests predict:
#   - keys unavailable (JWKS 500): no_keys, and the figure survives a
#     graceful restart;
#   - no token, an invalid token, a token without the required scope;
#   - one user on N connections: one token request, a shared-cache miss,
#     then per process one L1 miss (a shared hit except for the first) and
#     L1 hits for the rest;
#   - IdP errors: invalid_grant is a user_error, a 500 a server_error;
#   - IdP requests by endpoint agree with the test IdP's own counters, JWKS
#     loads with the key sets fetched, the histogram's count with the token
#     requests;
#   - after a graceful restart nothing is lost and counting goes on;
# and JSON, Prometheus (strictly checked), HTML and mod_status agree.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Mint qw(mint);
use OBOTest::Config qw(libexecdir);
use OBOTest::Prometheus qw(prom_parse prom_value);
use OBOTest::Services ();
use File::Path qw(remove_tree);
use JSON::PP ();
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');

my $T = 'm75';
my $N = 12;    # requests of one user, each on its own connection
my $lib = libexecdir();
my $dir = OBOTest::Services::run_dir() . "/$T";
remove_tree("$dir/mod_auth_obo");    # no saved keys from an earlier run
unlink "$dir/access_log";

my $h = OBOTest::Httpd2->start(procs => 2, cache => 'shm', tenant => $T, name => $T, extra => <<"EOF");
<IfModule !mod_log_config.c>
    LoadModule log_config_module "$lib/mod_log_config.so"
</IfModule>
<IfModule !mod_status.c>
    LoadModule status_module "$lib/mod_status.so"
</IfModule>
MaxConnectionsPerChild 4
# keys at the first request: its failure is counted below
OBOPreloadKeys Off
CustomLog "$dir/access_log" "%P %>s %U"
<Location /obo-status>
    SetHandler obo-status
</Location>
<Location /server-status>
    SetHandler server-status
</Location>
<Location /scoped>
    AuthType obo
    Require obo-scope not.granted
</Location>
EOF

my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
sub get {
    my ($path, $token) = @_;
    return $ua->get($h->url($path), $token ? (Authorization => "Bearer $token") : ());
}
# The counters only: the summary's reasons (ages in seconds) and what the
# answering process sees now (its keys' age, cache nodes) are not figures
# that survive a restart unchanged (t/78 checks them).
sub figures {
    my $r = get('/obo-status?format=json');
    is($r->code, 200, 'status page') or diag $r->as_string;
    my $j = JSON::PP::decode_json($r->decoded_content);
    delete @$j{qw(summary verdict keys cache_nodes sessions_live)};
    return $j;
}
sub idp { my $c = idp_counters(); return { map { $_ => $c->{"$_\@$T"} // 0 } qw(token jwks discovery) } }
sub total { my ($o) = @_; my $s = 0; $s += $_ for values %$o; return $s }

my $idp0 = idp();
my $m0 = figures();
is(total($m0->{requests}), 0, 'a new server starts at zero');

# --- keys unavailable
idp_set("jwks_fault\@$T" => '500');
is(get('/x/backend/nokeys', mint(tenant => $T))->code, 503, 'JWKS 500: 503');
idp_set("jwks_fault\@$T" => '');
my $m = figures();
is($m->{requests}{no_keys}, 1, 'no_keys counted');
cmp_ok($m->{idp_requests}{jwks}{server_error}, '>=', 1, 'the failed JWKS request: server_error');
ok(defined $h->graceful, 'graceful restart');
my $after = figures();
is_deeply($after, $m, 'every figure survives the graceful restart');

# --- rejections
is(get('/x/backend/none')->code, 401, 'no token: 401');
is(get('/x/backend/bad', mint(tenant => $T, sign_key => 'rsa-b'))->code, 401, 'bad signature: 401');
is(get('/scoped', mint(tenant => $T))->code, 403, 'scope missing: 403');
$m = figures();
is($m->{requests}{no_token}, 1, 'no_token');
is($m->{requests}{invalid_token}, 1, 'invalid_token');
is($m->{requests}{insufficient_scope}, 1, 'insufficient_scope');
is($m->{requests}{accepted}, 0, 'nothing accepted yet');

# --- one user, many connections, several processes
my $tok = mint(tenant => $T, claims => { sub => 'm75-user', oid => 'm75-oid' });
my $ok = 0;
for my $i (1 .. $N) {
    $ok++ if get("/x/backend/hit$i", $tok)->code == 200;
}
is($ok, $N, "$N requests of one user succeed");
my @pids;
my $end = time + 10;
while (time < $end) {
    open my $fh, '<', "$dir/access_log" or last;
    @pids = map { (split)[0] } grep { m{ 200 /x/backend/hit\d+$} } <$fh>;
    last if @pids == $N;
    sleep 0.2;
}
is(scalar @pids, $N, 'every request logged');
my %procs = map { $_ => 1 } @pids;
my $P = keys %procs;
cmp_ok($P, '>=', 3, "served by $P processes (at most 4 connections each)");
my $m2 = figures();
is($m2->{requests}{accepted}, $N, "accepted: $N");
is($m2->{idp_requests}{token}{ok}, 1, 'one token request');
is($m2->{token_cache}{shared}{miss}, 1, 'one shared-cache miss');
is($m2->{token_cache}{shared}{hit}, $P - 1, 'a shared hit in every other process');
is($m2->{token_cache}{l1}{miss}, $P, 'an L1 miss per process');
is($m2->{token_cache}{l1}{hit}, $N - $P, 'L1 hits for the rest');
is($m2->{single_flight_waits}, 0, 'no concurrent fill: no waits');
# the L1 of validated tokens: one full validation per process, then hits
is($m2->{validated_token_cache}{miss} - $m->{validated_token_cache}{miss}, $P,
   'validated-token L1: a miss (full validation) per process');
is($m2->{validated_token_cache}{hit} - $m->{validated_token_cache}{hit}, $N - $P,
   'validated-token L1: hits for the rest');
is($m2->{validated_token_cache_deferred}, 0, 'an L1 with free slots defers nothing');
is(total($m2->{cache_backend_errors}), 0, 'no backend errors');

# --- IdP errors
idp_set("token_fault\@$T" => 'invalid_grant');
my $code = get('/x/backend/ig', mint(tenant => $T, claims => { sub => 'm75-ig' }))->code;
idp_set("token_fault\@$T" => '500');
my $code2 = get('/x/backend/five', mint(tenant => $T, claims => { sub => 'm75-500' }))->code;
idp_set("token_fault\@$T" => '');
cmp_ok($code, '>=', 400, "invalid_grant: $code");
is($code2, 502, 'IdP 500: 502');
my $m3 = figures();
is($m3->{idp_requests}{token}{user_error}, 1, 'invalid_grant: one user_error');
cmp_ok($m3->{idp_requests}{token}{server_error}, '>=', 1, 'IdP 500: server_error');
is($m3->{idp_requests}{token}{ok}, 1, 'no other token request');
# The token was accepted; the exchange failed afterwards.
is($m3->{requests}{accepted}, $N + 2, 'both requests\' tokens were accepted');
is($m3->{token_cache}{shared}{miss}, 3, 'both were shared-cache misses');

# --- against the IdP's own counters
my $idp1 = idp();
for my $ep (qw(token jwks discovery)) {
    is(total($m3->{idp_requests}{$ep}), $idp1->{$ep} - $idp0->{$ep},
       "$ep requests counted = requests the IdP received");
}
is($m3->{jwks_refreshes}, $m3->{idp_requests}{jwks}{ok}, 'a key set loaded per JWKS fetched');
# a process fetched its keys or took those another had put in the shm cache
cmp_ok($m3->{jwks_refreshes} + $m3->{key_sets_reused}{shared_cache}, '>=', $P,
       'every process loaded keys');
cmp_ok($m3->{jwks_refreshes}, '>=', 1, 'one at least from the IdP');
is($m3->{idp_request_duration_seconds}{count}, total($m3->{idp_requests}{token}),
   'every token request timed');
cmp_ok($m3->{idp_request_duration_seconds}{sum}, '>', 0, 'durations add up');

# --- the other formats agree
my $pr = get('/obo-status?format=prometheus');
is($pr->header('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8', 'Prometheus type');
my ($f, $err) = prom_parse($pr->decoded_content);
is_deeply($err, [], 'Prometheus output passes the strict checker') or diag explain $err;
is(prom_value($f, 'mod_auth_obo_requests_total', result => 'accepted'), $m3->{requests}{accepted},
   'Prometheus accepted');
is(prom_value($f, 'mod_auth_obo_token_cache_total', level => 'l1', result => 'hit'),
   $m3->{token_cache}{l1}{hit}, 'Prometheus L1 hits');
is(prom_value($f, 'mod_auth_obo_idp_requests_total', endpoint => 'token', outcome => 'user_error'),
   1, 'Prometheus token user_error');
is(prom_value($f, 'mod_auth_obo_idp_request_duration_seconds_count'),
   $m3->{idp_request_duration_seconds}{count}, 'Prometheus histogram count');
is(prom_value($f, 'mod_auth_obo_requests_total', result => 'no_keys'), 1, 'Prometheus no_keys');

my $html = get('/obo-status')->decoded_content;
my @stack;
my $balanced = 1;
while ($html =~ m{<(/?)(html|head|title|body|h1|p|table|tr|th|td|a)\b[^>]*>}g) {
    if (!$1) { push @stack, $2 }
    elsif (!@stack || pop(@stack) ne $2) { $balanced = 0 }
}
ok($balanced && !@stack, 'HTML tags balanced');
like($html, qr{<td>requests</td><td>result=accepted</td><td>$m3->{requests}{accepted}</td>},
     'HTML: accepted');
like($html, qr{<td>token_cache</td><td>level=l1 result=hit</td><td>@{[ $N - $P ]}</td>},
     'HTML: L1 hits');

my $auto = get('/server-status?auto')->decoded_content;
like($auto, qr/^AuthOBORequestsAccepted: $m3->{requests}{accepted}$/m, 'mod_status ?auto: accepted');
like($auto, qr/^AuthOBOCacheL1Hits: @{[ $N - $P ]}$/m, 'mod_status ?auto: L1 hits');
like($auto, qr/^AuthOBOValidatedTokenCacheDeferred: $m3->{validated_token_cache_deferred}$/m,
     'mod_status ?auto: validated-token L1 deferred stores');
like(get('/server-status')->decoded_content, qr{<h2>mod_auth_obo</h2>.*result=no_keys</td><td>1<}s,
     'mod_status page: the module\'s section');

# --- a graceful restart keeps everything, and counting goes on
ok(defined $h->graceful, 'second graceful restart');
my $m4 = figures();
is_deeply($m4, $m3, 'figures unchanged by the restart');
is(get('/x/backend/again', $tok)->code, 200, 'the user again, in the new generation');
my $m5 = figures();
is($m5->{requests}{accepted}, $m4->{requests}{accepted} + 1, 'accepted goes on from the old figure');
is($m5->{token_cache}{l1}{miss}, $m4->{token_cache}{l1}{miss} + 1, 'new generation: L1 empty');
is($m5->{token_cache}{shared}{hit}, $m4->{token_cache}{shared}{hit} + 1,
   'the shared cache survived the restart');
is($m5->{idp_requests}{token}{ok}, 1, 'still one token request');
is($m5->{since}, $m0->{since}, 'counting since the server started');

$h->stop;
done_testing();
