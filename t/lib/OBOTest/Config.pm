# SPDX-License-Identifier: Apache-2.0
package OBOTest::Config;
# Check small httpd configurations that load the module (t/06_config.t and
# the exchange config tests): "apache2 -t -f conf", then, if the syntax check
# passes, a real start in the foreground (apache2 -DFOREGROUND: a parent and
# one child) that is given a few seconds to fail (post_config checks) before
# it is stopped gracefully.
#
# Not "apache2 -X": a one-process server under the event MPM only stops on
# SIGTERM, always ungracefully, and httpd 2.4's event MPM then races its own
# worker threads (close_worker_sockets() in the main thread reads a socket of
# a transaction pool that an exiting worker is destroying): SIGSEGV in
# apr_os_sock_get or in apr_pool_destroy at exit, a core dump in the test
# tree. It happens without mod_auth_obo loaded too (1 in 60-150 starts with a
# connection just before the stop). A graceful stop (SIGWINCH) never takes
# that path. Each run's logs are appended to t/logs/cfgcheck_error_log, so the
# suite's crash scan sees them after the temporary directory is gone.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Fcntl qw(:flock);
use OBOTest::Services ();
use Exporter 'import';

our @EXPORT_OK = qw(check_config config_preamble expect_config_errors httpd_binary libexecdir);

sub httpd_binary {
    require Apache::Test;
    my $h = eval { Apache::Test::vars('httpd') };
    return $h if $h && -x $h;
    for ('/usr/sbin/apache2', '/usr/sbin/httpd') { return $_ if -x $_ }
    return 'apache2';
}

sub libexecdir {
    my $d = `apxs -q LIBEXECDIR 2>/dev/null` // '';
    chomp $d;
    return $d || '/usr/lib/apache2/modules';
}

sub features {
    my $f = OBOTest::Services::t_dir() . '/run/features.json';
    open my $fh, '<', $f or return {};
    local $/;
    require JSON::PP;
    return eval { JSON::PP::decode_json(<$fh>) } || {};
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 1)
        or return 19600 + int(rand(300));
    my $p = $s->sockport;
    close $s;
    return $p;
}

# LoadModule lines for a minimal server with the module
sub config_preamble {
    my (%o) = @_;
    my $lib = libexecdir();
    my $f = features();
    my $mpm = $f->{mpm} && $f->{mpm} ne 'unknown' ? $f->{mpm} : 'event';
    my $so = $ENV{OBO_MODULE_PATH} || $f->{module};
    my @mods = (qw(authn_core authz_core authz_user socache_shmcb), @{ $o{modules} || [] });
    # without => [modules]: leave these out (a missing module is the case under test)
    my %skip = map { $_ => 1 } @{ $o{without} || [] };
    @mods = grep { !$skip{$_} } @mods;
    my $s = "<IfModule !mpm_${mpm}_module>\n    LoadModule mpm_${mpm}_module \"$lib/mod_mpm_$mpm.so\"\n</IfModule>\n";
    for my $m (@mods) {
        $s .= "<IfModule !mod_$m.c>\n    LoadModule ${m}_module \"$lib/mod_$m.so\"\n</IfModule>\n";
    }
    $s .= "LoadModule auth_obo_module \"$so\"\n";
    # mod_mime reads ServerRoot/conf/mime.types by default, which a checked
    # configuration's server root lacks: without this every start with mime
    # failed, and a row expecting a refused start passed whatever the module
    # did (seen in t/88)
    if (grep { $_ eq 'mime' } @mods) {
        $s .= "<IfModule mod_mime.c>\n    TypesConfig /etc/mime.types\n</IfModule>\n"
            if -f '/etc/mime.types';
        $s .= "<IfModule mod_mime.c>\n    TypesConfig /dev/null\n</IfModule>\n"
            unless -f '/etc/mime.types';
    }
    return $s;
}

# MPM shape of a checked configuration: one small child process
sub small_mpm {
    return <<'EOF';
GracefulShutdownTimeout 5
<IfModule mpm_event_module>
    StartServers 1
    ServerLimit 1
    ThreadLimit 4
    ThreadsPerChild 4
    MaxRequestWorkers 4
    MinSpareThreads 1
    MaxSpareThreads 4
</IfModule>
<IfModule mpm_worker_module>
    StartServers 1
    ServerLimit 1
    ThreadLimit 4
    ThreadsPerChild 4
    MaxRequestWorkers 4
    MinSpareThreads 1
    MaxSpareThreads 4
</IfModule>
<IfModule mpm_prefork_module>
    StartServers 1
    ServerLimit 1
    MinSpareServers 1
    MaxSpareServers 1
    MaxRequestWorkers 1
</IfModule>
EOF
}

# does a server answer HTTP on $port? (a complete exchange, so that no
# connection is half-way through a worker when the server is stopped)
sub serves {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 3)
        or return 0;
    $s->autoflush(1);
    print $s "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    my $buf = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    eval {
        alarm 5;
        while (1) { my $n = sysread($s, $buf, 4096, length $buf); last unless $n }
        alarm 0;
    };
    alarm 0;
    close $s;
    return $buf =~ m{^HTTP/1\.\d \d{3}} ? 1 : 0;
}

