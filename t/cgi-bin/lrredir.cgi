#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# CGI "local redirect" to the obo-token handler from a long-running
# Location (t/85_long_running_edges.t): httpd serves /token in its place
# with this request's headers, session key included; it must be refused.
print "Location: /token\r\n\r\n";
