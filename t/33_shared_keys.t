# SPDX-License-Identifier: Apache-2.0
# A cold server under a burst while another already holds the keys (issue
# 14, A5): two servers share memcached; the first fetched the IdP's
# discovery and JWKS; then the IdP's discovery and JWKS endpoints answer
# slower than OBOTimeout (as when they queue behind a herd of exchanges), and
# a second, cold server gets a burst of first requests. It must answer them
# all (200, or 504 from the IdP's own timeout), never 503 (OBO002), by
# taking the keys the first server stored in the shared cache: the IdP sees
# no discovery or JWKS request from it. Once with the keys loaded when the
# children start (OBOPreloadKeys On, the default) and once at the first
# request (Off).
# OBO_TEST_SHARED_KEYS_USERS overrides the burst's users (default 40, 5
# concurrent first requests each; half of them for the second server). OBOTimeout 10 20: the loaded test IdP
# answers the burst's exchanges in time; its discovery and JWKS take 25 s.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();

my $T = 'skeys';
my $USERS = $ENV{OBO_TEST_SHARED_KEYS_USERS} || 40;
my $PER_USER = 5;
my $SLOW = 25;    # seconds the IdP's discovery and JWKS take: > OBOTimeout's 20
my $port = OBOTest::idp_port();
my $META = "https://127.0.0.1:$port/$T/v2.0/.well-known/openid-configuration";
my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);

