# SPDX-License-Identifier: Apache-2.0
# JWKS cache: fetched at first use, cached per process, refetched once for
# an unknown kid (throttled: at most once per 10 s per provider and process),
# periodic refresh (OBOJWKSRefreshInterval, min 60 s) that keeps the last
# good keys when the IdP fails. Counter bounds use max_procs() (1 with the
# threaded MPMs configured in extra.conf.in, up to 4 under prefork, where a
# request may reach a process that has not fetched the keys yet: that
# process's first fetch is one more, hence the $P - 1 and 2 * $P - 1 bounds;
# with one process they are the exact counts).
#
# Phase 1 runs immediately, then ONE wait of 62 s, then phase 2 checks what
# must happen once the 60 s windows have passed. During the wait, a server
# of its own (t/lib/OBOTest/Config.pm) whose OBOJWKSFile becomes a FIFO at
# run time (review 36A-F1).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(check_config);
use Crypt::PRNG qw(random_string);
use Fcntl qw(O_WRONLY O_NONBLOCK);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use LWP::UserAgent;
use POSIX qw(mkfifo);
use Time::HiRes qw(sleep time);

need_feature('authn');
idp_reset();
my $P = max_procs();

sub c { my ($name) = @_; return idp_counter($name) }
sub within {
    my ($got, $lo, $hi, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok $got >= $lo && $got <= $hi, "$name (got $got, want $lo..$hi)";
}
sub wait_counter {    # a refresh may finish just after the response
    my ($name, $min, $secs) = @_;
    my $end = time + ($secs // 3);
    my $v;
    while (1) { $v = c($name); last if $v >= $min || time > $end; sleep 0.2 }
    return $v;
}
sub rot_token { my (%o) = @_; return mint(tenant => 'rot', %o) }
sub kid_token { my (%o) = @_; return mint(tenant => 'kid', %o) }
sub ref_token { my (%o) = @_; return mint(tenant => 'refresh', %o) }

# ---------------------------------------------------------------- phase 1
is c('jwks@rot'), 0, 'no JWKS fetched before the first request';
is c('discovery@rot'), 0, 'no discovery before the first request';
expect_ok(obo_get('obo_rot', '/api/env', token => rot_token()), 'first request: 200', user => 'user-sub-1');
within(c('jwks@rot'), 1, $P, 'JWKS fetched at first use');
within(c('discovery@rot'), 1, $P, 'discovery fetched at first use');
my $d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token()), "cached keys: request $_ is 200") for 1 .. 5;
}, 'jwks@rot', 'discovery@rot');
within($d->{'jwks@rot'}, 0, $P - 1, 'keys are cached: no JWKS fetch for 5 more requests');
within($d->{'discovery@rot'}, 0, $P - 1, 'discovery is cached too');

idp_set('rotate@rot' => 1);    # the IdP now publishes key B instead of key A
$d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token(kid => 'rsa-b')),
              'rotation: token signed with the new key B: 200', user => 'user-sub-1');
}, 'jwks@rot');
within($d->{'jwks@rot'}, 1, $P, 'rotation: the unknown kid triggered exactly one refetch (per process)');
$d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token(kid => 'rsa-b')), "key B again: 200") for 1 .. 3;
}, 'jwks@rot');
within($d->{'jwks@rot'}, 0, $P - 1, 'key B is now cached: no more fetches');
$d = counter_delta(sub {
    my $t = rot_token(kid => 'rsa-a');
    expect_invalid_token(obo_get('obo_rot', '/api/env', token => $t), 'retired key A: 401', token => $t,
                         realm => 'rot');
}, 'jwks@rot');
within($d->{'jwks@rot'}, 0, $P - 1, 'key A now unknown, but the refetch is throttled (< 10 s since the last)');

