# SPDX-License-Identifier: Apache-2.0
# A CGI run by mod_cgi is forked from the httpd process that just exchanged
# the caller's token: it must not inherit that process's connection to the
# identity provider (review 28A: it held it and could write into the
# exchanges of other users that reuse it). libcurl's sockets are close-on-exec.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Config ();
use LWP::UserAgent;

need_feature('exchange');
idp_reset();
my $t = t_dir();
my $lib = OBOTest::Config::libexecdir();
plan skip_all => 'mod_cgi is not installed' unless -f "$lib/mod_cgi.so";
my $h = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'cgifds', extra => <<"EOF2");
<IfModule !mod_cgi.c>
    LoadModule cgi_module "$lib/mod_cgi.so"
</IfModule>
ScriptAlias /fds/run "$t/cgi-bin/fds.cgi"
<Location /fds>
    AuthType obo
    Require valid-user
    OBOScope api://downstream/.default
</Location>
EOF2

# inodes of the TCP connections to the IdP's port
sub idp_inodes {
    my $port = sprintf '%04X', OBOTest::idp_port();
    my %in;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        <$fh>;
        while (<$fh>) {
            my @c = split ' ';
            $in{ $c[9] } = 1 if $c[2] =~ /:$port$/;
        }
    }
    return \%in;
}

my $ua = LWP::UserAgent->new(timeout => 30);
my $r = $ua->get($h->url('/fds/run'), Authorization => 'Bearer ' . user_token(fresh_user('fds'), 'xmc'));
is $r->code, 200, 'the CGI ran after an exchange' or diag $r->as_string;
my @sockets = $r->decoded_content =~ /^\d+ socket:\[(\d+)\]$/mg;
my $idp = idp_inodes();
ok scalar(keys %$idp), 'the httpd child holds a connection to the IdP (keep-alive)';
my @leaked = grep { $idp->{$_} } @sockets;
is scalar(@leaked), 0, 'the CGI inherited none of them' or diag $r->decoded_content;
$h->stop;
done_testing();
