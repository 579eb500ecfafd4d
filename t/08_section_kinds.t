# SPDX-License-Identifier: Apache-2.0
# Every kind of section the docs allow for the per-directory directives works
# (issue 14, B7). OBOScope was honoured only in <Location>, <LocationMatch>,
# <Directory>, <DirectoryMatch> and at server level: the startup checks and
# the decision to build the client and cache looked only at those, so an
# OBOScope that stood only in <Files>, <FilesMatch>, <Proxy>, <ProxyMatch> or
# <If>/<ElseIf>/<Else> answered 200 with no exchange and no log line. Now
# every section that names a downstream is noted when it is read.
#
# OBORemoteUserClaim stands next to OBOScope: the validation directives
# merge the same way in every kind.
#
# Method: one small server per row (t/lib/OBOTest/Config.pm, probe), with
# AuthType obo in <Location /> and OBOScope ONLY in the section under test;
# a request with a fresh user must reach the IdP's token endpoint once and
# hand the downstream token to the CGI (or the proxied backend). .htaccess:
# httpd refuses the module's directives there (500, "not allowed here").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use LWP::UserAgent;
use OBOTest;
use OBOTest::Mint qw(mint);
use OBOTest::Config qw(check_config libexecdir);

need_feature('authn', 'exchange');

my %p    = OBOTest::Services::ports();
my $t    = OBOTest::Services::t_dir();
my $lib  = libexecdir();
my $dir  = tempdir('sections-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);
my $cgi  = "$dir/sectcgi";
my $ht   = "$dir/sectht";
for my $d ($cgi, $ht) {
    mkdir $d or die "$d: $!";
    copy("$t/cgi-bin/env.cgi", "$d/env.cgi") or die "env.cgi: $!";
    chmod 0755, "$d/env.cgi";
}
open my $fh, '>', "$ht/.htaccess" or die "$ht/.htaccess: $!";
print $fh "OBOScope api://downstream/.default\n";
close $fh;
chmod 0755, $dir;

my $TENANT = 'sections';
# a downstream, and a validation directive (REMOTE_USER from another claim)
my $SCOPE  = "OBOScope api://downstream/.default\n    OBORemoteUserClaim preferred_username";
my $BASE   = <<"EOF";
<IfModule mpm_prefork_module>
    <IfModule !mod_cgi.c>
        LoadModule cgi_module "$lib/mod_cgi.so"
    </IfModule>
</IfModule>
<IfModule !mpm_prefork_module>
    <IfModule !mod_cgid.c>
        LoadModule cgid_module "$lib/mod_cgid.so"
    </IfModule>
</IfModule>
OBOMetadataURL https://127.0.0.1:$p{idp}/$TENANT/v2.0/.well-known/openid-configuration
OBOCACertificateFile $t/pki/ca.pem
OBOAudience api://test-api
OBOClientID middle-tier-api
OBOClientSecret s3cret-for-tests
OBOCache none
ScriptAlias /cgi/ $cgi/
ScriptAlias /ht/ $ht/
<Directory $cgi>
    Options +ExecCGI
</Directory>
<Directory $ht>
    Options +ExecCGI
    AllowOverride All
</Directory>
ProxyPass /backend/ http://127.0.0.1:$p{backend}/backend/
<Location />
    AuthType obo
    Require valid-user
</Location>
EOF
my $PROXY_PASS = 'OBOPassToken header X-Downstream-Token';

# [section kind, configuration after $BASE, path]
my @rows = (
    ['server config',   $SCOPE, '/cgi/env.cgi'],
    ['virtual host',    "<VirtualHost *:*>\n    ServerName localhost\n    $SCOPE\n</VirtualHost>", '/cgi/env.cgi'],
    ['<Location>',      "<Location /cgi/env.cgi>\n    $SCOPE\n</Location>", '/cgi/env.cgi'],
    ['<LocationMatch>', "<LocationMatch \"^/cgi/env\">\n    $SCOPE\n</LocationMatch>", '/cgi/env.cgi'],
    ['<Directory>',     "<Directory $cgi>\n    $SCOPE\n</Directory>", '/cgi/env.cgi'],
    ['<DirectoryMatch>', "<DirectoryMatch \"/sectcgi\">\n    $SCOPE\n</DirectoryMatch>", '/cgi/env.cgi'],
    ['<Files>',         "<Files env.cgi>\n    $SCOPE\n</Files>", '/cgi/env.cgi'],
    ['<FilesMatch>',    "<FilesMatch \"^env\\.cgi\$\">\n    $SCOPE\n</FilesMatch>", '/cgi/env.cgi'],
    ['<Files> in <Directory>', "<Directory $cgi>\n    <Files env.cgi>\n        $SCOPE\n    </Files>\n</Directory>", '/cgi/env.cgi'],
    ['<Proxy>',         "<Proxy \"http://127.0.0.1:$p{backend}/*\">\n    $SCOPE\n    $PROXY_PASS\n</Proxy>", '/backend/x'],
    ['<ProxyMatch>',    "<ProxyMatch \"^http://127\\.0\\.0\\.1:$p{backend}/\">\n    $SCOPE\n    $PROXY_PASS\n</ProxyMatch>", '/backend/x'],
    ['<If>',            "<If \"%{REQUEST_URI} =~ m#env#\">\n    $SCOPE\n</If>", '/cgi/env.cgi'],
    ['<ElseIf>',        "<If \"false\">\n</If>\n<ElseIf \"true\">\n    $SCOPE\n</ElseIf>", '/cgi/env.cgi'],
    ['<Else>',          "<If \"false\">\n</If>\n<Else>\n    $SCOPE\n</Else>", '/cgi/env.cgi'],
    ['<If> in <Location>', "<Location /cgi/>\n    <If \"true\">\n        $SCOPE\n    </If>\n</Location>", '/cgi/env.cgi'],
    ['<Limit> in <Files>', "<Files env.cgi>\n    <Limit GET>\n        $SCOPE\n    </Limit>\n</Files>", '/cgi/env.cgi'],
);

my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);