expect_ok(obo_get('obo_kid', '/api/env', token => kid_token()), 'obo_kid: first request 200');
$d = counter_delta(sub {
    for my $i (1 .. 20) {
        my $t = kid_token(kid => 'random-' . random_string(10), sign_key => 'foreign', alg => 'RS256');
        my $r = obo_get('obo_kid', '/api/env', token => $t);
        expect_invalid_token($r, "random kid $i: 401", token => $t, realm => 'kid');
    }
}, 'jwks@kid');
within($d->{'jwks@kid'}, 0, 2 * $P - 1, '20 random kids: at most one refetch per process (and first fetches)');
expect_ok(obo_get('obo_kid', '/api/env', token => kid_token()), 'obo_kid: known kid still 200');

my $t_refresh = time;
expect_ok(obo_get('obo_refresh', '/api/env', token => ref_token()), 'obo_refresh: first request 200');
within(c('jwks@refresh'), 1, $P, 'obo_refresh: JWKS fetched once');
idp_set('jwks_fault@refresh' => 500);

# Review 36A-F1: the JWKS file replaced at run time by a FIFO that nobody
# writes to (or a file on a hung mount). The first unknown kid's refetch
# stayed in open() for ever, and each later one (one per 10 s throttle)
# waited for ever on the fetch lock behind it, until no worker was left.
# Now the file is opened without blocking and refused (OBO012): an unknown
# kid is answered 401 at once, a valid token 200 with the keys read before.
# review 37C-F3: the IdP rotated to a key this server has not seen and its
# JWKS endpoint fails: whether the kid exists could not be learnt, so the
# answer is 503 with Retry-After (the keys are unavailable), not 401
# invalid_token, which sends every client for a new token signed with the
# same new key
subtest 'a rotated key while the JWKS endpoint fails: 503, not 401' => sub {
    my %p = OBOTest::Services::ports();
    my $tenant = 'rotfail';
    my $conf = "OBOMetadataURL https://127.0.0.1:$p{idp}/$tenant/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile " . OBOTest::Keys::pki_dir() . "/ca.pem\nOBOAudience api://test-api\n"
             . "<Location /public.txt>\n AuthType obo\n Require valid-user\n</Location>";
    my $ua = LWP::UserAgent->new(timeout => 20, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        my ($port) = @_;
        my %r = (before => $ua->get("http://127.0.0.1:$port/public.txt",
                                    Authorization => 'Bearer ' . mint(tenant => $tenant)));
        idp_set("rotate\@$tenant" => 'both', "jwks_fault\@$tenant" => '500');
        $r{rotated} = $ua->get("http://127.0.0.1:$port/public.txt",
                               Authorization => 'Bearer ' . mint(tenant => $tenant, kid => 'rsa-b'));
        idp_set("rotate\@$tenant" => '', "jwks_fault\@$tenant" => '');
        return \%r;
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}{before}->code, 200, 'a token of the key in the set: 200';
    is $c->{probe}{rotated}->code, 503, 'a token of the new key, the JWKS endpoint failing: 503'
        or diag describe($c->{probe}{rotated});
    ok $c->{probe}{rotated}->header('Retry-After'), '... with Retry-After';
};

