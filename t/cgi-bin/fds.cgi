#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# CGI that lists its open file descriptors ("fd target" lines): what it
# inherited from the httpd process that forked it (t/64_cgi_fds.t).
use strict;
use warnings;
print "Content-Type: text/plain\r\n\r\n";
opendir my $d, '/proc/self/fd' or exit 0;
for my $fd (sort { $a <=> $b } grep { /^\d+$/ } readdir $d) {
    print "$fd ", (readlink("/proc/self/fd/$fd") // ''), "\n";
}
