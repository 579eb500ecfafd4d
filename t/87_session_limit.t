# SPDX-License-Identifier: Apache-2.0
# One user cannot end other users' long-running sessions (issue 14, A1).
# With the default shm cache (vhost obo_lr_shm: shmcb's 512 KiB, 168
# entries, each subcache a ring that drops its oldest entry, read or not),
# one user sending 300 fresh tokens (one request each) used to evict a
# victim's session within 30-100 sessions although the victim used it every
# few requests. Now a session in use is rewritten before the ring reaches
# it, and a user holds at most OBOSessionLimit (20) sessions: the 21st ends
# the 1st (vhost obo_lr_shm_big, 4 MiB, where nothing is evicted).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use Time::HiRes qw(sleep time);
use Digest::SHA qw(sha256_hex);
use OBOTest::Config qw(check_config);
use LWP::UserAgent;

need_feature('authn', 'exchange');
my $V = 'obo_lr_shm';
my $BIG = 'obo_lr_shm_big';
my $ATTACKS = $ENV{OBO_TEST_SESSION_ATTACKS} || 300;
my $EVERY = 3;          # the victim's backend uses its key every 3 attacker requests
my $LIMIT = 20;         # OBOSessionLimit's default

# A fresh token of user $sub (tid+oid bind the session; uti makes each token new).
sub ut {
    my ($sub, $tenant) = @_;
    return mint(tenant => $tenant // 'lrshm', claims => { sub => $sub, oid => oid_of($sub) });
}
sub open_session {
    my ($v, $t) = @_;
    return cgi_env(obo_get($v, '/lr/env', token => $t))->{OBO_SESSION_KEY};
}
sub use_key {
    my ($v, $key, %o) = @_;
    return obo_request($v, $o{method} // 'GET', '/token', token => undef,
                       headers => [ 'OBO-Session-Key' => $key ])->code;
}
sub sessions {
    my $j = json_body(obo_get($V, '/obo-status?format=json', token => undef));
    return ref $j eq 'HASH' && ref $j->{sessions} eq 'HASH' ? $j->{sessions} : {};
}
sub delta { my ($a, $b, $k) = @_; return ($b->{$k} // -1000) - ($a->{$k} // 0) }

subtest "OBOSessionLimit $LIMIT: the 21st session of a user ends the 1st" => sub {
    my $user = fresh_user('lrcap');
    my $s0 = sessions();
    my @keys = map { open_session($BIG, ut($user)) } 1 .. $LIMIT;
    is scalar(grep { $_ } @keys), $LIMIT, "$LIMIT sessions opened";
    is scalar(grep { use_key($BIG, $_) == 200 } @keys), $LIMIT, "all $LIMIT answer 200";
    push @keys, open_session($BIG, ut($user));
    ok $keys[-1], 'session 21 opened';
    is use_key($BIG, $keys[0]), 404, 'the 1st (oldest) session answers 404';
    is scalar(grep { use_key($BIG, $_) == 200 } @keys[1 .. $#keys]), $LIMIT,
        "sessions 2 to 21 answer 200";
    my $s1 = sessions();
    is delta($s0, $s1, 'limit'), 1, 'sessions_total{event="limit"}: 1';
    is delta($s0, $s1, 'evicted'), 0, 'sessions_total{event="evicted"}: 0';
    is use_key($BIG, $keys[1], method => 'DELETE'), 204, 'DELETE of session 2';
    push @keys, open_session($BIG, ut($user));
    is scalar(grep { use_key($BIG, $_) == 200 } @keys[2 .. $#keys]), $LIMIT,
        'after a DELETE, one more session ends none: its slot was freed';
    is delta($s1, sessions(), 'limit'), 0, 'no further limit end';
    my $other = open_session($BIG, ut(fresh_user('lrcap2')));
    is use_key($BIG, $other, ), 200, "another user's session is not counted with these";
    is use_key($BIG, $keys[2]), 200, 'and ends none of them';
};

# A review found one user holding OBOSessionLimit + 1 tokens, used round
# robin, cost one IdP call per request: each token's index still named the
# session the limit had ended, so it started a new one, which ended the
# next (21 tokens x 3 rounds: 63 grants). A token whose session the limit
# ended now starts no other: 401 invalid_token, the client gets a new one.
for my $vt ([ $BIG, 'lrshm' ], [ 'obo_lr', 'lr' ]) {
    my ($v, $tenant) = @$vt;
    subtest "$v: " . ($LIMIT + 1) . " tokens of one user, round robin: one grant per token" => sub {
        my $user = fresh_user('lrrr');
        my @toks = map { ut($user, $tenant) } 0 .. $LIMIT;
        my $mark = error_log_mark();
        my $before = token_calls($user);
        my @codes;
        for my $round (1 .. 3) {
            push @codes, map { obo_get($v, '/lr/env', token => $_)->code } @toks;
        }
        is token_calls($user) - $before, $LIMIT + 1, ($LIMIT + 1) . ' grants for 3 rounds';
        is scalar(grep { $_ == 200 } @codes), 3 * ($LIMIT + 1) - 2,
            'every request 200 but the 1st token\'s in rounds 2 and 3';
        my $r = obo_get($v, '/lr/env', token => $toks[0]);
        is $r->code, 401, 'the token whose session the limit ended: 401';
        like +(www_authenticate($r) // {})->{params}{error_description} // '', qr/session limit/,
            '... invalid_token naming the session limit';
        ok error_log_since($mark) =~ /OBO340: caller token sha256:\w+: its long-running session/,
            'OBO340 logged';
        my $fresh = obo_get($v, '/lr/env', token => ut($user, $tenant));
        is $fresh->code, 200, 'a new token of that user opens a session';
        is obo_get($v, '/lr/env', token => $toks[1])->code, 401,
            '... which ended the then oldest one, whose token is refused too';
    };
}

# A review found one user's cheap requests evicting every other user's idle
# sessions: each use rewrote the session's idle marker once a second, so a
# user at the limit wrote 20 entries a second into shmcb's insertion-order
# ring without a new session or an IdP call (4 MiB: a victim gone in 150 s).
# Here 2 MiB (obo_lr_shm_2m, 672 entries, idle lifetime 1 h): 25 rounds of
# the attacker's 20 sessions, a second apart, wrote 500 idle markers and the
# rewrites they made due; now a marker slides once a hundredth of the idle
# lifetime (36 s) has passed. (In a cache where one user's sessions take
# more than a quarter, keeping them in use rewrites them on every use: OBO195
# warns of such a cache at the defaults.)
subtest 'one user\'s busy sessions do not evict another user\'s idle one (2 MiB shm)' => sub {
    my $SP = 'obo_lr_shm_2m';
    my $victim = open_session($SP, ut(fresh_user('lridle')));
    ok $victim, 'the victim opened a session (then stays idle)';
    my $a = fresh_user('lrbusy');
    my @toks = map { ut($a) } 1 .. $LIMIT;
    my @keys = grep { $_ } map { open_session($SP, $_) } @toks;
    is scalar(@keys), $LIMIT, "the attacker opened $LIMIT sessions";
    my $calls = token_calls($a);
    my $bad = 0;
    for my $round (1 .. 25) {
        my $t0 = time;
        $bad += grep { obo_get($SP, '/lr/env', token => $_)->code != 200 } @toks;
        my $left = 1.05 - (time - $t0);
        sleep $left if $left > 0;
    }
    is $bad, 0, 'the attacker\'s 500 requests answered 200';
    is token_calls($a) - $calls, 0, '... without an IdP call';
    is use_key($SP, $victim), 200, 'the victim\'s idle session is still there';
};

subtest "$ATTACKS fresh tokens of one user end no session of another (default shm cache)" => sub {
    my $mark = error_log_mark();
    my $s0 = sessions();
    my $victim = open_session($V, ut(fresh_user('lrvictim')));
    ok $victim, 'the victim opened a session';
    is use_key($V, $victim), 200, 'its key answers 200';
    my $attacker = fresh_user('lrattack');
    my (@keys, @uses);
    for my $i (1 .. $ATTACKS) {
        push @keys, open_session($V, ut($attacker));
        push @uses, [ $i, use_key($V, $victim) ] if $i % $EVERY == 0;
    }
    is scalar(grep { $_ } @keys), 2 * $LIMIT, 'the attacker opened ' . (2 * $LIMIT)
       . ' sessions (twice OBOSessionLimit in the hour; the rest answered 429)';
    @keys = grep { $_ } @keys;
    my @bad = grep { $_->[1] != 200 } @uses;
    is scalar(@bad), 0, 'the victim\'s key answered 200 at each of its ' . scalar(@uses)
        . ' uses during the attack'
        or diag 'first failure after attacker session ' . $bad[0][0] . ': ' . $bad[0][1]
            . '; failures: ' . scalar(@bad);
    is use_key($V, $victim), 200, 'and after it';
    # before the sweep below: its uses rewrite the live sessions they find,
    # which in this cache of 168 entries can push the newest out
    is use_key($V, $keys[-1]), 200, 'the attacker\'s newest session lives';
    my @live = grep { use_key($V, $_) == 200 } @keys;
    cmp_ok scalar(@live), '<=', $LIMIT, 'at most OBOSessionLimit of the attacker\'s sessions live'
        . ' (' . scalar(@live) . ')';
    is use_key($V, $keys[0]), 404, 'the attacker\'s oldest session has ended';
    my $s1 = sessions();
    my ($lim, $ev) = (delta($s0, $s1, 'limit'), delta($s0, $s1, 'evicted'));
    note "sessions_total: limit +$lim, evicted +$ev, started +" . delta($s0, $s1, 'started');
    # In 168 entries the attacker's unused sessions are evicted before the
    # limit ends them; both are counted (an eviction when the user's next
    # session starts: the last ones are not seen yet), and the victim's never.
    cmp_ok $lim + $ev, '<=', scalar(@keys) - scalar(@live),
        'sessions_total{event="limit"} + {event="evicted"}: no more than the ended sessions';
    cmp_ok $lim + $ev, '>=', scalar(@keys) - 2 * $LIMIT, '... and all but the last few';
    is delta($s0, $s1, 'rated'), $ATTACKS - 2 * $LIMIT,
       'sessions_total{event="rated"}: the ' . ($ATTACKS - 2 * $LIMIT) . ' refused';
    my $log = error_log_since($mark);
    ok $log =~ /OBO33[89]/, 'OBO338 (limit) or OBO339 (evicted) logged';
    my $vfp = 'sha256:' . substr(sha256_hex($victim), 0, 12);
    ok $log !~ /OBO33[689]: long-running session \Q$vfp\E|session \Q$vfp\E ended/,
        'nothing ended the victim\'s session';
};

# Review 20: one user's fresh tokens ended other users' idle sessions in a
# cache sized for them (2 MiB, 672 entries; OBO195 silent for 20 x 4):
# each new session ended the user's own oldest, but wrote about 7 entries,
# so 200 fresh tokens (1,380 writes, 200 IdP calls) turned the rings over 4
# victims idle for a minute. A user now opens at most twice OBOSessionLimit
# sessions an hour: the rest answer 429 with Retry-After, before any IdP
# call or cache write. (The user's list, rewritten at each of those 40
# opens, still turns its own ring of 42 entries: see OBOSessionLimit.)
sub shm_writes {
    my $t = obo_get($V, '/obo-status?format=prometheus', token => undef)->decoded_content // '';
    my ($n) = $t =~ /^mod_auth_obo_shm_cache_writes_total (\d+)$/m;
    return $n // -1;
}
subtest 'one user\'s 200 fresh tokens: 40 sessions, 160 answered 429 (2 MiB shm)' => sub {
    my $SP = 'obo_lr_shm_2m';
    my $mark = error_log_mark();
    my @victims = map { open_session($SP, ut(fresh_user("lridle$_"))) } 1 .. 4;
    is scalar(grep { $_ } @victims), 4, '4 victims opened a session each (then stay idle)';
    my $a = fresh_user('lrchurn');
    my $w0 = shm_writes();
    my %codes;
    my $r429;
    for (1 .. 200) {
        my $r = obo_get($SP, '/lr/env', token => ut($a));
        $codes{ $r->code }++;
        $r429 //= $r if $r->code == 429;
    }
    is $codes{200} // 0, 2 * $LIMIT, 2 * $LIMIT . ' of the attacker\'s 200 tokens opened a '
       . 'session' or diag explain \%codes;
    is $codes{429} // 0, 200 - 2 * $LIMIT, 'the others: 429';
    ok $r429 && ($r429->header('Retry-After') // 0) > 3000,
       '... with Retry-After: the rest of the hour (' . ($r429 ? $r429->header('Retry-After')
       // 'none' : 'none') . ')';
    is token_calls($a), 2 * $LIMIT, 'one IdP call per session opened, none for the refused';
    like error_log_since($mark), qr/OBO341: long-running session not started: its user opened/,
         'OBO341 says why';
    my $w = shm_writes() - $w0;
    cmp_ok $w, '<=', 2 * $LIMIT * 9, "shm cache writes: $w (at most 9 per session opened; "
           . 'was 1,380 for 200 tokens)';
    note 'the victims\' idle sessions: ' . join(' ', map { use_key($SP, $_) } @victims);
};

# Review 21: the cap was read outside the user's list lock and counted only
# once the session was stored, so 60 fresh tokens sent at once all opened
# a session (60 IdP calls); and the count lived in the user's list, which
# other users' sessions pushed out of the segment, so taking turns with a
# few users reset it (120 opens each). The count is now taken under the
# list lock before the exchange, and kept beside the locks.
subtest 'the hourly cap holds for 60 tokens at once, and after other users churn' => sub {
    my $SP = 'obo_lr_shm_2m';
    my $a = fresh_user('lrrace');
    my @toks = map { ut($a) } 1 .. 60;
    my %codes;
    $codes{ $_->{code} }++
        for burst(map { [ vhost_url($SP, '/lr/env'), Authorization => "Bearer $_" ] } @toks);
    my $calls = token_calls($a);
    cmp_ok $codes{200} // 0, '<=', 2 * $LIMIT, '60 fresh tokens at once: at most '
           . 2 * $LIMIT . ' sessions (' . ($codes{200} // 0) . ')' or diag explain \%codes;
    cmp_ok $calls, '<=', 2 * $LIMIT, "... and IdP calls ($calls)";
    # the others: 429, or 503 where the list lock was out of reach for 2 s
    # (a loaded machine); what matters is above: no more than the cap
    note 'answers: ' . join(', ', map { "$_ x $codes{$_}" } sort keys %codes);
    # other users' sessions turn the 2 MiB segment (672 entries) over
    for my $u (1 .. 8) {
        my $o = fresh_user("lrturn$u");
        obo_get($SP, '/lr/env', token => ut($o)) for 1 .. 30;
    }
    my $r = obo_get($SP, '/lr/env', token => ut($a));
    is $r->code, 429, 'after 240 other sessions turned the segment: the user is still refused';
    is token_calls($a), $calls, '... without an IdP call';
};

# Review 22: a start was counted before its exchange, whatever came of
# it, so a user whose starts the IdP refused (an MFA prompt, 45 tries) or
# failed (500) could start no session for the hour after: 429 with
# Retry-After 3600 once the IdP was fine. Only starts that open a session
# count now.
subtest 'starts that open no session do not count against the hourly cap' => sub {
    my $SP = 'obo_lr_shm_2m';
    my $u = fresh_user('lrmfa');
    my $t = ut($u);
    idp_set('token_fault@lrshm' => 'interaction_required');
    my %c1;
    $c1{ obo_get($SP, '/lr/env', token => $t)->code }++ for 1 .. 45;
    idp_set('token_fault@lrshm' => '500');
    $c1{ obo_get($SP, '/lr/env', token => ut($u))->code }++ for 1 .. 45;
    idp_set('token_fault@lrshm' => '');
    is_deeply \%c1, { 401 => 45, 502 => 45 },
        '45 starts refused by the IdP (401), 45 failed (502): none 429' or diag explain \%c1;
    my %c2;
    $c2{ obo_get($SP, '/lr/env', token => ut($u))->code }++ for 1 .. 2 * $LIMIT;
    is_deeply \%c2, { 200 => 2 * $LIMIT }, 'then, the IdP fine: ' . 2 * $LIMIT
        . ' fresh tokens open a session each' or diag explain \%c2;
    is obo_get($SP, '/lr/env', token => ut($u))->code, 429, 'and the next answers 429';
};

# Review 23: starts in flight counted as opened, so with 20 starts waiting
# on a hanging IdP (cap 20 at OBOSessionLimit 2), 10 more answered 429
# with Retry-After 3600 although none of the 20 opened a session. Starts
# in flight are counted apart: a start refused beside them is told 5 s.
subtest 'starts refused beside starts in flight: Retry-After in seconds' => sub {
    # 20 starts must be in flight at once: prefork's 4 processes hold 4
    plan skip_all => 'needs a threaded MPM (20 requests in flight at once)'
        if (OBOTest::features()->{mpm} // '') eq 'prefork';
    my $L2 = 'obo_lr_shm_l2';
    my $u = fresh_user('lrflight');
    obo_get($L2, '/lr/env', token => ut(fresh_user('lrwarm')));    # keys loaded
    idp_set('token_fault@lrshm' => 'hang', 'hang_seconds@lrshm' => 4);
    my @r = burst(map { [ vhost_url($L2, '/lr/env'), Authorization => 'Bearer ' . ut($u) ] }
                  1 .. 30);
    idp_set('token_fault@lrshm' => '', 'hang_seconds@lrshm' => '');
    my %codes;
    $codes{ $_->{code} }++ for @r;
    is $codes{429} // 0, 10, '30 starts at once, 20 in flight: 10 refused (429)'
        or diag explain \%codes;
    my @ra = map { $_->{head} =~ /^Retry-After:\s*(\d+)/mi ? $1 : 9999 }
             grep { $_->{code} == 429 } @r;
    ok @ra && !grep({ $_ > 5 } @ra), 'each with Retry-After of at most 5 s (' . join(',', @ra)
       . ')';
    my $r = obo_get($L2, '/lr/env', token => ut($u));
    is $r->code, 200, 'none of the 20 opened a session: the next start opens one';
};

# Review 20: in the same 2 MiB cache, one user's 900 fresh tokens at an
# ordinary exchanging Location (/x, one token entry each) ended four other
# users' idle sessions: tokens and sessions shared shmcb's rings. Sessions
# now have a segment of their own.
subtest 'one user\'s 700 fresh tokens at an exchanging Location end no idle session' => sub {
    my $SP = 'obo_lr_shm_2m';
    my @victims = map { open_session($SP, ut(fresh_user("lrxv$_"))) } 1 .. 4;
    is scalar(grep { $_ } @victims), 4, '4 victims opened a session each (then stay idle)';
    my $a = fresh_user('lrxchurn');
    my $w0 = shm_writes();
    my $ok = 0;
    $ok += obo_get($SP, '/x/env', token => ut($a))->code == 200 for 1 .. 700;
    is $ok, 700, '700 fresh tokens of one user exchanged at /x: 200 each';
    cmp_ok shm_writes() - $w0, '>=', 700, '... each wrote its token (' . (shm_writes() - $w0)
           . ' shm writes: more than the 672 entries of a segment)';
    is join(' ', map { use_key($SP, $_) } @victims), '200 200 200 200',
       'every victim\'s idle session answers 200';
};

# A review found the cap reset once shm churn evicted the user's list: the
# user's sessions in use rewrote their own entries but not the list, and a
# missing list counted as empty (user A held 8 live sessions with a limit of 2).
subtest 'OBOSessionLimit 2 holds while other users\' sessions churn the shm cache' => sub {
    my $L2 = 'obo_lr_shm_l2';
    my $a = fresh_user('lrcap');
    my @mine;
    for my $round (1 .. 4) {
        push @mine, grep { $_ } map { open_session($L2, ut($a)) } 1 .. 2;
        for my $i (1 .. 30) {
            open_session($L2, ut(fresh_user("lrchurn$round")));
            if ($i % 5 == 0) { use_key($L2, $_) for @mine }
        }
    }
    is scalar(@mine), 8, 'user A opened 8 sessions over 4 rounds';
    my @live = grep { use_key($L2, $_) == 200 } @mine;
    cmp_ok scalar(@live), '<=', 2, 'at most 2 of them live (' . scalar(@live) . ')';
    is use_key($L2, $mine[-1]), 200, 'the newest lives';
};

# Review 39B-F9: the owner of a session was the token's iss with tid+oid, so
# one Entra user's v1 and v2 tokens (two iss, one provider: OBOIssuer lists
# both) were two owners, each with OBOSessionLimit sessions. The owner's
# issuer is now the provider's, whatever the token's iss.
subtest 'OBOSessionLimit counts one user\'s tokens of both issuers of a provider together' => sub {
    require File::Temp;
    require File::Copy;
    my %p = OBOTest::Services::ports();
    my $t = OBOTest::Services::t_dir();
    my $lib = OBOTest::Config::libexecdir();
    my $dir = File::Temp::tempdir('lrv1-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);
    File::Copy::copy("$t/cgi-bin/env.cgi", "$dir/env.cgi") or die "env.cgi: $!";
    chmod 0755, $dir, "$dir/env.cgi";
    my $v2 = "https://127.0.0.1:$p{idp}/lrshm/v2.0";
    my $v1 = 'https://sts.example.test/lrshm/';
    my $conf = join "\n",
        '<IfModule mpm_prefork_module>', '<IfModule !mod_cgi.c>',
        "LoadModule cgi_module \"$lib/mod_cgi.so\"", '</IfModule>', '</IfModule>',
        '<IfModule !mpm_prefork_module>', '<IfModule !mod_cgid.c>',
        "LoadModule cgid_module \"$lib/mod_cgid.so\"", '</IfModule>', '</IfModule>',
        "OBOMetadataURL https://127.0.0.1:$p{idp}/lrshm/v2.0/.well-known/openid-configuration",
        "OBOIssuer $v2 $v1", "OBOCACertificateFile $t/pki/ca.pem", 'OBOAudience api://test-api',
        'OBOClientID middle-tier-api', 'OBOClientSecret s3cret-for-tests', 'OBOSessionLimit 1',
        "ScriptAlias /lr/ $dir/", "<Directory $dir>", ' Options +ExecCGI', '</Directory>',
        '<Location /lr>', ' AuthType obo', ' Require valid-user',
        ' OBOScope api://downstream/.default', ' OBOLongRunning on', '</Location>',
        '<Location /token>', ' SetHandler obo-token', ' Require local', '</Location>';
    my $user = fresh_user('lrv1');
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, modules => [qw(alias authz_host)], probe => sub {
        my ($port) = @_;
        my $open = sub {
            my $r = $ua->get("http://127.0.0.1:$port/lr/env.cgi", Authorization => 'Bearer '
                             . mint(tenant => 'lrshm', claims => { sub => $user, oid => oid_of($user),
                                                                    %{ $_[0] } }));
            return cgi_env($r)->{OBO_SESSION_KEY};
        };
        my $use = sub { $ua->get("http://127.0.0.1:$port/token", 'OBO-Session-Key' => $_[0])->code };
        my $k1 = $open->({});
        my $k2 = $open->({ iss => $v1 });
        return [ $k1, $k2, $k1 ? $use->($k1) : 0, $k2 ? $use->($k2) : 0 ];
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    my ($k1, $k2, $c1, $c2) = @{ $c->{probe} };
    ok $k1 && $k2, 'a session opened with each issuer\'s token' or return diag $c->{output};
    is $c1, 404, 'the first (v2 token) ended: the limit counts one user';
    is $c2, 200, 'the second (v1 token) answers';
};

subtest 'OBO195: a warning at startup when the shm cache cannot hold the sessions allowed' => sub {
    my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
    my $base = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
        . "OBOAudience api://test-api\nOBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests";
    my $loc = "<Location /api>\n AuthType obo\n Require valid-user\n"
        . " OBOScope api://downstream/.default\n OBOLongRunning on\n</Location>";
    # 1 MiB: 1048576 / 3069 = 341 -> 336 entries (8 subcaches of 42)
    my $c = check_config("$base\nOBOCache shm 1048576\nOBOSessionLimit 20 100\n$loc");
    ok $c->{started}, '20 sessions x 100 users in 1 MiB: starts' or diag $c->{output};
    # a review found it logged twice per start, and not by configtest
    like $c->{output}, qr/\[apache2 -t: exit 0\].*OBO195.*\[apache2 -DFOREGROUND\]/s,
        'apachectl configtest shows OBO195' or diag $c->{output};
    my ($elog) = $c->{output} =~ /\[error_log\](.*)/s;
    my $n = () = ($elog // '') =~ /OBO195/g;
    is $n, 1, '... and a start logs it once' or diag $c->{output};
    like $c->{output}, qr/OBO195: OBOLongRunning with an shm cache of 1048576 bytes \(336 entries\): OBOSessionLimit 20 x 100 user\(s\) x 8 entries per session needs 16000 entries/,
        '... with OBO195 and its arithmetic' or diag $c->{output};
    # A review found it silent at the defaults when the default users was 1
    # (20 x 1 x 8 = 160 <= 168): a cache for one user's sessions.
    $c = check_config("$base\nOBOCache shm\n$loc");
    like $c->{output}, qr/OBO195: OBOLongRunning with an shm cache of 524288 bytes \(168 entries\): OBOSessionLimit 20 x 10 user\(s\) x 8 entries per session needs 1600 entries.*OBOCache shm 6138128 or more/,
        'the defaults (20 x 10 x 8 = 1600) in the default 512 KiB: warned, with the size to set'
        or diag $c->{output};
    $c = check_config("$base\nOBOCache shm 6138128\n$loc");
    ok $c->{started} && $c->{output} !~ /OBO195/, '... and at the size it names: no warning'
        or diag $c->{output};
    $c = check_config("$base\nOBOCache shm 1048576\nOBOSessionLimit 20 1\n$loc");
    ok $c->{started} && $c->{output} !~ /OBO195/, 'one user stated (20 x 1 x 8 = 160) in 1 MiB: no warning'
        or diag $c->{output};
    $c = check_config("$base\nOBOCache shm 1048576\nOBOSessionLimit 20 100\n"
                      . "<Location /api>\n AuthType obo\n Require valid-user\n"
                      . " OBOScope api://downstream/.default\n</Location>");
    ok $c->{started} && $c->{output} !~ /OBO195/, 'without OBOLongRunning: no warning'
        or diag $c->{output};
    # a review found the advice above OBOCache shm's largest size
    $c = check_config("$base\nOBOCache shm 1048576\nOBOSessionLimit 100 1000\n$loc");
    like $c->{output}, qr/OBO195: .*needs 800000 entries; .*That is more than the largest OBOCache shm \(1073741824 bytes, 349696 entries\) holds: use memcached/,
        '100 x 1000: more than 1 GiB could hold: memcached' or diag $c->{output};
    $c = check_config("$base\nOBOCache shm 1048576\nOBOSessionLimit 100 375\n$loc");
    like $c->{output}, qr/OBO195: .*needs 300000 entries; .*Set OBOCache shm 1073741824 \(the largest\), or use memcached/,
        '100 x 375 (300000 of 349696): the largest size' or diag $c->{output};
    # shmcb's header: 245520000 bytes are 79872 entries, not 80000
    $c = check_config("$base\nOBOCache shm 245520000\nOBOSessionLimit 20 500\n$loc");
    like $c->{output}, qr/OBO195: .*245520000 bytes \(79872 entries\)/, '245520000 bytes: 79872 entries, warned'
        or diag $c->{output};
    $c = check_config("$base\nOBOCache shm 245600000\nOBOSessionLimit 20 500\n$loc");
    ok $c->{started} && $c->{output} !~ /OBO195/, '245600000 bytes (80000 entries): no warning'
        or diag $c->{output};
    for my $bad ('0', '101', 'many', '20 0') {
        $c = check_config("$base\nOBOSessionLimit $bad\n$loc");
        ok !$c->{syntax_ok}, "OBOSessionLimit $bad: refused at configtest";
    }
};

done_testing();
