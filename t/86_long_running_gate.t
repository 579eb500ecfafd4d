# SPDX-License-Identifier: Apache-2.0
# Long-running sessions go through the same gate to the token endpoint as
# the ordinary exchange (vhost obo_lr, memcached; issue 14 item A2):
# - five identical requests that need consent at an OBOLongRunning Location
#   make one IdP call (the negative cache, as at an ordinary Location) and
#   get five identical answers;
# - while the token endpoint is paused (a 429 with Retry-After), a new
#   session, a refresh through the obo-token handler and a refresh in a
#   user's request make no IdP call and answer 503 with Retry-After; the
#   session survives the pause;
# - a 429 answered to a refresh pauses the endpoint: the refresh answers 503
#   with the IdP's Retry-After, and an ordinary Location's exchange and a new
#   session then make no IdP call.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use LWP::UserAgent;
use POSIX ();
use JSON::PP ();
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
memcached_cmd('flush_all');
my $V = 'obo_lr';
my $PAUSE = 5;    # the IdP's Retry-After: over the 2 s retry wait, so not retried

sub ut {
    my ($sub) = @_;
    return mint(tenant => 'lr', claims => { sub => $sub, oid => oid_of($sub) });
}
sub answer {    # what the caller sees: status, challenge, body
    my ($r) = @_;
    return join "\n", $r->code, $r->header('WWW-Authenticate') // '', $r->content // '';
}
sub handler {
    my ($key) = @_;
    my $r = obo_request($V, 'GET', '/token', headers => [ 'OBO-Session-Key' => $key ]);
    my $j = json_body($r);
    return ($r, ref $j eq 'HASH' ? $j : {});
}
sub refreshes { my ($sub) = @_; return idp_counters()->{"grant:refresh_token:$sub"} // 0 }
sub retry_after_ok {
    my ($r, $what) = @_;
    my $ra = $r->header('Retry-After') // '';
    ok $ra =~ /^\d+$/ && $ra >= 1 && $ra <= $PAUSE, "$what: Retry-After $ra (1..$PAUSE)";
}
sub pause_lr {    # the next token endpoint call of tenant lr gets a 429
    idp_set('token_fault@lr' => '429', 'token_fault_times@lr' => 1,
            'retry_after@lr' => $PAUSE);
}
sub unpause_lr {
    idp_set('token_fault@lr' => '', 'token_fault_times@lr' => '', 'retry_after@lr' => '');
}
# A session whose stored access token is due (expires_in 3, OBOCacheMargin 2).
sub due_session {
    my ($sub) = @_;
    idp_set(expires_in => 3);
    my $r = obo_get($V, '/lr/env', token => ut($sub));
    idp_set(expires_in => '');
    my $key = cgi_env($r)->{OBO_SESSION_KEY};
    expect_ok($r, 'session opened', user => $sub);
    sleep 1.2;
    return $key;
}
# Token endpoint calls the gate answered from memory, by reason (/obo-status).
sub avoided {
    my $j = json_body(obo_get($V, '/obo-status?format=json', token => undef));
    return ref $j eq 'HASH' ? $j->{idp_calls_avoided}{$_[0]} // -1 : -1;
}
sub wait_pause_out {
    my ($t0) = @_;
    my $left = $PAUSE + 0.5 - (time - $t0);
    sleep $left if $left > 0;
}

subtest 'consent_required at a long-running Location: 5 requests, 1 IdP call' => sub {
    my $sub = fresh_user('gate-consent');
    my $t = ut($sub);
    my $before = avoided('remembered');
    idp_set('token_fault@lr' => 'consent_required');
    my @r = map { obo_get($V, '/lr/env', token => $t) } 1 .. 5;
    idp_set('token_fault@lr' => '');
    expect_status($r[0], 401, 'first: 401');
    like $r[0]->content // '', qr/"suberror":"consent_required"/, 'the IdP\'s answer';
    my @diff = grep { answer($_) ne answer($r[0]) } @r;
    ok !@diff, '5 identical answers' or diag answer($diff[0]);
    is token_calls($sub), 1, 'one IdP call (as at an ordinary Location)';
    is avoided('remembered') - $before, 4, 'metrics: 4 calls avoided (remembered)';
};

subtest 'during a pause: no new session, no refresh, 503 + Retry-After' => sub {
    my $old = fresh_user('gate-old');
    my $key = due_session($old);
    ok $key, 'a session key' or return;

    pause_lr();
    my $first = fresh_user('gate-first');
    my $t0 = time;
    my $p = obo_get($V, '/plain/env', token => ut($first));
    expect_status($p, 503, 'an ordinary Location met the 429: 503');
    is $p->header('Retry-After'), $PAUSE, "with the IdP's Retry-After: $PAUSE";
    is token_calls($first), 1, 'one IdP call: not retried';

    my $before = avoided('paused');
    my $new = fresh_user('gate-new');
    my $n = obo_get($V, '/lr/env', token => ut($new));
    expect_status($n, 503, 'a new session during the pause: 503');
    retry_after_ok($n, '  new session');

    my ($h, $j) = handler($key);
    is $h->code, 503, 'a refresh through the handler during the pause: 503';
    retry_after_ok($h, '  handler');
    is $j->{error}, 'temporarily_unavailable', '  error temporarily_unavailable';

    my $u = obo_get($V, '/lr/env', token => ut($old));
    expect_status($u, 503, 'a refresh in the user\'s own request during the pause: 503');
    retry_after_ok($u, '  user request');

    ok time - $t0 < $PAUSE, sprintf('all within the pause (%.1f s)', time - $t0);
    my $c = idp_counters();
    is token_calls($new, $c), 0, 'no IdP call for the new session';
    is $c->{"grant:refresh_token:$old"} // 0, 0, 'no refresh grant';
    is avoided('paused') - $before, 3, 'metrics: 3 calls avoided (paused)';
    unpause_lr();

    wait_pause_out($t0);
    ($h, $j) = handler($key);
    is $h->code, 200, 'after the pause the same session answers 200';
    ok $j->{access_token}, '  with a downstream token';
    is refreshes($old), 1, '  one refresh grant';
};

subtest 'a 429 answered to a refresh pauses the token endpoint' => sub {
    my $sub = fresh_user('gate-rt429');
    my $key = due_session($sub);
    ok $key, 'a session key' or return;
    my $mark = error_log_mark();

    pause_lr();
    my $t0 = time;
    my ($h, $j) = handler($key);
    is $h->code, 503, 'the refresh that met the 429: 503';
    is $h->header('Retry-After'), $PAUSE, "  with the IdP's Retry-After: $PAUSE";
    is refreshes($sub), 1, '  one refresh grant: not retried';

    my $plain = fresh_user('gate-plain');
    my $p = obo_get($V, '/plain/env', token => ut($plain));
    expect_status($p, 503, 'then an ordinary Location: 503');
    retry_after_ok($p, '  ordinary Location');
    my $new = fresh_user('gate-new2');
    my $n = obo_get($V, '/lr/env', token => ut($new));
    expect_status($n, 503, 'and a new session: 503');
    ok time - $t0 < $PAUSE, sprintf('all within the pause (%.1f s)', time - $t0);
    my $c = idp_counters();
    is token_calls($plain, $c), 0, 'no IdP call for the ordinary Location';
    is token_calls($new, $c), 0, 'no IdP call for the new session';
    my $log = error_log_since($mark);
    like $log, qr/OBO091.*paused for $PAUSE s/, 'error_log: the pause (OBO091)';
    unlike $log, qr/OBO180/, 'not reported as a cache failure (OBO180)';
    unpause_lr();

    wait_pause_out($t0);
    ($h, $j) = handler($key);
    is $h->code, 200, 'after the pause the session answers 200: it survived';
    is refreshes($sub), 2, '  with the second refresh grant';
};

# A review found one client's pause stopping every other client of the same
# token endpoint (and, through memcached, other servers' clients): IdPs such
# as Entra throttle per application, so the pause is the client's alone.
subtest 'a pause is the paused client\'s: another client id still calls the IdP' => sub {
    pause_lr();
    my $first = fresh_user('gate-c1');
    my $t0 = time;
    my $p = obo_get($V, '/plain/env', token => ut($first));
    expect_status($p, 503, 'client middle-tier-api met the 429: 503');
    my $other = fresh_user('gate-c2');
    my $o = obo_get('obo_lr_c2', '/lr/env', token => ut($other));
    # the test IdP knows one client id: another-api's call reaches it and is
    # refused as invalid_client (500, OBO052), where the shared pause gave 503
    isnt $o->code, 503, 'client another-api during that pause: not held by it (' . $o->code . ')';
    is $o->header('Retry-After'), undef, '  no Retry-After';
    my $again = fresh_user('gate-c1b');
    my $a = obo_get($V, '/lr/env', token => ut($again));
    expect_status($a, 503, 'client middle-tier-api is still paused: 503');
    is token_calls($again), 0, '  without an IdP call';
    unpause_lr();
    wait_pause_out($t0);
};

idp_reset();
# A second review found, at a long-running Location naming two downstreams
# with consent missing for the second: every retry exchanged the first again
# (6 requests: 6 calls for api://downstream; an ordinary Location: 1), and
# requests waiting on another's start were answered with the first
# downstream's scopes in the body (5 of 6) instead of the one refused.
subtest 'two downstreams, consent missing for the second: one call each, the right scopes' => sub {
    my $M = 'obo_lr_multi';
    idp_set('token_fault@lrmulti' => 'consent_required', 'token_fault_scope@lrmulti' => 'api://other');
    my %calls;
    for my $loc ('plain', 'lr') {
        my $sub = fresh_user("lrmulti$loc");
        my $tok = user_token($sub, 'lrmulti');
        my @codes = map { obo_get($M, "/$loc/env", token => $tok)->code } 1 .. 6;
        is_deeply \@codes, [ (401) x 6 ], "/$loc: 6 requests, each 401";
        my $c = idp_counters();
        # a session's scopes add offline_access: the scope's keys, whatever follows
        $calls{$loc} = join ' ', map { my $sc = $_; my $n = 0;
                                       $n += $c->{$_} for grep { index($_, "token:$sub:$sc") == 0 } keys %$c;
                                       $n } 'api://downstream/.default', 'api://other/.default';
    }
    is $calls{plain}, '1 1', 'an ordinary Location: one call for each downstream';
    is $calls{lr}, $calls{plain}, 'the long-running one: the same';
    for my $loc ('plain', 'lr') {
        my $tok = user_token(fresh_user("lrmultic$loc"), 'lrmulti');
        my @res = burst(map { [ vhost_url($M, "/$loc/env"), Authorization => "Bearer $tok" ] } 1 .. 6);
        my @scopes = map { ((eval { JSON::PP::decode_json($_->{body}) } || {})->{scopes} // [])->[0] // '-' } @res;
        is_deeply \@scopes, [ ('api://other/.default') x 6 ],
            "/$loc: 6 concurrent first requests, each body names the refused downstream's scope"
            or diag join ', ', @scopes;
    }
    idp_set('token_fault@lrmulti' => '', 'token_fault_scope@lrmulti' => '');
};

# A third review found, with memcached down, every request of a long-running
# Location exchanging at the IdP (an unlocked fill), failing to store the
# session and answering 502: 3 requests, 3 calls. A session starts only
# under the index's lock: 503 with Retry-After (OBO180), no IdP call.
subtest 'memcached down: a session start answers 503 with Retry-After and calls no IdP' => sub {
    my $sub = fresh_user('lrmcdown');
    my $tok = ut($sub);
    memcached_stop();
    my @r = map { obo_get($V, '/lr/env', token => $tok) } 1 .. 3;
    memcached_start();
    is_deeply [ map { $_->code } @r ], [ 503, 503, 503 ], '3 requests: 503 each';
    ok !grep({ !defined $_->header('Retry-After') } @r), '... with Retry-After';
    is token_calls($sub), 0, '... and no IdP call';
    # libmemcached took the failing server out of its ring: it is retried
    # after 10 s (OBO_MC_DEFAULT_RETRY_S)
    my $ok;
    for (1 .. 50) { $ok = obo_get($V, '/lr/env', token => $tok); last if $ok->code == 200; sleep 0.5 }
    is $ok->code, 200, 'memcached back: the session starts';
    is token_calls($sub), 1, '... with one IdP call';
};

# A fifth review found a session start of several downstreams outliving its
# lock (sized for one grant: 2 x OBOTimeout total + 3 s): a waiter on a
# second server took the lock over and started a second session (4
# downstreams, 2.5 s per grant, OBOTimeout 1 3: 8 calls, two keys). The
# lock now lasts one grant's lock per downstream.
subtest 'a start of four downstreams keeps its lock: a second server waits for it' => sub {
    my $extra = "OBOTimeout 1 3\n<Location /lr4>\n    AuthType obo\n    Require valid-user\n"
        . join('', map { "    OBOScope " . ($_ ? "downstream=d$_ " : '') . "api://d$_/.default\n" } 0 .. 3)
        . "    OBOLongRunning on\n</Location>";
    my @h = map { OBOTest::Httpd2->start(procs => 1, tenant => 'lrlock', name => "httpd2lrlock$_",
                                         extra => $extra) } 1 .. 2;
    idp_set('token_fault@lrlock' => 'slow', 'slow_seconds@lrlock' => 2.5);
    my $sub = fresh_user('lrlock');
    my $tok = user_token($sub, 'lrlock');
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        sleep 2;
        LWP::UserAgent->new(timeout => 60)->get($h[1]->url('/lr4'), Authorization => "Bearer $tok");
        POSIX::_exit(0);
    }
    LWP::UserAgent->new(timeout => 60)->get($h[0]->url('/lr4'), Authorization => "Bearer $tok");
    waitpid $pid, 0;
    idp_set('token_fault@lrlock' => '', 'slow_seconds@lrlock' => '');
    is token_calls($sub), 4, 'one grant per downstream: one session for the caller token';
    $_->stop for @h;
};

done_testing();