# one request of a fresh user; the token the CGI or the backend received
sub probe {
    my ($port, $path) = @_;
    my $user = fresh_user('sect');
    my $tok = mint(tenant => $TENANT, claims => { sub => $user });
    my $before = token_calls($user);
    my $r = $ua->get("http://127.0.0.1:$port$path", Authorization => "Bearer $tok");
    my $got = $path =~ m{^/backend/} ? (backend_header($r, 'X-Downstream-Token'))[0]
                                     : cgi_env($r)->{OBO_ACCESS_TOKEN};
    return { r => $r, calls => token_calls($user) - $before, token => $got,
             user => cgi_env($r)->{REMOTE_USER} };
}

for my $row (@rows) {
    my ($kind, $conf, $path) = @$row;
    subtest "OBOScope only in $kind" => sub {
        my $c = check_config("$BASE\n$conf", modules => [qw(alias proxy proxy_http)],
                             probe => sub { probe($_[0], $path) });
        ok $c->{syntax_ok} && $c->{started}, 'configtest passes and httpd starts'
            or return diag $c->{output};
        my $res = $c->{probe};
        is $res->{r}->code, 200, 'answers 200' or diag describe($res->{r});
        is $res->{calls}, 1, 'one exchange at the IdP' or diag $c->{output};
        my $claims = decode_idp_token($res->{token});
        ok $claims && ($claims->{sub} // '') =~ /^u-sect-/, 'the downstream token reached the backend'
            or diag describe($res->{r});
        is $res->{user}, 'test.user@example.test', 'OBORemoteUserClaim applies (REMOTE_USER)'
            if $path !~ m{^/backend/};
    };
}

subtest 'OBOScope in .htaccess: refused by httpd (500), no exchange' => sub {
    my $c = check_config($BASE, modules => [qw(alias proxy proxy_http)],
                         probe => sub { probe($_[0], '/ht/env.cgi') });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}{r}->code, 500, 'answers 500' or diag describe($c->{probe}{r});
    is $c->{probe}{calls}, 0, 'no exchange';
    like $c->{output}, qr/OBOScope not allowed here/, 'error_log: not allowed here';
};

done_testing();
