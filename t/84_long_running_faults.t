# SPDX-License-Identifier: Apache-2.0
# Long-running sessions when the cache or the IdP misbehave (vhost obo_lr,
# memcached; review findings 2 and 5):
# - memcached paused (kill -STOP): the obo-token handler answers 503 with
#   Retry-After and error temporarily_unavailable, never 404 session_not_found,
#   and neither a GET nor a DELETE ends the session; after kill -CONT the same
#   key answers 200 again, without a new session or a refresh grant;
# - the IdP answers without a usable lifetime (expires_in 0, negative or
#   absent) at session start or on a refresh: the user's request and the
#   handler get 200, the session survives, and the token is kept briefly
#   (the next call makes no IdP call).
# Finding 3 (memcached ADD failing alone) is covered by tests/unit/test_cache.c
# (test_locked_only), not here.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use LWP::UserAgent;
use POSIX ();
use OBOTest::Services;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();
memcached_cmd('flush_all');
my $V = 'obo_lr';

sub ut {
    my ($sub) = @_;
    return mint(tenant => 'lr', claims => { sub => $sub, oid => oid_of($sub) });
}
sub open_session {    # (key, response)
    my ($t) = @_;
    my $r = obo_get($V, '/lr/env', token => $t);
    return (cgi_env($r)->{OBO_SESSION_KEY}, $r);
}
sub handler {
    my ($key, %o) = @_;
    my $r = obo_request($V, $o{method} // 'GET', '/token',
                        headers => [ 'OBO-Session-Key' => $key ]);
    my $j = json_body($r);
    return ($r, ref $j eq 'HASH' ? $j : {});
}
sub refreshes { my ($sub) = @_; return idp_counters()->{"grant:refresh_token:$sub"} // 0 }

# The suite's memcached runs under coreutils timeout, whose pid is in the
# pid file: only its memcached child is signalled, and always resumed.
sub memcached_child {
    my $parent = OBOTest::Services::service_pid('memcached') or return;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        return $1 if $line =~ /^(\d+) \(memcached\) \S+ (\d+) / && $2 == $parent;
    }
    return;
}
my $mc_pid = memcached_child();
my $paused = 0;
sub mc_pause  { $paused = kill('STOP', $mc_pid) }
sub mc_resume { kill('CONT', $mc_pid) if $paused; $paused = 0 }
END { mc_resume() }

subtest 'memcached paused: 503 + Retry-After, never 404; the session survives' => sub {
    ok $mc_pid && kill(0, $mc_pid), 'the suite\'s memcached runs' or return;
    my $sub = fresh_user('lrfault');
    my ($key, $r) = open_session(ut($sub));
    expect_ok($r, 'session opened', user => $sub);
    ok $key, 'a session key' or return;
    my ($h, $j) = handler($key);
    is $h->code, 200, 'handler: 200 while memcached is healthy';
    my $calls = token_calls($sub);
    my $mark = error_log_mark();

    ok mc_pause(), 'memcached paused (SIGSTOP)';
    for my $i (1 .. 2) {
        ($h, $j) = handler($key);
        is $h->code, 503, "GET #$i while paused: 503, not 404";
        is $j->{error}, 'temporarily_unavailable', '  error temporarily_unavailable';
        like $h->header('Retry-After') // '', qr/^\d+$/, '  with Retry-After';
        like $h->header('Cache-Control') // '', qr/no-store/, '  and Cache-Control: no-store';
    }
    ($h, $j) = handler($key, method => 'DELETE');
    is $h->code, 503, 'DELETE while paused: 503, not 404 (the session is not ended)';
    mc_resume();

    my $code = 0;
    my $end = time + 20;
    while (time < $end) {
        ($h, $j) = handler($key);
        $code = $h->code;
        last if $code == 200;
        sleep 0.5;
    }
    is $code, 200, 'after SIGCONT the same key answers 200 again';
    ok $j->{access_token}, '  with a downstream token';
    is token_calls($sub), $calls, 'no IdP call: the stored token of the same session';
    my $log = error_log_since($mark);
    like $log, qr/OBO180/, 'error_log: OBO180 (cache failed, session kept)';
    unlike $log, qr/OBO336|OBO334|OBO337/, 'error_log: the session was never ended';
};

