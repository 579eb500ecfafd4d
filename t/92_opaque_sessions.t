# SPDX-License-Identifier: Apache-2.0
# Review 24 (low): a long-running Location with opaque tokens answered 500
# (OBO130, "the token names no user") when the introspection answer named no
# iss, which RFC 7662 makes optional, though it named sub. The session's
# owner is then sub at the issuer of the provider whose introspection
# endpoint answered; two tokens of one sub are one user (OBOSessionLimit).
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
use JSON::PP ();

need_feature('authn', 'exchange');
idp_reset();
my $ua = LWP::UserAgent->new(timeout => 30, agent => 'obo-tests/1.0');
my $T = 'xintro';
my $ISS = idp_url("/$T/v2.0");

sub opaque {
    my (%o) = @_;
    my %c = (active => JSON::PP::true, sub => fresh_user('olr'), iss => $ISS,
             aud => 'api://test-api', exp => time + 600, scope => 'orders.read profile',
             token_type => 'Bearer', client_id => 'frontend', %o);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return idp_opaque(%c);
}
sub get {
    my ($h, $path, @hdr) = @_;
    return $ua->request(HTTP::Request->new(GET => $h->url($path), [@hdr]));
}
sub start {
    my ($h, $tok) = @_;
    my $r = get($h, '/lr/backend/x', Authorization => "Bearer $tok");
    my ($key) = ($r->decoded_content // '') =~ /"OBO-Session-Key"\s*,\s*"([^"]+)"/i;
    return ($r, $key);
}

my $extra = "<IfModule !mod_authz_host.c>\n    LoadModule authz_host_module "
    . OBOTest::Config::libexecdir() . "/mod_authz_host.so\n</IfModule>\n"
    . "OBOExchange token-exchange\nOBOClientAuth client_secret_basic\nOBOSessionLimit 1\n"
    . "OBOIssuer $ISS https://sts.example.test/$T/\n"
    . "<Location /lr>\n AuthType obo\n Require valid-user\n OBOTokenFormat opaque\n OBOScope read\n"
    . " OBOExchangeAudience api://downstream-te\n OBOLongRunning on\n</Location>\n"
    . "<Location /obo-token>\n SetHandler obo-token\n Require local\n</Location>\n";
my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', tenant => $T, name => 'opaque_lr',
                               extra => $extra);

for my $case (['an answer with iss', {}], ['an answer without iss', { iss => undef }]) {
    my ($name, $o) = @$case;
    my ($r, $key) = start($h, opaque(%$o));
    ok $r->code == 200 && $key, "$name: 200 and a session key" or diag describe($r);
    is $key && get($h, '/obo-token', 'OBO-Session-Key' => $key)->code, 200, "$name: the handler serves it";
}

subtest 'without iss, two tokens of one sub are one user' => sub {
    my $sub = fresh_user('same');
    my (undef, $k1) = start($h, opaque(sub => $sub, iss => undef));
    my (undef, $k2) = start($h, opaque(sub => $sub, iss => undef));
    ok $k1 && $k2, 'two sessions started';
    is get($h, '/obo-token', 'OBO-Session-Key' => $k1)->code, 404,
       'OBOSessionLimit 1: the first ended when the same user opened the second';
    is get($h, '/obo-token', 'OBO-Session-Key' => $k2)->code, 200, 'the second lives';
};

# review 40A-F3: with tid+oid, the owner took the answer's iss: one user's
# v1 and v2 answers (both issuers written for the provider) were two owners
subtest 'tid+oid: answers of one user with either issuer of the provider are one user' => sub {
    my %u = (sub => fresh_user('tidoid'), tid => 'xintro-tenant', oid => 'oid-' . int(rand(1e9)));
    my (undef, $k1) = start($h, opaque(%u));
    my (undef, $k2) = start($h, opaque(%u, iss => "https://sts.example.test/$T/"));
    ok $k1 && $k2, 'two sessions started';
    is get($h, '/obo-token', 'OBO-Session-Key' => $k1)->code, 404,
       'OBOSessionLimit 1: the first ended when the same user opened the second';
    is get($h, '/obo-token', 'OBO-Session-Key' => $k2)->code, 200, 'the second lives';
};

$h->stop;
idp_reset();
done_testing();