# append a checked configuration's output to t/logs/cfgcheck_error_log
sub keep_log {
    my ($conf, $text) = @_;
    my $f = OBOTest::Services::logs_dir() . '/cfgcheck_error_log';
    open my $out, '>>', $f or return;
    flock $out, LOCK_EX;
    print $out "==== $conf (" . scalar(localtime) . ", $0)\n$text\n";
    close $out;
}

# check_config($body, %o) -> { syntax_ok, started, exit, output, conf }
#   output: everything httpd printed plus its error_log
#   %o: modules/without (config_preamble), wait => seconds a start is given
#       (default 6), start_anyway => 1: also start when -t fails (configtest
#       parity), probe => sub { my ($port) = @_; ... }: called while the
#       started server runs (result in {probe}).
#   The wait ends early once the server answers HTTP: its post_config and its
#   child's child_init have passed then, so nothing that fails a start is
#   left. It is then given $SETTLE more seconds (the child's key loader runs
#   in the background and logs) and must still be running and answering.
#   full_wait => 1: wait the whole time instead (a test about what happens
#   later).
#   configtest_timeout => seconds "apache2 -t" is given (default 120): a
#   configuration that hangs it (review 36A-F2: a FIFO as a file: secret)
#   fails the check instead of the suite ({configtest_hung}, exit 124).
my $SETTLE = 1;

sub check_config {
    my ($body, %o) = @_;
    my $t = OBOTest::Services::t_dir();
    my $dir = tempdir('cfgcheck-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);
    my $port = free_port();
    my $conf = "$dir/httpd.conf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh "ServerRoot \"$t\"\nServerName localhost\nListen 127.0.0.1:$port\n"
        . "PidFile \"$dir/httpd.pid\"\nErrorLog \"$dir/error_log\"\nDefaultRunTimeDir \"$dir\"\n"
        . "DocumentRoot \"$t/htdocs\"\nLogLevel info\n"
        . config_preamble(%o) . small_mpm() . "\n$body\n";
    close $fh;
    my $httpd = httpd_binary();
    my %res = (conf => $conf);
    my $limit = $o{configtest_timeout} // 120;
    my $out = `timeout -k 5 $limit "$httpd" -t -f "$conf" 2>&1`;
    $res{exit} = $? >> 8;
    $res{syntax_ok} = $? == 0 ? 1 : 0;
    $res{configtest_hung} = $res{exit} == 124 || $res{exit} == 137 ? 1 : 0;
    $res{output} = "[apache2 -t: exit $res{exit}"
        . ($res{configtest_hung} ? ", killed after $limit s" : '') . "]\n$out";
    $res{started} = 0;
    unless ($res{syntax_ok} || $o{start_anyway}) { keep_log($conf, $res{output}); return \%res }
    my $until_serving = !$o{full_wait};

    my $log = "$dir/startup.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # own process group: a last-resort KILL reaches the child process too
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        exec $httpd, '-DFOREGROUND', '-f', $conf or POSIX::_exit(127);
    }
    my $end = time + ($o{wait} // 6);
    my ($exited, $serving) = (0, 0);
    while (time < $end) {
        my $w = waitpid($pid, WNOHANG);
        if ($w == $pid) { $exited = 1; $res{start_exit} = $? >> 8; $res{signal} = $? & 127; last }
        if ($until_serving && serves($port)) { $serving = 1; last }
        sleep 0.1;
    }
    if ($serving) {
        my $settled = time + $SETTLE;
        while (time < $settled) {
            my $w = waitpid($pid, WNOHANG);
            if ($w == $pid) { $exited = 1; $res{start_exit} = $? >> 8; $res{signal} = $? & 127; last }
            sleep 0.1;
        }
        $serving = !$exited && serves($port);
    }
    $res{exit} = $res{start_exit} if $exited && $res{syntax_ok};
    if (!$exited) {
        $res{started} = $serving || serves($port);
        $res{probe} = $o{probe}->($port) if $o{probe} && $res{started};
        # graceful stop: the parent tells its child to finish and waits for it
        # (GracefulShutdownTimeout bounds that)
        kill 'WINCH', $pid;
        my $gone = 0;
        for (1 .. 100) { if (waitpid($pid, WNOHANG) == $pid) { $gone = 1; last } sleep 0.1 }
        $res{stop_signal} = $? & 127 if $gone;
        unless ($gone) { kill 'KILL', -$pid; waitpid($pid, 0) }
    }
    for my $f ($log, "$dir/error_log") {
        next unless open my $in, '<', $f;
        local $/;
        $res{output} .= "\n[" . ($f =~ /error_log$/ ? 'error_log' : 'apache2 -DFOREGROUND') . "]\n" . (<$in> // '');
    }
    keep_log($conf, $res{output});
    return \%res;
}

# expect_config_errors([name, configuration, qr/message/], ...): each
# configuration must keep httpd from starting, with a message that names
# the directive at fault.
sub expect_config_errors {
    my (@cases) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    for my $case (@cases) {
        my ($name, $conf, $re) = @$case;
        my $c = check_config($conf);
        Test::More::ok(!$c->{started}, "$name: httpd does not start")
            or Test::More::diag($c->{output});
        Test::More::like($c->{output}, $re, "$name: the message names the directive")
            or Test::More::diag($c->{output});
    }
}

1;
