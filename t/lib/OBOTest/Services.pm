# SPDX-License-Identifier: Apache-2.0
package OBOTest::Services;
# Start and stop the suite's helper daemons: the test IdP (HTTPS), the
# plain-HTTP echo backend, and memcached. Used by t/TEST.PL around the whole
# run and by tests that need to stop/restart one of them mid-run.
#
# Every daemon listens on 127.0.0.1 only, writes its pid to t/run/NAME.pid,
# and ends by itself after OBO_TEST_SERVICE_LIFETIME seconds (default 1800)
# even if nobody stops it.
use strict;
use warnings;
use Carp qw(croak);
use File::Basename qw(dirname);
use File::Spec;
use IO::Socket::INET;
use POSIX qw(setsid _exit WNOHANG);
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT_OK = qw(t_dir run_dir logs_dir ports start_service stop_service service_pid
                    service_running start_all stop_all wait_port port_open);

sub t_dir    { return File::Spec->rel2abs(dirname(dirname(dirname(__FILE__)))) }
sub run_dir  { my $d = t_dir() . '/run';  mkdir $d unless -d $d; return $d }
sub logs_dir { my $d = t_dir() . '/logs'; mkdir $d unless -d $d; return $d }

sub ports {
    return (
        idp       => $ENV{OBO_TEST_IDP_PORT}       || 19443,
        memcached => $ENV{OBO_TEST_MEMCACHED_PORT} || 19211,
        backend   => $ENV{OBO_TEST_BACKEND_PORT}   || 19080,
    );
}

sub lifetime { return $ENV{OBO_TEST_SERVICE_LIFETIME} || 1800 }

sub memcached_bin { return $ENV{OBO_TEST_MEMCACHED} || '/usr/bin/memcached' }

# argv for each service (extra => port override etc.)
sub command_for {
    my ($name, %o) = @_;
    my %p = ports();
    my $port = $o{port} // $p{$name};
    my $t = t_dir();
    my $life = lifetime();
    if ($name eq 'idp') {
        return ($^X, "$t/idp/idp.pl", '--port', $port, '--state-dir', run_dir() . '/idp',
                '--pki-dir', "$t/pki", '--log', logs_dir() . '/idp.log',
                '--lifetime', $life);
    }
    if ($name eq 'backend') {
        return ($^X, "$t/idp/echo_backend.pl", '--port', $port,
                '--log', logs_dir() . '/backend.log', '--lifetime', $life);
    }
    if ($name =~ /^memcached/) {
        my @u = $> == 0 ? ('-u', 'nobody') : ();
        # coreutils timeout bounds its life; TERM to timeout is passed on
        return ('timeout', '-k', '5', $life, memcached_bin(), '-l', '127.0.0.1', '-p', $port,
                '-U', '0', '-m', '64', '-c', '1024', '-t', '2', @u);
    }
    croak "unknown service '$name'";
}

sub pid_file { my ($name) = @_; return run_dir() . "/$name.pid" }

sub service_pid {
    my ($name) = @_;
    open my $fh, '<', pid_file($name) or return;
    my $pid = <$fh>;
    return unless defined $pid && $pid =~ /^(\d+)/;
    return $1;
}

sub service_running {
    my ($name) = @_;
    my $pid = service_pid($name) or return 0;
    return kill(0, $pid) ? $pid : 0;
}

sub port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
    return $s ? 1 : 0;
}

sub wait_port {
    my ($port, $want_open, $timeout) = @_;
    $want_open //= 1;
    my $end = time + ($timeout // 15);
    while (time < $end) {
        return 1 if port_open($port) == $want_open;
        sleep 0.1;
    }
    return 0;
}

# start_service(NAME, port => N): daemonise (double fork, own session),
# write the pid file, wait until the port accepts connections.
sub start_service {
    my ($name, %o) = @_;
    my %p = ports();
    my $port = $o{port} // $p{$name =~ /^memcached/ ? 'memcached' : $name};
    if (my $old = service_running($name)) {
        return $old if port_open($port);
        stop_service($name);
    }
    croak "$name: port 127.0.0.1:$port is already in use by another process"
        if port_open($port);
    my @cmd = command_for($name =~ /^memcached/ ? 'memcached' : $name, port => $port);
    my $log = logs_dir() . "/$name.out";
    my $pidf = pid_file($name);
    unlink $pidf;
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        setsid();
        my $pid2 = fork;
        _exit(1) unless defined $pid2;
        _exit(0) if $pid2;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        if (open my $fh, '>', $pidf) { print $fh "$$\n"; close $fh }
        exec @cmd or _exit(127);
    }
    waitpid $pid, 0;
    for (1 .. 50) { last if -s $pidf; sleep 0.05 }
    wait_port($port, 1, $o{timeout} // 20)
        or croak "$name did not start listening on 127.0.0.1:$port (see $log)";
    return service_pid($name);
}

# stop_service(NAME): TERM, then KILL after a grace period; waits for the
# port to close. Only the pid recorded in our own pid file is signalled.
sub stop_service {
    my ($name, %o) = @_;
    my $pid = service_pid($name);
    unlink pid_file($name);
    return 1 unless $pid && kill(0, $pid);
    kill 'TERM', $pid;
    my $end = time + ($o{grace} // 5);
    while (time < $end && kill(0, $pid)) { sleep 0.05 }
    kill 'KILL', $pid if kill(0, $pid);
    my %p = ports();
    my $port = $o{port} // $p{$name =~ /^memcached/ ? 'memcached' : $name};
    wait_port($port, 0, 5) if $port;
    return 1;
}

my @ALL = qw(idp backend memcached);

# All or nothing: a service that cannot start stops the ones already
# started, so a failed run never leaves daemons holding the ports.
sub start_all {
    my @started;
    for my $s (@ALL) {
        my $ok = eval { start_service($s) };
        if (!$ok) {
            my $err = $@ || "$s did not start\n";
            stop_service($_) for reverse @started;
            die $err;
        }
        push @started, $s;
    }
    return @started;
}

sub stop_all {
    stop_service($_) for reverse @ALL;
    return 1;
}

1;
