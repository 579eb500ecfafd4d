# SPDX-License-Identifier: Apache-2.0
# Review 30A: two servers (each its own PidFile) sharing one runtime
# directory wrote the same saved-state file for the same IdP, each sealed
# under its own parent's key: the last writer won, and the other, restarted
# while the IdP was down, found no usable state and answered 503 (OBO073).
# Each server now keeps a file of its own; both serve from their saved
# state through an outage.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use LWP::UserAgent;
use JSON::PP ();
use OBOTest;
use OBOTest::Httpd2;
use Time::HiRes qw(sleep time);

need_feature('authn');
idp_reset();
my $t = OBOTest::Services::t_dir();
my $rt = tempdir('shared-rt-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);
chmod 0700, $rt;
my $tenant = 'xstate' . int(rand(1e6));
my $extra = "DefaultRuntimeDir \"$rt\"\nAlias /v \"$t/htdocs\"\n"
          . "<Location /obo-status>\n SetHandler obo-status\n</Location>\n"
          . "<Location /v>\n AuthType obo\n Require valid-user\n</Location>\n";
my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
my $tok = mint(tenant => $tenant);

my @h;
for my $name (qw(statea stateb)) {
    my $h = OBOTest::Httpd2->start(procs => 1, cache => 'none', tenant => $tenant,
                                   name => $name, extra => $extra);
    push @h, $h;
    my ($code, $t0) = (0, time);
    while (time - $t0 < 15) {
        $code = $ua->get($h->url('/v/public.txt'), Authorization => "Bearer $tok")->code;
        last if $code == 200;
        sleep 0.3;
    }
    is $code, 200, "$name: keys loaded, the token accepted";
}
my ($t0, @files) = (time);
while (time - $t0 < 10) {
    @files = glob("$rt/mod_auth_obo/idp-*.state");
    last if @files >= 2;
    sleep 0.2;
}
is scalar(@files), 2, 'one saved-state file per server for the same IdP';

idp_stop();
for my $h (@h) {
    ok defined $h->graceful, 'graceful restart while the IdP is down';
    my $r = $ua->get($h->url('/v/public.txt'), Authorization => "Bearer $tok");
    is $r->code, 200, 'the token is accepted from the saved state' or diag describe($r);
    # issue 19: the status page says where the keys came from
    my $j = JSON::PP->new->decode($ua->get($h->url('/obo-status?format=json'))->decoded_content);
    my ($k) = grep { $_->{concern} eq 'keys of identity provider 1' } @{ $j->{summary} };
    ok $k && $k->{verdict} eq 'OK' && $k->{reason} =~ /from the saved state/,
       'the status page: keys from the saved state' or diag explain $k;
}
idp_start();
$_->stop for @h;
idp_reset();
done_testing();
