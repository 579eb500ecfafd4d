# SPDX-License-Identifier: Apache-2.0
package OBOTest::Crashes;
# Crash scan of a test run: the suite fails when httpd crashed, even if every
# test passed (Apache::Test only prints "server dumped core").
#
# Findings:
#   - a core file (core, core.PID, vgcore.PID) anywhere under the run's top
#     directory, newer than the start mark of the run;
#   - in an httpd log (t/logs/error_log, t/logs/*error_log*, the second
#     httpd instances' logs, t/logs/cfgcheck_error_log from OBOTest::Config,
#     any *error_log* under t/run), in what was written since the start mark:
#     "Segmentation fault", "exit signal" (AH00052: a child died of a signal),
#     a sanitizer report ("AddressSanitizer", "LeakSanitizer",
#     "ThreadSanitizer", "runtime error:");
#   - the same patterns in the sanitizer reports named by log_path= in
#     ASAN_OPTIONS / UBSAN_OPTIONS / TSAN_OPTIONS (scripts/asan.sh).
#
#   OBOTest::Crashes::mark($top)          at the start of a run (t/TEST.PL)
#   my @f = OBOTest::Crashes::scan($top)  list of findings ("file: line")
#   perl -It/lib -MOBOTest::Crashes -e 'exit OBOTest::Crashes::main(@ARGV)' TOP [--all]
use strict;
use warnings;
use File::Find ();
use File::Spec;
use JSON::PP ();

our $PATTERN = qr/Segmentation fault|exit signal|AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:/;
my $CORE = qr/^(?:core(?:\.\d+)?|vgcore\.\d+)$/;
my $MAX_LINES = 20;

sub mark_file { my ($top) = @_; return "$top/t/run/crashscan-mark.json" }

# httpd logs and sanitizer reports of a run
sub logs {
    my ($top) = @_;
    my @f;
    for my $dir ("$top/t/logs", "$top/t/run") {
        next unless -d $dir;
        File::Find::find({ no_chdir => 1, wanted => sub {
            push @f, $File::Find::name if -f $_ && /error_log/;
        } }, $dir);
    }
    for my $var (qw(ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS LSAN_OPTIONS)) {
        my ($path) = ($ENV{$var} // '') =~ /(?:^|:)log_path=([^:]+)/ or next;
        push @f, grep { -f } glob("$path.*");
    }
    my %seen;
    return grep { !$seen{$_}++ } sort @f;
}

# remember where each log ends and when the run started
sub mark {
    my ($top) = @_;
    my %m = (time => time, sizes => { map { $_ => (-s $_ || 0) } logs($top) });
    my $f = mark_file($top);
    open my $fh, '>', $f or return;
    print $fh JSON::PP->new->canonical->encode(\%m);
    close $fh;
}

sub read_mark {
    my ($top) = @_;
    open my $fh, '<', mark_file($top) or return { time => 0, sizes => {} };
    local $/;
    return eval { JSON::PP::decode_json(<$fh>) } || { time => 0, sizes => {} };
}

# scan($top, all => 1): ignore the start mark (scan whole logs, every core)
sub scan {
    my ($top, %o) = @_;
    my $m = $o{all} ? { time => 0, sizes => {} } : read_mark($top);
    my @found;
    File::Find::find({ no_chdir => 1, wanted => sub {
        my $name = (File::Spec->splitpath($File::Find::name))[2];
        return unless $name =~ $CORE && -f $_;
        my $mtime = (stat _)[9];
        push @found, "$File::Find::name: core file" if $mtime >= ($m->{time} || 0);
    } }, $top) if -d $top;
    for my $f (logs($top)) {
        open my $fh, '<', $f or next;
        my $from = $m->{sizes}{$f} // 0;
        $from = 0 if $from > (-s $fh || 0);    # truncated or replaced
        seek $fh, $from, 0;
        my $n = 0;
        while (my $l = <$fh>) {
            next unless $l =~ $PATTERN;
            chomp $l;
            push @found, "$f: " . substr($l, 0, 300) if $n++ < $MAX_LINES;
        }
        push @found, "$f: ... " . ($n - $MAX_LINES) . " more" if $n > $MAX_LINES;
    }
    return @found;
}

sub report {
    my (@found) = @_;
    return unless @found;
    print STDERR "\n*** CRASH SCAN: httpd crashed or a sanitizer reported during this run;\n"
        . "*** the suite fails (gdb /usr/sbin/apache2 CORE for a stack trace):\n";
    print STDERR "***   $_\n" for @found;
    print STDERR "\n";
}

# Self-test (OBO_TEST_CRASH_SELFTEST=MODE, by t/TEST.PL after the tests, with
# httpd still running): make one finding of each kind appear, so that a run
# can show that the scan fails the suite (scripts/crashcheck-selftest.sh).
#   segv   SIGSEGV to a child of the main httpd: a real crash (core file in
#          t/ and "exit signal Segmentation fault" in t/logs/error_log)
#   core   a file t/run/selftest/core
#   asan   an AddressSanitizer line in t/logs/httpd2_selftest_error_log
#   ubsan  a "runtime error:" line in t/logs/cfgcheck_error_log
#   exit   an AH00052 "exit signal" line in t/run/selftest/error_log
sub plant {
    my ($top, $mode) = @_;
    my $t = "$top/t";
    my $append = sub {
        my ($f, $line) = @_;
        open my $fh, '>>', $f or die "$f: $!";
        print $fh "$line (planted by OBO_TEST_CRASH_SELFTEST=$mode)\n";
        close $fh;
    };
    mkdir "$t/run/selftest";
    if ($mode eq 'segv') {
        open my $pf, '<', "$t/logs/httpd.pid" or die "no httpd.pid: $!";
        my ($ppid) = <$pf> =~ /(\d+)/;
        my @kids;
        opendir my $d, '/proc' or die "/proc: $!";
        for my $p (grep { /^\d+$/ } readdir $d) {
            open my $s, '<', "/proc/$p/stat" or next;
            push @kids, $p if (<$s> // '') =~ /^\d+ \(.*\) \S+ $ppid /;
        }
        die "no child of httpd $ppid\n" unless @kids;
        kill 'SEGV', $kids[0];
        sleep 3;    # the parent reaps it and logs AH00051/AH00052
    }
    elsif ($mode eq 'core')  { $append->("$t/run/selftest/core", 'not a real core') }
    elsif ($mode eq 'asan')  { $append->("$t/logs/httpd2_selftest_error_log",
                                         '==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010') }
    elsif ($mode eq 'ubsan') { $append->("$t/logs/cfgcheck_error_log",
                                         'src/obo_json.c:42:7: runtime error: signed integer overflow') }
    elsif ($mode eq 'exit')  { $append->("$t/run/selftest/error_log",
                                         '[mpm_event:notice] AH00052: child pid 4242 exit signal Aborted (6)') }
    elsif ($mode ne 'none')  { die "OBO_TEST_CRASH_SELFTEST: unknown mode '$mode'\n" }
    print STDERR "t/TEST.PL: crash self-test '$mode' planted\n";
}

# command line: exit status 0 = clean, 1 = findings
sub main {
    my ($top, @opt) = @_;
    die "usage: OBOTest::Crashes::main(TOP [--all])\n" unless defined $top && -d $top;
    my @found = scan(File::Spec->rel2abs($top), all => scalar grep { $_ eq '--all' } @opt);
    report(@found);
    print STDERR "crash scan of $top: clean\n" unless @found;
    return @found ? 1 : 0;
}

1;
