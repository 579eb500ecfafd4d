# SPDX-License-Identifier: Apache-2.0
# The state directory does not trust its parent (issue 14, A4). Under a
# runtime directory other users can write to, they can plant things where
# the module keeps the IdP's last good keys (<runtime dir>/mod_auth_obo and
# its idp-<hash>.state). Each plant, with a second httpd
# (t/lib/OBOTest/Httpd2.pm) whose DefaultRuntimeDir is its own directory:
#   - a symbolic link at mod_auth_obo: refused (OBO078), nothing is written
#     into its target, requests are served without the saved state
#   - a directory others can write to (0777): refused, not repaired (what
#     was planted in it stays there), nothing written into it
#   - a FIFO at the state file, IdP down, graceful restart: every request
#     answers in bounded time (no hang), and 200 again once the IdP is back
#   - an oversized state file: not read (OBO073), requests answer
# The httpd runs as the test user, so root's chown through a link cannot be
# reproduced here; the code no longer chowns or chmods through a name.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Path qw(remove_tree);
use POSIX qw(mkfifo);
use Time::HiRes qw(sleep time);
use LWP::UserAgent;
use OBOTest;
use OBOTest::Httpd2;

need_feature('exchange');
idp_reset();
my $T = 'sdplant';
my $run = OBOTest::Services::run_dir();
my $tok = mint(tenant => $T);

sub log_of {
    my ($name) = @_;
    open my $fh, '<', OBOTest::Services::logs_dir() . "/${name}_error_log" or return '';
    local $/;
    return scalar(<$fh>) // '';
}

# a second httpd whose runtime directory got $plant before it started
sub start_with {
    my ($name, $plant) = @_;
    my $dir = "$run/$name";
    remove_tree($dir);
    mkdir $dir or die "$dir: $!";
    chmod 0755, $dir;
    unlink OBOTest::Services::logs_dir() . "/${name}_error_log";
    $plant->($dir) if $plant;
    # no shared cache: a new child must have only the state file to take the
    # keys from (with one, it takes another process's keys from the cache,
    # OBOPreloadKeys / OBO014, and never reads the planted file)
    return OBOTest::Httpd2->start(procs => 1, tenant => $T, cache => 'none', name => $name);
}

