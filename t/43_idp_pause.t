# SPDX-License-Identifier: Apache-2.0
# A 429 or 503 with Retry-After from the token endpoint pauses every call to
# that endpoint, for every user, until it passes: the module answers 503 with
# Retry-After meanwhile, shared through memcached (vhost obo_x_neg and a
# second httpd) or per process without a cache (obo_x_neg_local). A
# Retry-After longer than the 2 s retry wait is not retried: the request that
# met it gets 503 + Retry-After at once, too.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();

sub ut { my ($sub, $tenant) = @_; return mint(tenant => $tenant, claims => { sub => $sub }) }

my $h2 = eval { OBOTest::Httpd2->start(procs => 2, tenant => 'xneg', name => 'httpd2pause') };
ok $h2, 'second httpd started (tenant xneg, same memcached)' or diag $@;

for my $case (['429', 'obo_x_neg', 'xneg'], ['503_retry_after', 'obo_x_neg_local', 'xnegl']) {
    my ($fault, $V, $tenant) = @$case;
    subtest "$fault with Retry-After: 3 on $V pauses every user" => sub {
        # Only the first call gets the fault; any later call (a retry, or
        # a call during the pause) would succeed, so either shows as 200.
        idp_set("token_fault\@$tenant" => $fault, "token_fault_times\@$tenant" => 1,
                "retry_after\@$tenant" => 3);
        my $first = fresh_user('pause-first');
        my $t1 = time;
        my $r = obo_get($V, '/x/env', token => ut($first, $tenant));
        my $t0 = time;
        expect_status($r, 503, 'the request that met the fault: 503 (3 s > the 2 s retry wait)');
        is $r->header('Retry-After'), 3, 'with the IdP\'s Retry-After: 3';
        is token_calls($first), 1, 'one IdP call: no retry';
        ok $t0 - $t1 < 1.5, sprintf('answered at once (%.2f s)', $t0 - $t1);

        # without a shared cache the pause is per process: with several
        # (prefork) other users may reach a process that has not seen it
        if ($V eq 'obo_x_neg_local' && max_procs() > 1) {
            sleep 3.5 - (time - $t0);
            idp_set("token_fault\@$tenant" => '', "token_fault_times\@$tenant" => '',
                    "retry_after\@$tenant" => '');
            return;
        }
        my @others = map { fresh_user("pause-$_") } 1 .. 5;
        for my $u (@others) {
            my $q = obo_get($V, '/x/env', token => ut($u, $tenant));
            expect_status($q, 503, "$u: 503 during the pause");
            my $ra = $q->header('Retry-After') // '';
            ok $ra =~ /^\d+$/ && $ra >= 1 && $ra <= 3, "Retry-After: $ra (1..3)";
        }
        if ($h2 && $tenant eq 'xneg') {
            my $u = fresh_user('pause-srv2');
            my $q = LWP::UserAgent->new(timeout => 30)->get($h2->url('/x/backend/p'),
                Authorization => 'Bearer ' . ut($u, $tenant));
            expect_status($q, 503, 'server 2 (through memcached): 503 too');
            push @others, $u;
        }
        ok time - $t0 < 3, sprintf('all within the pause (%.1f s)', time - $t0);
        my $c = idp_counters();
        is token_calls($_, $c), 0, "$_: no IdP call" for @others;

        sleep 3.5 - (time - $t0);
        my $u = $others[0];
        expect_ok(obo_get($V, '/x/env', token => ut($u, $tenant)), 'after the pause: 200', user => $u);
        is token_calls($u), 1, 'calls resumed';
        idp_set("token_fault\@$tenant" => '', "token_fault_times\@$tenant" => '',
                "retry_after\@$tenant" => '');
    };
}

subtest 'an IdP 500 (no Retry-After) does not pause' => sub {
    idp_set('token_fault@xneg' => '500', 'token_fault_times@xneg' => 2);
    my $a = fresh_user('nopause-a');
    expect_status(obo_get('obo_x_neg', '/x/env', token => ut($a, 'xneg')), 502, 'IdP 500: 502');
    my $b = fresh_user('nopause-b');
    expect_ok(obo_get('obo_x_neg', '/x/env', token => ut($b, 'xneg')), 'next user: 200', user => $b);
    idp_set('token_fault@xneg' => '', 'token_fault_times@xneg' => '');
};

# Last: it leaves its tenant paused for the capped time. With one process
# the per-process pause of obo_x_neg_local is seen by the next request; with
# several (prefork), the shared one of obo_x_neg.
my ($CV, $CT) = max_procs() > 1 ? ('obo_x_neg', 'xneg') : ('obo_x_neg_local', 'xnegl');
subtest "a huge Retry-After is capped at 300 s ($CV)" => sub {
    idp_set("token_fault\@$CT" => '429', "token_fault_times\@$CT" => 1,
            "retry_after\@$CT" => 86400);
    my $mark = error_log_mark();
    my $a = fresh_user('cap-a');
    my $p = obo_get($CV, '/x/env', token => ut($a, $CT));
    expect_status($p, 503, 'the request that met it: 503');
    is $p->header('Retry-After'), 300, 'Retry-After: 300 (capped as the pause is)';
    is token_calls($a), 1, 'one IdP call';
    my $q = obo_get($CV, '/x/env', token => ut(fresh_user('cap-b'), $CT));
    expect_status($q, 503, 'paused: 503');
    my $ra = $q->header('Retry-After') // 0;
    ok $ra > 250 && $ra <= 300, "Retry-After $ra: capped at 300";
    like error_log_since($mark), qr/OBO091.*paused for 300 s/, 'the pause is logged once with its length';
    idp_set("token_fault\@$CT" => '', "token_fault_times\@$CT" => '', "retry_after\@$CT" => '');
};

$h2->stop if $h2;
idp_reset();
done_testing();
