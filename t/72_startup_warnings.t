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
done_testing();
