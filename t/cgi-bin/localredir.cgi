#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# CGI "local redirect" (RFC 3875 s.6.2.2): httpd serves /claims/env in its
# place as an internal redirect (t/20_edge_scrub.t).
print "Location: /claims/env\r\n\r\n";