my $STATUS = "<Location /obo-status>\n    SetHandler obo-status\n</Location>";
sub server {
    my ($name, $extra) = @_;
    my $h = eval { OBOTest::Httpd2->start(procs => 2, tenant => $T, name => $name,
                                          extra => "OBOTimeout 10 20\n$STATUS\n" . ($extra // '')) };
    diag "$name: $@" unless $h;
    return $h;
}
sub codes {
    my ($res) = @_;
    my %c;
    $c{ $_->{code} }++ for @$res;
    return join ', ', map { "$_ x $c{$_}" } sort keys %c;
}
sub keys_counters { my $c = idp_counters(); return map { $c->{"$_\@$T"} // 0 } qw(discovery jwks) }
sub log_of { my ($name) = @_; return OBOTest::Services::logs_dir() . "/${name}_error_log" }
sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; return <$fh> }

# The entry's key as obo_provider_shared_key computes it (src/idp/obo_provider.c):
# length-prefixed metadata URL, no JWKS URL, the CA file (OBOCACertificateFile
# of OBOTest::Httpd2), no issuers.
sub shared_key {
    my $ca = OBOTest::Services::t_dir() . '/pki/ca.pem';
    my $lp = sub { join '', map { length($_) . ":$_" } @_ };
    # named in memcached by an HMAC under the cache secret (memcached_name)
    return memcached_name('oboidp1:' . sha256_hex($lp->('obo-idp-keys-v1', $META) . '-'
                                                  . $lp->($ca) . '1:0'));
}

# The second server's burst: $USERS fresh users, $PER_USER concurrent first
# requests each, in waves of 50 users.
sub cold_burst {
    my ($h, $tag, $users) = @_;
    my @res;
    for (my $w = 0; $w < $users; $w += 50) {
        my @reqs;
        for my $i ($w + 1 .. ($w + 50 < $users ? $w + 50 : $users)) {
            my $tok = mint(tenant => $T, claims => { sub => fresh_user("$tag$i") });
            push @reqs, [ $h->url("/x/backend/$tag"), Authorization => "Bearer $tok" ]
                for 1 .. $PER_USER;
        }
        push @res, burst(@reqs);
    }
    return \@res;
}

# ---- the first server fetches the keys while the IdP is fast
memcached_cmd('delete ' . shared_key());
my $first = server('skeys_a');
ok $first, 'first server (2 processes, memcached)' or do { done_testing(); exit 0 };
my $r = $ua->get($first->url('/x/backend/warm'),
                 Authorization => 'Bearer ' . mint(tenant => $T, claims => { sub => fresh_user('w') }));
is $r->code, 200, 'the first server answers: it holds the keys' or diag describe($r);
my $entry;
for (1 .. 50) { $entry = memcached_get(shared_key()); last if defined $entry; sleep 0.1 }
ok defined $entry, 'it stored the discovery and key set in memcached (the test computes the key)';
unlike $entry // '', qr/"keys"|jwks_uri|\Q$T\E/, 'sealed: no JWKS or URL in clear';

# ---- the IdP's discovery and JWKS are now slower than the servers' timeout
idp_set("discovery_fault\@$T" => 'slow', "jwks_fault\@$T" => 'slow', "slow_seconds\@$T" => $SLOW);

for my $case (['skeys_b', 'keys loaded as the children start', $USERS, ''],
              ['skeys_c', 'keys loaded at the first request', int(($USERS + 1) / 2),
               "<IfDirective OBOPreloadKeys>\n    OBOPreloadKeys Off\n</IfDirective>"]) {
    my ($name, $what, $users, $extra) = @$case;
    subtest "a cold server, $what: $users users x $PER_USER first requests" => sub {
        my @before = keys_counters();
        my $mark = -s log_of($name) || 0;
        my $h = server($name, $extra);
        ok $h, "cold server $name" or return;
        my $t0 = time;
        my $res = cold_burst($h, $name, $users);
        my $took = time - $t0;
        my $n503 = grep { $_->{code} == 503 } @$res;
        my $bad = grep { $_->{code} != 200 && $_->{code} != 504 } @$res;
        is $n503, 0, 'no 503 (identity provider keys unavailable)' or diag codes($res);
        is $bad, 0, 'every request 200 (or 504 from the IdP\'s own timeout)' or diag codes($res);
        ok scalar(grep { $_->{code} == 200 } @$res) > 0, 'requests were served' or diag codes($res);
        my @after = keys_counters();
        is $after[0] - $before[0], 0, 'no discovery request from the cold server';
        is $after[1] - $before[1], 0, 'no JWKS request from the cold server: it needed no fetch';
        my $log = substr(slurp(log_of($name)), $mark);
        like $log, qr/OBO014: took \d+ keys of the IdP, fetched \d+ s ago by another process or server, from the shared cache/,
             'its error_log says where the keys came from (OBO014)';
        my $m = eval { JSON::PP::decode_json($ua->get($h->url('/obo-status?format=json'))->decoded_content) };
        cmp_ok $m->{key_sets_reused}{shared_cache} // 0, '>=', 1,
               'metrics: key sets taken from the shared cache';
        is $m->{requests}{no_keys} // -1, 0, 'metrics: no request without keys';
        diag sprintf('%s: %d users x %d first requests: %s in %.1f s', $name, $users, $PER_USER,
                     codes($res), $took);
        $h->stop;
    };
}

# ---- a newer set (a rotation) replaces the shared one
subtest 'a newer set replaces the shared one' => sub {
    idp_set("discovery_fault\@$T" => '', "jwks_fault\@$T" => '', "slow_seconds\@$T" => '',
            "rotate\@$T" => 1);
    # a new server of the same IdP: it takes key set A from the cache and,
    # at the token of key B, refetches from the IdP
    my $before = memcached_get(shared_key());
    my $rot = server('skeys_r');
    ok $rot, 'a cold server' or return;
    my $rb = $ua->get($rot->url('/x/backend/rot'), Authorization => 'Bearer '
                      . mint(tenant => $T, kid => 'rsa-b', claims => { sub => fresh_user('r') }));
    is $rb->code, 200, 'the IdP rotated to key B: a token of key B makes it refetch'
        or diag describe($rb);
    $rot->stop;
    my $after;
    for (1 .. 50) { $after = memcached_get(shared_key()); last if ($after // '') ne ($before // ''); sleep 0.1 }
    isnt $after, $before, 'and replaces the shared entry with the newer set';
    idp_set("discovery_fault\@$T" => 'down', "jwks_fault\@$T" => 'down');
    my $d = server('skeys_d');
    ok $d, 'another cold server, the IdP\'s discovery and JWKS down' or return;
    my @res = burst(map { [ $d->url('/x/backend/d'), Authorization => 'Bearer '
                            . mint(tenant => $T, kid => 'rsa-b', claims => { sub => fresh_user("d$_") }) ] } 1 .. 10);
    is scalar(grep { $_->{code} == 200 } @res), 10,
       'the IdP down: the cold server accepts tokens of key B, from the newer shared set'
        or diag codes(\@res);
    $d->stop;
};

idp_set("discovery_fault\@$T" => '', "jwks_fault\@$T" => '', "slow_seconds\@$T" => '',
        "rotate\@$T" => '');
$first->stop;
done_testing();
