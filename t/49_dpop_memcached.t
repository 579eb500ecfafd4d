# SPDX-License-Identifier: Apache-2.0
# DPoP replay records on memcached when memcached loses them (review 28C,
# high): two servers behind one name share two memcached servers. A proof
# accepted by one server is refused again by both after one memcached
# server stops (its records' keys must not move to the other and be missed
# there: 503 until it is back, never 200) and after a flush_all (the
# accepting server's own table still knows it).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Services;
use OBOTest::Mint qw(mint b64u_json);
use OBOTest::Keys qw(b64u);
use Crypt::PK::ECC;
use Crypt::PRNG qw(random_string);
use Digest::SHA qw(sha256);
use LWP::UserAgent;

need_feature('authn');
idp_reset();
my $t = t_dir();
my %p = OBOTest::Services::ports();
my $P2 = OBOTest::Httpd2::free_port();
OBOTest::Services::start_service('memcached2', port => $P2);
END { OBOTest::Services::stop_service('memcached2', port => $P2) if $P2 }
my $extra = <<"EOF2";
OBOCache memcached 127.0.0.1:$p{memcached},127.0.0.1:$P2
OBOCacheSecret file:$t/pki/cache-secret.txt
Alias /req "$t/htdocs"
<Location /req>
    AuthType obo
    Require valid-user
    OBODPoP required
    OBODPoPURL https://api.example.com
</Location>
EOF2
my $A = OBOTest::Httpd2->start(procs => 1, cache => 'none', name => 'dpmca', extra => $extra);
my $B = OBOTest::Httpd2->start(procs => 1, cache => 'none', name => 'dpmcb', extra => $extra);
my $ua = LWP::UserAgent->new(timeout => 30);
my $key = Crypt::PK::ECC->new; $key->generate_key('secp256r1');
my $tok = mint(tenant => 'xmc', claims => { cnf => { jkt => $key->export_key_jwk_thumbprint('SHA256') } });
my $HTU = 'https://api.example.com/req/public.txt';
sub proof {
    my $in = b64u_json({ typ => 'dpop+jwt', alg => 'ES256', jwk => $key->export_key_jwk('public', 1) })
           . '.' . b64u_json({ jti => b64u(random_string(16)), htm => 'GET', htu => $HTU,
                               iat => time, ath => b64u(sha256($tok)) });
    return "$in." . b64u($key->sign_message_rfc7518($in, 'SHA256'));
}
sub send_proof {
    my ($srv, $p) = @_;
    return $ua->get($srv->url('/req/public.txt'), Authorization => "DPoP $tok", DPoP => $p)->code;
}

my @used = map { proof() } 1 .. 24;
is_deeply [ map { send_proof($A, $_) } @used ], [ (200) x 24 ], '24 proofs accepted at A';
is_deeply [ map { send_proof($B, $_) } @used[0 .. 7] ], [ (401) x 8 ],
   '... and refused at B (memcached knows them)';

# the other 16 were never sent to B: only memcached knows them there
OBOTest::Services::stop_service('memcached2', port => $P2);
my %at_b;
for my $round (1 .. 3) { $at_b{ send_proof($B, $_) }++ for @used[8 .. 23]; sleep 1 }
ok !$at_b{200}, 'memcached2 stopped: none replays at B (its records do not move)'
    or diag explain \%at_b;
ok $at_b{503}, '... those whose record is on the stopped server get 503' or diag explain \%at_b;
is_deeply [ map { send_proof($A, $_) } @used ], [ (401) x 24 ],
   'at A, its own table refuses every one';

memcached_cmd('flush_all');
is_deeply [ map { send_proof($A, $_) } @used ], [ (401) x 24 ],
   'after flush_all on memcached: A still refuses every one';

$A->stop;
$B->stop;
done_testing();
