# SPDX-License-Identifier: Apache-2.0
# The startup checks' warnings reach the error log of a server started
# cold (review 28B): httpd reads its configuration twice, and the second
# pass ran the checks with stderr detached, before the error log was open,
# so OBO063 (AuthType obo without a Require that needs a user: requests
# without a token are let through), OBO401 and the others went only to the
# console of the first pass. They must be in the error log once, and again
# after a graceful restart.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Config;

need_feature('authn');
idp_reset();
my $t = t_dir();
my $log = OBOTest::Services::logs_dir() . '/warncold_error_log';
unlink $log;
my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'warncold', extra => <<"EOF2");
Alias /open "$t/htdocs"
<Location /open>
    AuthType obo
</Location>
<Location /q>
    AuthType obo
    Require valid-user
    OBOAcceptTokenAs header query
</Location>
EOF2
sub slurp { open my $fh, '<', $log or return ''; local $/; return <$fh> }
my $text = slurp();
is scalar(() = $text =~ /OBO063: <Location \/open>/g), 1, 'OBO063 in the error log, once';
is scalar(() = $text =~ /OBO401: OBOAcceptTokenAs query/g), 1, 'OBO401 in the error log, once';
$h->graceful;
sleep 0.5;
$text = slurp();
is scalar(() = $text =~ /OBO063: <Location \/open>/g), 2, 'and again at a graceful restart';
$h->stop;

# OBO496 (round 30's low 30B-F12): a DPoP setting where OBODPoP is off in
# the whole server does nothing; with OBODPoP on somewhere it is quiet.
my %p = OBOTest::Services::ports();
my $base = "OBOMetadataURL https://127.0.0.1:$p{idp}/cfg/v2.0/.well-known/openid-configuration\n"
         . "OBOAudience api://test-api\n";
my $off = OBOTest::Config::check_config($base . "<Location /api>\n AuthType obo\n"
    . " Require valid-user\n OBODPoPWindow 30\n OBODPoPNonce on\n</Location>\n");
like $off->{output}, qr/OBO496: OBODPoPWindow at \S+:\d+ has no effect: OBODPoP is off everywhere/,
     'OBODPoPWindow without OBODPoP: OBO496 names the first such directive';
ok $off->{syntax_ok} && $off->{started}, 'a warning: httpd starts';
my $on = OBOTest::Config::check_config($base . "<Location /api>\n AuthType obo\n"
    . " Require valid-user\n OBODPoP allowed\n</Location>\n<Location /api/x>\n"
    . " OBODPoPWindow 30\n</Location>\n");
unlike $on->{output}, qr/OBO496/, 'with OBODPoP allowed in the server: no OBO496';

# OBO498 (review 33B-F13): OBODPoP allowed where the token is never read
# from the Authorization header, the only place of a DPoP token
my $nohdr = OBOTest::Config::check_config($base . "<Location /api>\n AuthType obo\n"
    . " Require valid-user\n OBODPoP allowed\n OBOAcceptTokenAs cookie:at\n</Location>\n");
like $nohdr->{output}, qr/OBO498: OBODPoP allowed \(\S+:\d+\) where OBOAcceptTokenAs \(\S+:\d+\) leaves out header/,
     'OBODPoP allowed without header in OBOAcceptTokenAs: OBO498';
ok $nohdr->{syntax_ok} && $nohdr->{started}, 'a warning: httpd starts';
done_testing();
