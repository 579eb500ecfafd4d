# SPDX-License-Identifier: Apache-2.0
# Long-running sessions on two memcached servers (the README's cluster
# example) while one of them is down (review 28A): the sessions it holds
# answer 503 until it is back, never 404, and the users' requests open no
# new session meanwhile. Before, libmemcached's dead-server ejection moved
# their keys to the other server, where they were real
# misses: 404 session_not_found, and a new session (an IdP exchange,
# counted against the user's limit) for each user's next request.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Services;
use OBOTest::Config ();
use LWP::UserAgent;

need_feature('authn', 'exchange');
idp_reset();
my $t = t_dir();
my %p = OBOTest::Services::ports();
my $P2 = OBOTest::Httpd2::free_port();
OBOTest::Services::start_service('memcached2', port => $P2);
END { OBOTest::Services::stop_service('memcached2', port => $P2) if $P2 }
my $lib = OBOTest::Config::libexecdir();
my $h = OBOTest::Httpd2->start(procs => 1, tenant => 'mcdown', name => 'mcdown', cache => 'none',
                               extra => <<"EOF2");
OBOCache memcached 127.0.0.1:$p{memcached},127.0.0.1:$P2
OBOCacheSecret file:$t/pki/cache-secret.txt
OBOSessionLimit 50
<IfModule !mod_authz_host.c>
    LoadModule authz_host_module "$lib/mod_authz_host.so"
</IfModule>
<Location /lr>
    AuthType obo
    Require valid-user
    OBOScope api://downstream/.default
    OBOLongRunning on
</Location>
<Location /tok>
    SetHandler obo-token
    Require local
</Location>
EOF2
my $ua = LWP::UserAgent->new(timeout => 30);
sub open_session {
    my ($tok) = @_;
    my $r = $ua->get($h->url('/lr/backend/x'), Authorization => "Bearer $tok");
    my ($key) = ($r->decoded_content // '') =~ /"OBO-Session-Key"\s*,\s*"([^"]+)"/i;
    return ($r->code, $key);
}
sub handler { my ($k) = @_; return $ua->get($h->url('/tok'), 'OBO-Session-Key' => $k)->code }

my @s;
for my $i (1 .. 12) {
    my $u = fresh_user('mcdown');
    my $tok = user_token($u, 'mcdown');
    my ($code, $key) = open_session($tok);
    push @s, { tok => $tok, key => $key } if $code == 200 && $key;
}
is scalar(@s), 12, '12 sessions opened';
is_deeply [ map { handler($_->{key}) } @s ], [ (200) x 12 ], 'each one served by the handler';

OBOTest::Services::stop_service('memcached2', port => $P2);
my %seen;
for my $round (1 .. 3) {
    $seen{$_}++ for map { handler($_->{key}) } @s;
    sleep 1;
}
ok $seen{503}, 'the sessions on the stopped server answer 503' or diag explain \%seen;
ok !$seen{404}, '... and none 404 (their keys did not move to the other server)'
    or diag explain \%seen;
# (a refresh may happen: the session's access token lives in the token
# cache, which may miss; a new session is an On-Behalf-Of grant)
my $OBO = 'grant:urn:ietf:params:oauth:grant-type:jwt-bearer';
my $before = idp_counter($OBO);
my @again = map { [ open_session($_->{tok}) ] } @s;
my $moved = grep { my $k = $_->[1]; $_->[0] == 200 && $k && !grep { $_->{key} eq $k } @s } @again;
is $moved, 0, 'no user got a new session while the server was down';
is idp_counter($OBO) - $before, 0, '... and the IdP was not asked for one (no OBO grant)';

$h->stop;
done_testing();