# (code, seconds, timed out?) of one request, never waiting more than 15 s
sub timed_get {
    my ($h) = @_;
    my $t0 = time;
    my $r = LWP::UserAgent->new(timeout => 15, keep_alive => 0)
        ->get($h->url('/x/backend/y'), Authorization => "Bearer $tok");
    my $hung = ($r->header('Client-Warning') // '') eq 'Internal response';
    return ($r->code, time - $t0, $hung);
}

sub files_in { my ($d) = @_; opendir my $dh, $d or return (); return grep { !/^\.\.?$/ } readdir $dh }

subtest 'a symbolic link at the state directory is refused; its target is untouched' => sub {
    my $victim = "$run/sd-victim";
    remove_tree($victim);
    mkdir $victim or die "$victim: $!";
    chmod 0755, $victim;
    my $h = start_with('httpd_sdlink', sub { symlink $victim, "$_[0]/mod_auth_obo" or die $! });
    my ($code) = timed_get($h);
    is $code, 200, 'requests are served';
    sleep 1;    # a state save would come right after the first key fetch
    is_deeply [ files_in($victim) ], [], 'nothing was written into the link target';
    is sprintf('%04o', (stat $victim)[2] & 07777), '0755', 'its mode is unchanged';
    ok -l "$h->{dir}/mod_auth_obo", 'the link is left as it was';
    like log_of('httpd_sdlink'), qr/OBO078: state directory \S+ refused: it is a symbolic link/,
        'OBO078 says why and that the module runs without the saved state';
    $h->stop;
};

subtest 'a pre-created 0777 directory is refused, not used' => sub {
    my $h = start_with('httpd_sd777', sub {
        mkdir "$_[0]/mod_auth_obo" or die $!;
        chmod 0777, "$_[0]/mod_auth_obo";
    });
    my ($code) = timed_get($h);
    is $code, 200, 'requests are served';
    sleep 1;
    is_deeply [ files_in("$h->{dir}/mod_auth_obo") ], [], 'no state file was written into it';
    is sprintf('%04o', (stat "$h->{dir}/mod_auth_obo")[2] & 07777), '0777',
        'left as it is (refused, not repaired)';
    like log_of('httpd_sd777'), qr/OBO078: state directory \S+ refused: group or others can write to it \(mode 0777\)/,
        'OBO078 names the mode';
    $h->stop;
};

# Review 30A: configtest said nothing; only the start logged OBO078.
subtest 'configtest warns of a state directory the start would refuse' => sub {
    require File::Temp;
    require OBOTest::Config;
    my $rt = File::Temp::tempdir('sdct-XXXXXX', DIR => $run, CLEANUP => 1);
    chmod 0700, $rt;
    mkdir "$rt/mod_auth_obo" or die $!;
    chmod 0777, "$rt/mod_auth_obo";
    my %p = OBOTest::Services::ports();
    my $conf = "DefaultRuntimeDir \"$rt\"\n"
        . "OBOMetadataURL https://127.0.0.1:$p{idp}/$T/v2.0/.well-known/openid-configuration\n"
        . "OBOAudience api://test-api\n<Location /api>\n AuthType obo\n Require valid-user\n</Location>";
    my $c = OBOTest::Config::check_config($conf);
    ok $c->{syntax_ok}, 'configtest passes (a warning)';
    like $c->{output}, qr/OBO078: state directory \S+ refused: group or others can write to it/,
         'and names OBO078' or diag $c->{output};
    is sprintf('%04o', (stat "$rt/mod_auth_obo")[2] & 07777), '0777', 'configtest changed nothing';
    rmdir "$rt/mod_auth_obo";
    $c = OBOTest::Config::check_config($conf);
    unlike $c->{output}, qr/OBO078/, 'none where the start would make it';
};

# A review found a parent its group could write to (not sticky) accepted:
# a member could swap the directory for a link after the check. (A parent
# owned by another user is refused too; the suite runs unprivileged and
# cannot give a directory away to show it.)
subtest 'a runtime directory its group can write to (not sticky) is refused as the parent' => sub {
    my $h = start_with('httpd_sdg775', sub { chmod 0775, $_[0] });
    my ($code) = timed_get($h);
    is $code, 200, 'requests are served';
    sleep 1;
    ok !-e "$h->{dir}/mod_auth_obo" || !files_in("$h->{dir}/mod_auth_obo"),
        'no state file was written';
    like log_of('httpd_sdg775'), qr/OBO078: state directory \S+ refused: group or others can write to its parent \S+, which is not sticky/,
        'OBO078 names the parent';
    $h->stop;
};

subtest 'a directory the module makes itself is 0700 and holds the state' => sub {
    my $h = start_with('httpd_sdok');
    my ($code) = timed_get($h);
    is $code, 200, 'requests are served';
    my @f;
    for (1 .. 30) { @f = glob("$h->{dir}/mod_auth_obo/idp-*.state"); last if @f; sleep 0.1 }
    is scalar(@f), 1, 'a state file';
    is sprintf('%04o', (stat "$h->{dir}/mod_auth_obo")[2] & 07777), '0700', 'the directory is 0700';
    unlike log_of('httpd_sdok'), qr/OBO078/, 'no OBO078';
    $h->stop;
};

subtest 'a FIFO or an oversized file at the state file: no hang across a graceful restart with the IdP down' => sub {
    my $h = start_with('httpd_sdfifo');
    my ($code) = timed_get($h);
    is $code, 200, 'IdP up: 200';
    my @f;
    for (1 .. 30) { @f = glob("$h->{dir}/mod_auth_obo/idp-*.state"); last if @f; sleep 0.1 }
    my $state = $f[0];
    ok $state, 'the state file exists' or return;
    for my $plant ([ 'FIFO', sub { mkfifo($state, 0600) or die "mkfifo: $!" },
                     qr/OBO073: no usable saved IdP state in \S+: not a regular file/ ],
                   [ 'oversized file', sub {
                         open my $fh, '>', $state or die $!; print $fh 'A' x (1024 * 1024); close $fh },
                     qr/OBO073: no usable saved IdP state in \S+: larger than/ ]) {
        my ($what, $do, $re) = @$plant;
        idp_set("discovery_fault\@$T" => 'down', "jwks_fault\@$T" => 'down');
        unlink $state;
        $do->();
        my $mark = length log_of('httpd_sdfifo');
        ok defined $h->graceful, "$what: graceful restart done";
        my ($worst, $hung, %codes) = (0, 0);
        for (1 .. 3) {
            my ($c, $secs, $h_) = timed_get($h);
            $codes{$c}++;
            $worst = $secs if $secs > $worst;
            $hung ||= $h_;
        }
        ok !$hung && $worst < 10, sprintf('%s, IdP down: every request answered (worst %.1f s; %s)',
            $what, $worst, join ' ', map { "$_ x$codes{$_}" } sort keys %codes);
        like substr(log_of('httpd_sdfifo'), $mark), $re, "$what: not read, and said so";
        idp_set("discovery_fault\@$T" => '', "jwks_fault\@$T" => '');
        my ($ok, $t0) = (0, time);
        while (time - $t0 < 20) {
            my ($c, $secs, $h_) = timed_get($h);
            $hung ||= $h_;
            last if $h_;
            if ($c == 200) { $ok = 1; last }
            sleep 0.5;
        }
        ok $ok && !$hung, sprintf('%s, IdP back: 200 within %.1f s', $what, time - $t0);
    }
    $h->stop;
};

idp_reset();
done_testing();