subtest 'OBOJWKSFile replaced by a FIFO at run time: answers, never a hang' => sub {
    my %p = OBOTest::Services::ports();
    my $dir = tempdir('jwksfifo-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);
    my $jw = "$dir/jwks.json";
    copy(OBOTest::Keys::pki_dir() . '/jwks-static.json', $jw) or die "copy: $!";
    chmod 0644, $jw;
    my $conf = "OBOJWKSFile $jw\nOBOIssuer https://127.0.0.1:$p{idp}/tenant1/v2.0\n"
             . "OBOAudience api://test-api\n"
             . "<Location /public.txt>\n AuthType obo\n Require valid-user\n</Location>";
    my $ua = LWP::UserAgent->new(timeout => 8, keep_alive => 0);
    my $unknown = sub { mint(kid => "nope$_[0]", sign_key => 'foreign', alg => 'RS256') };
    my $c = check_config($conf, probe => sub {
        my ($port) = @_;
        my $get = sub {
            my ($tok) = @_;
            my $t0 = time;
            my $r = $ua->get("http://127.0.0.1:$port/public.txt", Authorization => "Bearer $tok");
            my $hung = ($r->header('Client-Warning') // '') eq 'Internal response';
            return { code => $hung ? 'hung' : $r->code, secs => time - $t0 };
        };
        my %r = (before => $get->(mint()));
        rename $jw, "$jw.bak" or die "rename: $!";
        mkfifo($jw, 0644) or die "mkfifo: $!";
        my $t0 = time;
        $r{unknown1} = $get->($unknown->(1));
        $r{valid1} = $get->(mint());
        sleep 10.5 - (time - $t0) if time - $t0 < 10.5;    # past the refetch throttle
        $r{unknown2} = $get->($unknown->(2));
        $r{valid2} = $get->(mint());
        # a reader stuck in open() (a build without the fix) is let go, so
        # that the server can stop
        if (sysopen my $w, $jw, O_WRONLY | O_NONBLOCK) { close $w }
        unlink $jw;
        rename "$jw.bak", $jw;
        return \%r;
    });
    ok $c->{started}, 'httpd starts with the JWKS file' or return diag $c->{output};
    my $r = $c->{probe};
    is $r->{before}{code}, 200, 'a valid token before: 200';
    for my $k (qw(unknown1 unknown2)) {
        # the set could not be read again: keys unavailable (503), not a 401
        # for a kid the file may hold (review 37C-F3)
        ok $r->{$k}{code} eq '503' && $r->{$k}{secs} < 5,
           sprintf('%s: an unknown kid with the file a FIFO: 503 at once (%s in %.1f s)',
                   $k, $r->{$k}{code}, $r->{$k}{secs});
    }
    for my $k (qw(valid1 valid2)) {
        ok $r->{$k}{code} eq '200' && $r->{$k}{secs} < 5,
           sprintf('%s: a valid token meanwhile: 200 (%s in %.1f s)', $k, $r->{$k}{code},
                   $r->{$k}{secs});
    }
    like $c->{output}, qr/OBO012: JWKS from \S+ unusable: cannot read the JWKS file: it is not a regular file/,
         'OBO012 says why the file was not read' or diag $c->{output};
};

# ------------------------------------------------------------------ wait
my $wake = $t_refresh + 62;
diag sprintf 'waiting %.0f s for the 60 s refresh interval and throttle windows', $wake - time;
sleep($wake - time) if $wake > time;

# ---------------------------------------------------------------- phase 2
my $before = c('jwks@refresh');
expect_ok(obo_get('obo_refresh', '/api/env', token => ref_token()),
          'after the refresh interval, with the JWKS endpoint failing (500): still 200 (last good keys)',
          user => 'user-sub-1');
my $after = wait_counter('jwks@refresh', $before + 1);
ok $after > $before, "a refresh was attempted after OBOJWKSRefreshInterval ($before -> $after)";
idp_set('jwks_fault@refresh' => 'down');
expect_ok(obo_get('obo_refresh', '/api/env', token => ref_token()),
          'JWKS endpoint not answering at all: still 200', user => 'user-sub-1');
idp_set('jwks_fault@refresh' => '');

$d = counter_delta(sub {
    my $t = kid_token(kid => 'random-' . random_string(10), sign_key => 'foreign', alg => 'RS256');
    expect_invalid_token(obo_get('obo_kid', '/api/env', token => $t), 'another random kid after 60 s: 401',
                         token => $t, realm => 'kid');
}, 'jwks@kid');
within($d->{'jwks@kid'}, 1, 1, 'the throttle window has passed: one refetch again');

idp_set('rotate@rot' => 'both');
$d = counter_delta(sub {
    expect_ok(obo_get('obo_rot', '/api/env', token => rot_token(kid => 'rsa-a')),
              'key A republished, throttle window passed: 200 after one refetch', user => 'user-sub-1');
}, 'jwks@rot');
within($d->{'jwks@rot'}, 1, 1, 'exactly one refetch for it');

idp_reset();
done_testing();
