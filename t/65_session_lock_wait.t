# SPDX-License-Identifier: Apache-2.0
# A handler call behind another request's refresh of the same session
# (review 33A-F6): it waits OBOCacheLockWait, then answers 503 with
# Retry-After (OBO180, the session kept), not 504 "the identity provider did
# not answer in time": the lock may be one its holder left behind (a
# memcached stall at its unlock), and the IdP answered. One refresh grant
# for the two calls; the session serves the next call. The refresh's own
# call timing out at the IdP stays a 504.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use LWP::UserAgent;
use OBOTest;
use OBOTest::Config;
use OBOTest::Httpd2;
use POSIX ();
use Time::HiRes qw(sleep time);

need_feature('authn', 'exchange');
idp_reset();

my $T = 'lrwait' . int(rand(1e6));
my $lib = OBOTest::Config::libexecdir();
# two servers sharing memcached: the second call goes to the other server,
# so that it waits on the cache lock (in one process it would wait for the
# refresh itself and get its token)
my $conf = "<IfModule !mod_authz_host.c>\n    LoadModule authz_host_module "
         . "\"$lib/mod_authz_host.so\"\n</IfModule>\nOBOCacheLockWait 1000\nOBOTimeout 1 2\n"
         . "<Location /lr>\n    AuthType obo\n    Require valid-user\n"
         . "    OBOScope api://downstream/.default\n    OBOLongRunning on\n</Location>\n"
         . "<Location /token>\n    SetHandler obo-token\n    Require local\n</Location>\n";
my $h = eval { OBOTest::Httpd2->start(procs => 1, tenant => $T, name => 'lrwaita',
                                      cache => 'memcached', extra => $conf) };
my $g = eval { OBOTest::Httpd2->start(procs => 1, tenant => $T, name => 'lrwaitb',
                                      cache => 'memcached', extra => $conf) };
END { $_ && $_->stop for ($h, $g) }
ok $h && $g, 'two servers with OBOCacheLockWait 1000 sharing memcached'
    or do { diag $@; done_testing(); exit 0 };

my $ua = LWP::UserAgent->new(timeout => 30);
my $sub = fresh_user('lrwait');
idp_set("expires_in\@$T" => 3);    # the session's token is due for refresh at once
my $r = $ua->get($h->url('/lr/backend/open'), Authorization => 'Bearer '
                 . mint(tenant => $T, claims => { sub => $sub, oid => oid_of($sub) }));
my $key = $r->code == 200 ? (json_body($r)->{header_map} // {})->{'obo-session-key'} : undef;
ok $key, 'a session opened' or do { diag $r->status_line; done_testing(); exit 0 };
sleep 3.2;
# (the refreshed token lives 3 s too: the last subtest refreshes again)
idp_set("token_fault\@$T" => 'slow', "slow_seconds\@$T" => 1.6);
my $base = idp_counters()->{"grant:refresh_token:$sub"} // 0;

# the first call refreshes (1.6 s at the IdP) and holds the session's lock
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $c = LWP::UserAgent->new(timeout => 30)->get($h->url('/token'), 'OBO-Session-Key' => $key);
    POSIX::_exit($c->code == 200 ? 0 : 1);
}
sleep 0.4;
my $t0 = time;
my $second = $ua->get($g->url('/token'), 'OBO-Session-Key' => $key);
my $took = time - $t0;
is $second->code, 503, sprintf('the call behind the refresh: 503 after %.1f s', $took)
    or diag $second->decoded_content;
ok $second->header('Retry-After'), 'with Retry-After';
like $second->decoded_content, qr/temporarily_unavailable/, 'temporarily_unavailable';
unlike $second->decoded_content, qr/did not answer in time/, 'not blamed on the IdP';
waitpid $pid, 0;
is $? >> 8, 0, 'the refreshing call: 200';
idp_set("token_fault\@$T" => '', "slow_seconds\@$T" => '');
is +(idp_counters()->{"grant:refresh_token:$sub"} // 0) - $base, 1, 'one refresh grant';
is $ua->get($h->url('/token'), 'OBO-Session-Key' => $key)->code, 200,
   'the session serves the next call';

# Review 34A-F2: the refresh's own call timing out at the IdP (OBOTimeout
# 1 2, the IdP takes 5 s) is the IdP's 504, not the session store's 503.
sleep 3.2;
idp_set("token_fault\@$T" => 'slow', "slow_seconds\@$T" => 5);
my $to = $ua->get($h->url('/token'), 'OBO-Session-Key' => $key);
is $to->code, 504, 'the refresh timed out at the IdP: 504' or diag $to->decoded_content;
like $to->decoded_content, qr/did not answer in time/, 'blamed on the IdP';
idp_set("token_fault\@$T" => '', "slow_seconds\@$T" => '', "expires_in\@$T" => '');
done_testing();
