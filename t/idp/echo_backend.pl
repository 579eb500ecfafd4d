#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# Plain-HTTP "backend" for the mod_proxy tests: answers every request with
# a JSON description of exactly what arrived (header names byte-for-byte, in
# order, so that spoofed OBO-Claim-* / OBO_Claim_* variants are visible).
#
#   t/idp/echo_backend.pl [--port N] [--pid-file F] [--log F] [--lifetime S]
#
# Response: {"method":..,"uri":..,"protocol":..,"headers":[[name,value],..],
#            "header_map":{lower-case name: value (repeats joined by ", ")},
#            "body":..}
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX qw(strftime);

my %opt = (port => $ENV{OBO_TEST_BACKEND_PORT} || 19080, lifetime => 3600);
GetOptions(\%opt, 'port=i', 'pid-file=s', 'log=s', 'lifetime=i') or die "bad options\n";
my $JSON = (eval { require JSON::XS; JSON::XS->new } || JSON::PP->new)->canonical->utf8;

my $logfh;
if ($opt{log}) { open $logfh, '>>', $opt{log} or die "$opt{log}: $!\n"; $logfh->autoflush(1) }
sub logmsg { print $logfh '[' . strftime('%H:%M:%S', localtime) . "] [$$] @_\n" if $logfh }

my $srv;
for (1 .. 50) {
    $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $opt{port},
                                 Listen => 128, ReuseAddr => 1, Proto => 'tcp') and last;
    select(undef, undef, undef, 0.1);
}
$srv or die "echo_backend: cannot listen on 127.0.0.1:$opt{port}: $!\n";

setpgrp(0, 0);
$SIG{CHLD} = 'IGNORE';
my $stop = sub { local $SIG{TERM} = 'IGNORE'; kill 'TERM', -$$; unlink $opt{'pid-file'} if $opt{'pid-file'}; exit 0 };
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = $SIG{ALRM} = $stop;
alarm $opt{lifetime};
if ($opt{'pid-file'}) { open my $fh, '>', $opt{'pid-file'} or die; print $fh "$$\n"; close $fh }
logmsg("echo backend listening on 127.0.0.1:$opt{port}");

sub read_request {
    my ($c) = @_;
    my $buf = '';
    my $sel = IO::Select->new($c);
    while ($buf !~ /\r?\n\r?\n/) {
        return unless $sel->can_read(15);
        my $n = sysread($c, $buf, 16384, length $buf);
        return unless $n;
        return if length $buf > 1024 * 1024;
    }
    my ($head, $rest) = split /\r?\n\r?\n/, $buf, 2;
    my ($line, @lines) = split /\r?\n/, $head;
    my ($method, $uri, $proto) = split ' ', $line // '';
    my @headers;
    for (@lines) {
        if (/^[ \t]/ && @headers) { $headers[-1][1] .= " " . s/^\s+//r; next }
        my ($k, $v) = /^([^:]*):[ \t]*(.*?)[ \t]*$/ or next;
        push @headers, [ $k, $v ];
    }
    my %map;
    for (@headers) {
        my $k = lc $_->[0];
        $map{$k} = exists $map{$k} ? "$map{$k}, $_->[1]" : $_->[1];
    }
    my $body = $rest // '';
    if (my $len = $map{'content-length'}) {
        while (length $body < $len) {
            last unless $sel->can_read(15);
            my $n = sysread($c, $body, $len - length $body, length $body) or last;
        }
    }
    elsif (($map{'transfer-encoding'} // '') =~ /chunked/i) {
        # good enough for tests: wait for the terminating chunk, then de-chunk
        while ($body !~ /(^|\r\n)0\r\n\r\n$/) {
            last unless $sel->can_read(15);
            sysread($c, $body, 16384, length $body) or last;
        }
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last unless $n;
            $out .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return { method => $method, uri => $uri, protocol => $proto,
             headers => \@headers, header_map => \%map, body => $body };
}

while (1) {
    my $c = $srv->accept or next;
    my $pid = fork;
    if (!defined $pid) { close $c; next }
    if ($pid) { close $c; next }
    $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP CHLD);
    $SIG{ALRM} = sub { exit 0 };
    alarm 60;
    close $srv;
    my $req = read_request($c);
    if ($req) {
        my $body = $JSON->encode($req);
        logmsg("$req->{method} $req->{uri}");
        print {$c} "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            . length($body) . "\r\nConnection: close\r\nX-Echo-Backend: 1\r\n\r\n$body";
    }
    close $c;
    exit 0;
}
