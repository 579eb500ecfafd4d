# SPDX-License-Identifier: Apache-2.0
# The status page as people see it (issue 19): headless Chromium (Debian's
# chromium) renders /obo-status of a server in a normal state and in a
# failing one (the IdP down, a memcached node stopped), and the pictures
# are checked to be real renderings. With OBO_SCREENSHOTS_DIR set they are
# also copied there: docs/status-ok.png and docs/status-failing.png come
# from this test (README, "Metrics and status").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Copy qw(copy);
use LWP::UserAgent;
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Services;
use Time::HiRes qw(sleep time);

need_feature('exchange');
my $chromium = (grep { -x } qw(/usr/bin/chromium /usr/bin/chromium-browser))[0];
plan skip_all => 'no chromium (apt-get install chromium)'
    unless $chromium || $ENV{OBO_REQUIRE_CHROMIUM};
ok $chromium, 'chromium is installed' or BAIL_OUT('OBO_REQUIRE_CHROMIUM: no chromium');
idp_reset();
my %p = OBOTest::Services::ports();
my $P2 = OBOTest::Httpd2::free_port();
OBOTest::Services::start_service('memcached2', port => $P2);
END { OBOTest::Services::stop_service('memcached2', port => $P2) if $P2 }
my $tenant = 'xshot' . int(rand(1e6));
my $h = OBOTest::Httpd2->start(procs => 1, name => 'shots', tenant => $tenant,
    memcached => "127.0.0.1:$p{memcached},127.0.0.1:$P2",
    extra => "<Location /obo-status>\n    SetHandler obo-status\n</Location>\n");
END { $h->stop if $h }
my $ua = LWP::UserAgent->new(timeout => 30);
my $dir = OBOTest::Services::run_dir();

sub shoot {
    my ($name) = @_;
    my $png = "$dir/$name";
    unlink $png;
    my $out = `"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1500 --screenshot="$png" "@{[ $h->url('/obo-status') ]}" 2>&1`;
    my $head = '';
    if (open my $fh, '<:raw', $png) { read $fh, $head, 8; close $fh }
    ok $head eq "\x89PNG\r\n\x1a\n" && -s $png > 20_000, "$name: a rendering of the page ("
       . (-s $png // 0) . ' bytes)' or diag $out;
    if (my $to = $ENV{OBO_SCREENSHOTS_DIR}) { copy($png, "$to/$name") or diag "copy to $to: $!" }
}

# a normal state: users accepted and exchanged, a few refused
for my $i (1 .. 6) {
    $ua->get($h->url('/x/backend/s'), Authorization => 'Bearer ' . user_token(fresh_user("shot$i"), $tenant));
}
$ua->get($h->url('/x/backend/s'), Authorization => 'Bearer not-a-token');
$ua->get($h->url('/x/backend/s'));
like $ua->get($h->url('/obo-status'))->decoded_content, qr{<title>mod_auth_obo status: OK</title>},
     'normal state: the page says OK';
shoot('status-ok.png');

# failing: the IdP down (a new user's exchange fails), a memcached node stopped
idp_stop();
$ua->get($h->url('/x/backend/s'), Authorization => 'Bearer ' . user_token(fresh_user('shotx'), $tenant))
    for 1 .. 2;
OBOTest::Services::stop_service('memcached2', port => $P2);
like $ua->get($h->url('/obo-status'))->decoded_content, qr{<title>mod_auth_obo status: failing</title>},
     'failing state: the page says failing';
shoot('status-failing.png');
idp_start();
idp_reset();
done_testing();
