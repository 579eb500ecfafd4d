#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# CGI behind the protected locations: echoes its environment (and any
# request body) as JSON: {"env": {...}, "body": "..."}
use strict;
use warnings;
use JSON::PP;
binmode STDOUT;
my $body = '';
if (my $len = $ENV{CONTENT_LENGTH}) {
    read(STDIN, $body, $len) if $len =~ /^\d+$/ && $len < 1024 * 1024;
}
my %env = %ENV;
print "Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n";
print JSON::PP->new->canonical->utf8->encode({ env => \%env, body => $body });