subtest 'refresh answer without a lifetime: 200, the session survives' => sub {
    for my $case ([ refresh_expires_in => 0 ], [ refresh_expires_in => -5 ],
                  [ omit_expires_in => 1 ]) {
        my ($sw, $val) = @$case;
        idp_reset();
        idp_set(expires_in => 3);    # margin 2: the stored token is due within 1 s
        my $sub = fresh_user('lrnolife');
        my ($key, $r) = open_session(ut($sub));
        expect_ok($r, "$sw=$val: session opened", user => $sub);
        ok $key, '  a session key' or next;
        sleep 3.5;
        # a loaded machine may already have refreshed the 3 s token while
        # the session opened (due within 1 s): count from here
        my $base = refreshes($sub);
        idp_set(expires_in => '', $sw => $val);
        my ($h, $j) = handler($key);
        is $h->code, 200, "$sw=$val: the refreshing call gets 200, not 404";
        ok $j->{access_token}, '  with a downstream token';
        is refreshes($sub) - $base, 1, '  one refresh grant';
        ok(($j->{expires_in} // 0) > 0, '  expires_in > 0 (the assumed lifetime)');
        my ($h2, $j2) = handler($key);
        is $h2->code, 200, '  the next call: 200 (the session survived)';
        is $j2->{access_token}, $j->{access_token}, '  the same token, kept briefly';
        is refreshes($sub) - $base, 1, '  no further refresh grant';
        idp_set($sw => '');
    }
};

# A refreshed token that has already expired when it arrives (a 1 s
# lifetime, a 2 s answer) is the IdP's failure: 502, not the 404
# session_not_found that tells the backend to drop its key (review low).
subtest 'a refreshed token already expired on arrival: 502, the session survives' => sub {
    idp_reset();
    idp_set(expires_in => 3);
    my $sub = fresh_user('lrdead');
    my ($key, $r) = open_session(ut($sub));
    ok $key, 'a session key' or return;
    sleep 3.5;
    idp_set(expires_in => '', refresh_expires_in => 1, 'token_fault@lr' => 'slow',
            'slow_seconds@lr' => 2);
    my ($h) = handler($key);
    idp_set(refresh_expires_in => '', 'token_fault@lr' => '', 'slow_seconds@lr' => '');
    is $h->code, 502, 'the refreshing call: 502' or diag describe($h);
    my ($h2, $j2) = handler($key);
    is $h2->code, 200, 'the next call refreshes again: 200 (the session was kept)';
    ok $j2->{access_token}, '  with a downstream token';
};

subtest 'session start without a lifetime: 200 and a usable session' => sub {
    for my $case ([ expires_in => 0 ], [ omit_expires_in => 1 ]) {
        my ($sw, $val) = @$case;
        idp_reset();
        idp_set($sw => $val);
        my $sub = fresh_user('lrnolife0');
        my $t = ut($sub);
        my ($key, $r) = open_session($t);
        expect_ok($r, "$sw=$val: the user's request gets 200 (not 503)", user => $sub);
        ok $key, '  a session key';
        is token_calls($sub), 1, '  one IdP call (the exchange; the token is kept briefly)';
        my ($h, $j) = handler($key);
        is $h->code, 200, '  handler: 200';
        ok $j->{access_token}, '  with a downstream token';
        $r = obo_get($V, '/lr/env', token => $t);
        expect_ok($r, '  a second user request: 200', user => $sub);
        is token_calls($sub), 1, '  and still one IdP call';
        idp_set($sw => '');
    }
};

# A fourth review found memcached stalling after the IdP answered (the
# session's entries, or a rotated refresh token, could not be stored)
# answered 502 without Retry-After, blaming the IdP: it is the cache that
# failed, answered as such (OBO180: 503 with Retry-After).
sub stall_memcached_during {    # pause memcached $at s into $code's run, for $for s
    my ($at, $for, $code) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) { sleep $at; kill 'STOP', $mc_pid; sleep $for; kill 'CONT', $mc_pid; POSIX::_exit(0) }
    my @r = $code->();
    waitpid $pid, 0;
    kill 'CONT', $mc_pid;
    return @r;
}
subtest 'memcached stalls after the IdP answered: 503 with Retry-After, not 502' => sub {
    ok $mc_pid && kill(0, $mc_pid), 'the suite\'s memcached runs' or return;
    idp_set('token_fault@lr' => 'slow', 'slow_seconds@lr' => 2, 'token_fault_times@lr' => 1);
    my $mark = error_log_mark();
    my ($r) = stall_memcached_during(1, 2.5, sub {
        LWP::UserAgent->new(timeout => 30)->get(vhost_url($V, '/lr/env'),
                                               Authorization => 'Bearer ' . ut(fresh_user('lrstall')))
    });
    idp_set('token_fault@lr' => '', 'slow_seconds@lr' => '', 'token_fault_times@lr' => '');
    is $r->code, 503, 'session start: 503' or diag $r->code . ' ' . substr($r->content, 0, 200);
    like $r->header('Retry-After') // '', qr/^\d+$/, '... with Retry-After';
    like error_log_since($mark), qr/OBO331.*\n.*OBO180|OBO180/s, 'OBO180: the cache failed';
    sleep 11;    # libmemcached retries a server it took out after 10 s
};

done_testing();
