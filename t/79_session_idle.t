# SPDX-License-Identifier: Apache-2.0
# A session keeps the idle lifetime it was opened with (review 13A F2).
# Two servers share memcached: the first opens sessions with
# `OBOSessionLifetime 4 60`; the second serves only the obo-token handler,
# with the default lifetimes (7 days idle). Before, the second read a
# session idle past 4 s as evicted and revived it for 7 days; the first
# then served it again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use LWP::UserAgent;
use OBOTest;
use OBOTest::Config;
use OBOTest::Httpd2;

need_feature('authn', 'exchange');
idp_reset();

my $T = 'lridle';
my $lib = OBOTest::Config::libexecdir();
my $authz = "<IfModule !mod_authz_host.c>\n    LoadModule authz_host_module "
          . "\"$lib/mod_authz_host.so\"\n</IfModule>\n";
my $handler = "<Location /token>\n    SetHandler obo-token\n    Require local\n</Location>\n";
my $opener = eval { OBOTest::Httpd2->start(procs => 1, tenant => $T, name => 'httpd2idlea',
    extra => $authz . "OBOSessionLifetime 4 60\n<Location /lr>\n    AuthType obo\n"
             . "    Require valid-user\n    OBOScope api://downstream/.default\n"
             . "    OBOLongRunning on\n</Location>\n" . $handler) };
my $other = eval { OBOTest::Httpd2->start(procs => 1, tenant => $T, name => 'httpd2idleb',
                                          extra => $authz . $handler) };
ok $opener && $other, 'a server opening sessions (idle 4 s) and one serving only the handler'
    or do { diag $@; done_testing(); exit 0 };

my $ua = LWP::UserAgent->new(timeout => 30);
sub get { my ($srv, $key) = @_; return $ua->get($srv->url('/token'), 'OBO-Session-Key' => $key)->code }

my $sub = fresh_user('idle');
my $tok = mint(tenant => $T, claims => { sub => $sub, oid => oid_of($sub) });
my $r = $ua->get($opener->url('/lr/backend/open'), Authorization => "Bearer $tok");
is $r->code, 200, 'session opened at the first server';
my $key = $r->code == 200 ? (json_body($r)->{header_map} // {})->{'obo-session-key'} : undef;
ok $key, 'its key reached the backend' or do { done_testing(); exit 0 };
is get($other, $key), 200, 'the handler-only server serves it while it is used';
sleep 6;
is get($other, $key), 404, 'idle for 6 s (more than its 4 s): the handler-only server ends it';
is get($opener, $key), 404, 'and it stays ended at the first server';

done_testing();
