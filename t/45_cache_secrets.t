# SPDX-License-Identifier: Apache-2.0
# Review 24 (medium): servers with different OBOCacheSecret on one memcached
# never meet. With plain entry names each took the other's sealed entry for a
# miss and wrote its own over it: a user's session list (OBOSessionLimit was
# not enforced: 6 live sessions at limit 2), the hourly start count (reset by
# one start on the other server) and the shared key set. Names are now HMACs
# under a key derived from the secret (obo_cache.c, obo_named_key).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Config ();
use LWP::UserAgent;
use HTTP::Request;

need_feature('authn', 'exchange');
idp_reset();
my $ua = LWP::UserAgent->new(timeout => 30, agent => 'obo-tests/1.0');
my $OTHER = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

sub ut { my ($sub) = @_; return mint(tenant => 'lr', claims => { sub => $sub, oid => oid_of($sub) }) }
sub get {
    my ($h, $path, @hdr) = @_;
    return $ua->request(HTTP::Request->new(GET => $h->url($path), [@hdr]));
}
# a session started at $h: its key (or undef) and the status
sub start {
    my ($h, $t) = @_;
    my $r = get($h, '/lr/backend/x', Authorization => "Bearer $t");
    my ($key) = ($r->decoded_content // '') =~ /"OBO-Session-Key"\s*,\s*"([^"]+)"/i;
    return ($key, $r->code);
}
sub extra {
    my ($secret) = @_;
    return "<IfModule !mod_authz_host.c>\n    LoadModule authz_host_module "
        . OBOTest::Config::libexecdir() . "/mod_authz_host.so\n</IfModule>\n"
        . ($secret ? "OBOCacheSecret $secret\n" : '')
        . "OBOSessionLimit 2\n"
        . "<Location /lr>\n AuthType obo\n Require valid-user\n OBOScope api://downstream/.default\n"
        . " OBOLongRunning on\n</Location>\n"
        . "<Location /obo-token>\n SetHandler obo-token\n Require local\n</Location>\n";
}

my $A = OBOTest::Httpd2->start(procs => 1, tenant => 'lr', name => 'secret_a', extra => extra(undef));
my $B = OBOTest::Httpd2->start(procs => 1, tenant => 'lr', name => 'secret_b', extra => extra($OTHER));

subtest 'the session limit holds while a server with another secret serves the same user' => sub {
    my $u = fresh_user('secrets');
    my (@ka, @codes);
    for (1 .. 4) {
        my ($k, $code) = start($A, ut($u));
        push @ka, $k;
        push @codes, $code;
        my (undef, $cb) = start($B, ut($u));
        push @codes, $cb;
    }
    is scalar(grep { $_ == 200 } @codes), 8, 'every start answered 200 (A and B alternating)';
    my @live = map { get($A, '/obo-token', 'OBO-Session-Key' => $_)->code } @ka;
    is "@live", '404 404 200 200', "A: only its user's newest 2 sessions live (OBOSessionLimit 2): @live";
};

subtest 'the hourly cap holds: a start on the other server does not reset it' => sub {
    my $u = fresh_user('secrets-cap');
    my %c;
    $c{ (start($A, ut($u)))[1] }++ for 1 .. 20;
    is $c{200}, 20, 'A: 20 starts (2 x OBOSessionLimit, at least 20)';
    is((start($A, ut($u)))[1], 429, 'A: the 21st is refused (429)');
    is((start($B, ut($u)))[1], 200, 'B (another secret) counts on its own: 200');
    is((start($A, ut($u)))[1], 429, 'A: still refused after B\'s start');
};

subtest 'no name in memcached is a plain one' => sub {
    my @all = memcached_keys();
    cmp_ok scalar(@all), '>=', 10, scalar(@all) . ' names listed (sessions, lists, counts...)';
    my @plain = grep { !/^obo2:[0-9a-f]{64}$/ && /^obo/ } @all;
    is scalar(@plain), 0, 'every module entry is named obo2:<64 hex>' or diag "@plain[0..4]";
};

$A->stop;
$B->stop;
done_testing();
