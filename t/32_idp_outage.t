# SPDX-License-Identifier: Apache-2.0
# An IdP outage plus a restart is no outage (issue 6, defect 10): the last
# good discovery document and JWKS are kept, sealed, under httpd's runtime
# directory, so that with the IdP's discovery and JWKS unreachable a graceful
# restart (new children) and a child spawned later still accept a token that
# was valid before; once the IdP answers again the usual rules apply (a
# rotated key is picked up).
#
# A second httpd (t/lib/OBOTest/Httpd2.pm, 4 processes, tenant "persist").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

need_feature('exchange');
idp_reset();

# Children retire after 15 connections, so fresh children keep being spawned
# by the parent after the restart while the IdP is down.
# No token cache: the keys' other fallback, the shared cache, is
# t/33_shared_keys.t's; here every child has only the IdP and the state file.
# So every request exchanges at the IdP, 20 at once: with the suite's other
# runs beside this one, the test IdP's TLS handshakes took over the default
# 3 s connect timeout (504, OBO054) although the keys were all there. What
# is tested is the keys, so the exchange gets time.
my $h = eval { OBOTest::Httpd2->start(procs => 4, tenant => 'persist', cache => 'none',
                                      name => 'httpd_persist',
                                      extra => "MaxConnectionsPerChild 15\nOBOTimeout 15 30") };
ok $h, 'second httpd started' or diag $@;
plan skip_all => 'no second httpd' unless $h;
my $log = OBOTest::Services::logs_dir() . '/httpd_persist_error_log';

sub log_since {
    my ($mark) = @_;
    open my $fh, '<', $log or return '';
    seek $fh, $mark, 0;
    local $/;
    return scalar(<$fh>) // '';
}
sub log_mark { return -s $log || 0 }
sub get {
    my ($tok) = @_;
    return LWP::UserAgent->new(timeout => 30, keep_alive => 0)
        ->get($h->url('/x/backend/y'), Authorization => "Bearer $tok");
}
sub burst_codes {
    my ($tok, $n) = @_;
    my @r = burst(map { [ $h->url('/x/backend/y'), Authorization => "Bearer $tok" ] } 1 .. $n);
    my %c;
    $c{ $_->{code} }++ for @r;
    return \%c;
}
sub codes_str { my ($c) = @_; return join ' ', map { "$_ x$c->{$_}" } sort keys %$c }
# pids of children that logged OBO072 (saved state used) since $mark
sub restored_pids {
    my ($mark) = @_;
    my %p;
    my $text = log_since($mark);
    $p{$1} = 1 while $text =~ /\[pid (\d+)[^\]]*\][^\n]*OBO072/g;
    return \%p;
}

my $tok = mint(tenant => 'persist');
my $r = get($tok);
is $r->code, 200, 'the IdP is up: a valid token is accepted' or diag describe($r);

# ---- the sealed state file
my $sdir = "$h->{dir}/mod_auth_obo";
my @files;
for (1 .. 30) { @files = glob("$sdir/idp-*.state"); last if @files; sleep 0.1 }
is scalar(@files), 1, 'one state file for the IdP under the runtime directory';
if (@files) {
    my $mode = (stat $files[0])[2] & 07777;
    is sprintf('%04o', $mode), '0600', 'it is readable by the httpd user only (0600)';
    open my $fh, '<:raw', $files[0];
    local $/;
    my $raw = <$fh>;
    unlike $raw, qr/"keys"|discovery|jwks_uri/, 'its content is sealed, not plain JSON';
}
is scalar(() = glob("$sdir/*.state.*")), 0, 'no temporary file is left behind';

# ---- the IdP's discovery and JWKS go down; a graceful restart
idp_set('discovery_fault@persist' => 'down', 'jwks_fault@persist' => 'down');
my $disc_down = idp_counter('discovery@persist');
my %old = map { $_ => 1 } $h->children;
my $mark = log_mark();
my $out = `"$h->{httpd}" -f "$h->{conf}" -k graceful 2>&1`;
is $?, 0, 'apachectl graceful' or diag $out;
my $end = time + 20;
sleep 0.2 while time < $end && (grep({ $old{$_} } $h->children) || scalar($h->children) < 4);
my @new = $h->children;
ok !(grep { $old{$_} } @new) && @new >= 4, 'all children were replaced (' . scalar(@new) . ' new)';

my $c = burst_codes($tok, 24);
is_deeply $c, { 200 => 24 }, 'IdP down after the graceful restart: 24 of 24 requests 200 (' . codes_str($c) . ')';
is get($tok)->code, 200, 'and a sequential one too';
ok idp_counter('discovery@persist') > $disc_down, 'the new children did try the IdP first';
my $restored = restored_pids($mark);
ok scalar(keys %$restored) >= 1, 'new children used the saved state (OBO072 from pids '
   . join(',', sort keys %$restored) . ')';
my $bad = log_since($mark) =~ /OBO073[^\n]*(seal|unexpected)/;
ok !$bad, 'the saved state opened (no OBO073 seal failure)';

# ---- fresh children, spawned after the restart while the IdP is still down
# (the children above retire after 15 connections)
my %gen2 = map { $_ => 1 } @new;
$mark = log_mark();
my ($all_ok, %fresh_ok) = (1);
for my $round (1 .. 8) {
    my $cc = burst_codes($tok, 20);
    $all_ok = 0 unless ($cc->{200} // 0) == 20;
    diag "round $round: " . codes_str($cc) unless ($cc->{200} // 0) == 20;
    my $rp = restored_pids($mark);
    %fresh_ok = map { $_ => 1 } grep { !$gen2{$_} } keys %$rp;
    last if %fresh_ok && $round >= 3;
    sleep 0.5;
}
ok $all_ok, 'IdP still down: every request of every burst of 20 answered 200';
ok scalar(keys %fresh_ok) >= 1, 'children spawned later also answered with the saved keys (OBO072 from pids '
   . join(',', sort keys %fresh_ok) . ')';

# ---- the IdP comes back, and has rotated its keys meanwhile
idp_set('discovery_fault@persist' => '', 'jwks_fault@persist' => '', 'rotate@persist' => 1);
my $jwks_back = idp_counter('jwks@persist');
my $tok_b = mint(tenant => 'persist', kid => 'rsa-b');
my $cb;
$end = time + 20;
while (time < $end) {
    $cb = burst_codes($tok_b, 20);
    last if ($cb->{200} // 0) == 20;
    sleep 1;
}
is_deeply $cb, { 200 => 20 }, 'IdP back with key B: tokens signed with B are accepted by every child ('
   . codes_str($cb) . ')';
ok idp_counter('jwks@persist') > $jwks_back, 'the children fetched the new JWKS';

# Let the parent finish replacing retired children before stopping it: a
# child signalled while it is still being created dies in httpd's event MPM
# signal handler (exit() during its own malloc: a core, not ours).
my ($stable, $prev) = (0, '');
$end = time + 15;
while (time < $end && $stable < 3) {
    my $now = join ',', sort $h->children;
    $stable = $now eq $prev && scalar(split /,/, $now) >= 4 ? $stable + 1 : 0;
    $prev = $now;
    sleep 1;
}
$h->stop;
idp_reset();
done_testing();
