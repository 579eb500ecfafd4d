# SPDX-License-Identifier: Apache-2.0
# The module's directives are refused in .htaccess, also where httpd's
# AllowOverrideList admits them (vhost obo_htaccess: OBOLongRunning and
# OBOScope in htdocs/htaccess-obo/.htaccess). A review found them read
# there per request: 85 of 2,000 sequential requests crashed a worker
# (sections noted in the request's pool), the others exchanged or answered
# 500 (OBO067). Now each request is httpd's 500 for a bad .htaccess, with
# the reason in the error log, and no crash (the suite's crash scan).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;

need_feature('exchange');
my $V = 'obo_htaccess';

subtest 'OBOLongRunning and OBOScope in .htaccess: refused, every time' => sub {
    my $mark = error_log_mark();
    my %codes;
    $codes{ obo_get($V, '/ht/static.txt', token => undef)->code }++ for 1 .. 200;
    is_deeply \%codes, { 500 => 200 }, '200 requests: each answered 500'
        or diag join ', ', map { "$_ x $codes{$_}" } sort keys %codes;
    like error_log_since($mark), qr/OBOLongRunning cannot occur within htaccess files/,
        'the error log says why';
    unlike error_log_since($mark), qr/Segmentation fault|exit signal/, 'no worker crashed';
};

done_testing();
