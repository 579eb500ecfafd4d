# SPDX-License-Identifier: Apache-2.0
# Review 30A: other users' session starts evicted a victim's long-running
# session from an shm cache too small for them (OBO195 warns); the victim's
# unchanged caller token then started a new session at each eviction, each
# counted against the victim's hourly cap, until the victim got 429 for the
# rest of the hour through nobody's fault but the others' traffic. A caller
# token's restarts now count once an hour.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use LWP::UserAgent;
use OBOTest;
use OBOTest::Httpd2;

need_feature('exchange');
idp_reset();
my $limit = 2;                  # the cap: max(2 x limit, the minimum) starts an hour
my $h = OBOTest::Httpd2->start(procs => 1, tenant => 'lr', cache => 'shm', name => 'evictcap',
                               extra => <<"EOC");
OBOCache shm 262144
OBOSessionLimit $limit
<Location /lrx>
    AuthType obo
    Require valid-user
    OBOScope api://downstream/.default
    OBOLongRunning on
</Location>
EOC
my $ua = LWP::UserAgent->new(timeout => 20, keep_alive => 1);
my $victim = fresh_user('victim');
my $vt = user_token($victim, 'lr');      # one caller token for the whole test
my @others = map { fresh_user("other$_") } 1 .. 60;
my %used;
my ($keys, $last, $codes, $refused) = (0, '', '', 0);
for my $round (1 .. 90) {
    my $r = $ua->get($h->url('/lrx/backend/v'), Authorization => "Bearer $vt");
    my ($k) = backend_header($r, 'OBO-Session-Key');
    $codes .= $r->code == 200 ? ($k && $k ne $last ? 'N' : '.') : $r->code == 429 ? 'X' : '[' . $r->code . ']';
    $keys++, $last = $k if $k && $k ne $last;
    $refused = 1, last if $r->code == 429;
    last if $keys >= 22;        # restarted past the hourly cap (20 at this limit)
    # other users: first requests of fresh tokens, each user under its own cap
    for (1 .. 12) {
        my ($u) = sort { ($used{$a} // 0) <=> ($used{$b} // 0) } @others;
        $used{$u}++;
        $ua->get($h->url('/lrx/backend/a'), Authorization => 'Bearer ' . user_token($u, 'lr'));
    }
}
diag "victim: $codes (N: a new session for the same caller token, X: 429)";
ok $keys >= 22, "the others' traffic evicted the victim's session again and again ($keys sessions)";
ok !$refused, 'the victim, who sent one token, is never refused with 429 for it';
$h->stop;

# Review 31: the free restart was also given after an end: start, DELETE,
# start with one caller token opened 30 sessions with no 429.
my $V = 'obo_lr_shm_l2';
my $t = user_token(fresh_user('cyc'), 'lrshm');
my ($starts, $code) = (0, 0);
for my $i (1 .. 30) {
    my $r = obo_get($V, '/lr/env', token => $t);
    $code = $r->code;
    last if $code == 429;
    my $k = cgi_env($r)->{OBO_SESSION_KEY} or last;
    $starts++;
    obo_request($V, 'DELETE', '/token', token => undef, headers => [ 'OBO-Session-Key' => $k ]);
}
is $code, 429, "start and DELETE in a loop: the hourly cap holds ($starts starts, then 429)";
ok $starts <= 20, 'at most the cap (20 at this limit)';
done_testing();
