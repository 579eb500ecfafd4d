#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# CGI behind the protected locations: echoes its environment (and any
# request body) as JSON: {"env": {...}, "body": "..."}
use strict;
use warnings;
binmode STDOUT;
my $body = '';
if (my $len = $ENV{CONTENT_LENGTH}) {
    read(STDIN, $body, $len) if $len =~ /^\d+$/ && $len < 1024 * 1024;
}
my %env = %ENV;
print "Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n";
# JSON::XS when installed: it loads in a fraction of JSON::PP's time, and
# the suite runs this script thousands of times.
my $json = eval { require JSON::XS; JSON::XS->new } || do { require JSON::PP; JSON::PP->new };
print $json->canonical->utf8->encode({ env => \%env, body => $body });
