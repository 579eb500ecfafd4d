# SPDX-License-Identifier: Apache-2.0
# configtest ("apache2 -t") and a real start agree (issue 14, B8 and B10).
# On Debian "systemctl reload" runs configtest, then a graceful restart: a
# configuration that passes configtest but fails at startup stops a running
# server. Each row of the table is one configuration, checked both ways
# (t/lib/OBOTest/Config.pm: -t, then a real start even when -t failed):
#   - the two must agree (both pass, or both refuse);
#   - a good row must start, a bad row must be refused by configtest with a
#     message naming the cause.
# The rows: the bad configurations of t/06_config.t, t/16_xconfig.t,
# t/23_edge_config.t and t/70_admin_config.t, and the cases of issue 14
# (B7: an exchange in any section kind without credentials; B8: a client key
# of another certificate or encrypted, OBOLongRunning with OBOCache none, a
# key set without an issuer, OBOTimeout, OBOSessionLifetime).
# After the table: a virtual host's OBOTimeout is not paired with the main
# server's total (a runtime check, with the IdP's discovery made slow).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use LWP::UserAgent;
use POSIX qw(mkfifo);
use OBOTest;
use OBOTest::Config qw(check_config);

need_feature('authn', 'exchange');

my %p    = OBOTest::Services::ports();
my $t    = OBOTest::Services::t_dir();
my $pki  = OBOTest::Keys::pki_dir();
my $dir  = tempdir('parity-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);

# an encrypted copy of the client key, and a file that is not a key
my $enc = "$dir/client-encrypted.key";
system('openssl', 'pkey', '-in', "$pki/client.key", '-aes256', '-passout', 'pass:obo-test',
       '-out', $enc) == 0 or die "openssl pkey: $?";
chmod 0600, $enc;
my $notkey = "$dir/not-a-key.pem";
{ open my $fh, '>', $notkey or die; print $fh "not a key\n"; close $fh; chmod 0600, $notkey }
# a key set with a usable key (OBOJWKSFile with no usable key is refused: OBO125)
my $jwks = "$pki/jwks-static.json";
# local files that open but can never work (issue 14, L3): a JWKS file of
# malformed JSON, one without a usable key, a CA file that is not PEM or
# whose PEM block is damaged
sub put { my ($f, $text) = @_; open my $fh, '>', $f or die "$f: $!"; print $fh $text; close $fh; return $f }
my $jwks_bad   = put("$dir/jwks-malformed.json", '{"keys":[{"kty":"RSA",');
my $jwks_empty = put("$dir/jwks-empty.json", '{"keys":[]}');
my $jwks_oct   = put("$dir/jwks-oct.json", '{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}');
my $ca_text    = put("$dir/ca-text.pem", "localhost\n");
my $ca_broken  = put("$dir/ca-broken.pem", "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n");
my $ca_bundle  = put("$dir/ca-bundle.pem", "# the test CA, with text around it\n" . do {
    open my $fh, '<', "$pki/ca.pem" or die; local $/; <$fh> } . "trailing text\n");
# review 36A-F2: a file: secret that is a FIFO nobody writes to hung
# configtest and the start for ever (now refused at once, like the state
# files; a configtest_timeout bounds the check if it hangs)
my $secret_fifo = "$dir/secret.fifo";
mkfifo($secret_fifo, 0600) or die "mkfifo: $!";

my $IDP  = "OBOMetadataURL https://127.0.0.1:$p{idp}/cfg/v2.0/.well-known/openid-configuration";
my $AUD  = 'OBOAudience api://test-api';
my $CRED = "OBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests";
my $BASE = "$IDP\n$AUD\n$CRED";
my $LOC  = "<Location /api>\n AuthType obo\n Require valid-user\n</Location>";
my $XLOC = "<Location /api>\n AuthType obo\n Require valid-user\n OBOScope api://d/.default\n</Location>";
my $SCOPE = 'OBOScope api://d/.default';
sub loc { my ($body) = @_; return "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n$body\n</Location>" }
my $JF = "OBOIssuer https://idp.example/\n$AUD\n$LOC";

my $VHOST_IDP = "<VirtualHost 127.0.0.1:*>\n ServerName v.test\n OBOMetadataURL https://127.0.0.1:$p{idp}/cfgv/v2.0/.well-known/openid-configuration";

# [name, configuration, 'good' | qr/message configtest must print/, %check_config options]
my @rows = (
    # controls
    ['validation only',                 "$IDP\n$AUD\n$LOC", 'good'],
    ['an exchange',                     "$BASE\n$XLOC", 'good'],
    ['an exchange in <Files>',          "$BASE\n$LOC\n<Files x.cgi>\n $SCOPE\n</Files>", 'good'],
    ['a good client certificate',       "$BASE\n$XLOC\nOBOClientCertificate $pki/client.pem $pki/client.key", 'good'],
    ['OBOLongRunning with shm',         "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>", 'good'],
    ['OBOJWKSFile with OBOIssuer',      "OBOJWKSFile $jwks\nOBOIssuer https://idp.example/\n$AUD\n$LOC", 'good'],
    ['OBOTimeout 20 (connect only)',    "$BASE\n$XLOC\nOBOTimeout 20", 'good'],
    ['OBOSessionLifetime 30d',          "$BASE\n$XLOC\nOBOSessionLifetime 30d", 'good'],

    # review 39B-F3: a host's own keys-only provider under a main-server
    # exchanging Location: the message names the host
    ['a main-server exchange in a host without a token endpoint',
     "$IDP\n$AUD\n$CRED\n$XLOC\n<VirtualHost 127.0.0.1:*>\n ServerName v.test\n"
     . " OBOJWKSFile $jwks https://partner.example/\n</VirtualHost>",
     qr/OBO040: OBOScope\/OBOPassToken need a token endpoint: .*\(in <Location \/api> at [^,]*, for the requests of <VirtualHost> at \S+:\d+\)/],

    # t/06_config.t
    ['OBOClockSkew abc',                "$IDP\n$AUD\n$LOC\nOBOClockSkew abc", qr/OBOClockSkew/],
    ['OBOClockSkew in a Location',      "$IDP\n$AUD\n<Location /api>\n AuthType obo\n Require valid-user\n OBOClockSkew 1h\n</Location>", qr/OBOClockSkew/],
    ['OBOAlgorithms HS256',             "$IDP\n$AUD\n$LOC\nOBOAlgorithms HS256", qr/OBOAlgorithms/],
    ['OBOPassClaims maybe',             "$IDP\n$AUD\n$LOC\nOBOPassClaims maybe", qr/OBOPassClaims/],
    ['OBOMetadataURL not a URL',        "OBOMetadataURL not-a-url\n$AUD\n$LOC", qr/OBOMetadataURL/],
    ['OBOMetadataURL in a Location',    "$IDP\n$AUD\n$LOC\n<Location /x>\n$IDP\n</Location>", qr/OBOMetadataURL/],
    ['OBOCACertificateFile missing',    "$IDP\n$AUD\n$LOC\nOBOCACertificateFile /nonexistent/obo-ca.pem", qr/OBOCACertificateFile/],
    ['AuthType obo without key source', "$AUD\n$LOC", qr/OBO040: AuthType obo needs OBOMetadataURL/],
    ['AuthType obo without OBOAudience', "$IDP\n$LOC", qr/OBO040: AuthType obo needs OBOAudience/],

    # t/16_xconfig.t
    ['OBOExchange maybe',               "$BASE\n$XLOC\nOBOExchange maybe", qr/OBOExchange/],
    ['OBOCache memcached without servers', "$BASE\n$XLOC\nOBOCache memcached", qr/OBOCache/],
    ['OBOCacheSecret too short',        "$BASE\n$XLOC\nOBOCacheSecret short", qr/OBOCacheSecret/],
    ['OBOTimeout 0',                    "$BASE\n$XLOC\nOBOTimeout 0", qr/OBOTimeout/],
    ['OBOClientSecret file: missing',   "$IDP\n$AUD\nOBOClientID x\nOBOClientSecret file:/nonexistent/s\n$XLOC", qr/OBOClientSecret/],
    ['OBOClientSecret file: a FIFO (36A-F2)', "$IDP\n$AUD\nOBOClientID x\nOBOClientSecret file:$secret_fifo\n$XLOC",
     qr/OBOClientSecret: cannot read secret file '\Q$secret_fifo\E': it is not a regular file/, configtest_timeout => 15],
    ['OBOClientCertificate missing files', "$BASE\n$XLOC\nOBOClientCertificate /nonexistent/c.pem /nonexistent/c.key", qr/OBOClientCertificate/],
    ['OBOCache memcached without OBOCacheSecret', "$BASE\n$XLOC\nOBOCache memcached 127.0.0.1:1", qr/OBO040: OBOCache memcached needs OBOCacheSecret/],
    ['OBOClientAuth private_key_jwt without a certificate', "$BASE\n$XLOC\nOBOClientAuth private_key_jwt", qr/OBO040: OBOClientAuth private_key_jwt/],

    # t/23_edge_config.t
    ['OBOPassToken header Connection',  loc(" $SCOPE\n OBOPassToken header Connection"), qr/OBOPassToken: header Connection/],
    ['OBOPassToken without OBOScope',   loc(" OBOPassToken header X-Downstream-Token"), qr/OBO062: OBOPassToken names a downstream/],
    ['OBOPassToken at server level without OBOScope', "$BASE\nOBOPassToken env DS_TOKEN\n$LOC", qr/OBO062: OBOPassToken names a downstream.*server configuration/],

    # t/70_admin_config.t
    ['the default shm cache without mod_socache_shmcb', "$BASE\n$XLOC", qr/OBO041: OBOCache shm/, without => ['socache_shmcb']],
    ['OBOAudience only in a sibling <Location>', "$IDP\n<Location /apix>\n $AUD\n</Location>\n$LOC", qr/OBO040: AuthType obo needs OBOAudience/],

    # issue 14 B7: an exchange without credentials, in every kind of section
    ['OBOScope at server level without OBOClientID', "$IDP\n$AUD\n$SCOPE\n$LOC", qr/OBO040: OBOScope\/OBOPassToken need OBOClientID \(the main server configuration\)/],
    ['OBOScope in a virtual host without OBOClientID', "$IDP\n$AUD\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n $SCOPE\n</VirtualHost>", qr/OBO040: OBOScope\/OBOPassToken need OBOClientID/],
    ['OBOScope in <Location> without OBOClientID', "$IDP\n$AUD\n$XLOC", qr/OBO040: .*need OBOClientID \(in <Location \/api>/],
    ['OBOScope in <Files> without OBOClientID', "$IDP\n$AUD\n$LOC\n<Files x.cgi>\n $SCOPE\n</Files>", qr/OBO040: .*need OBOClientID \(in <Files x\.cgi>/],
    ['OBOScope in <FilesMatch> without OBOClientID', "$IDP\n$AUD\n$LOC\n<FilesMatch \"\\.cgi\$\">\n $SCOPE\n</FilesMatch>", qr/OBO040: .*need OBOClientID \(in <FilesMatch/],
    ['OBOScope in <Files> in <Directory> without OBOClientID', "$IDP\n$AUD\n$LOC\n<Directory /srv>\n <Files x.cgi>\n  $SCOPE\n </Files>\n</Directory>", qr/OBO040: .*need OBOClientID \(in <Files x\.cgi>/],
    ['OBOScope in <Proxy> without OBOClientID', "$IDP\n$AUD\n$LOC\n<Proxy \"http://127.0.0.1:1/*\">\n $SCOPE\n</Proxy>", qr/OBO040: .*need OBOClientID \(in <Proxy/, modules => ['proxy']],
    ['OBOScope in <If> without OBOClientID', "$IDP\n$AUD\n$LOC\n<If \"true\">\n $SCOPE\n</If>", qr/OBO040: .*need OBOClientID \(in <If/],
    ['OBOScope in <Else> without OBOClientID', "$IDP\n$AUD\n$LOC\n<If \"false\">\n</If>\n<Else>\n $SCOPE\n</Else>", qr/OBO040: .*need OBOClientID \(in <Else/],
    ['OBOScope in <Files> without a secret', "$IDP\n$AUD\nOBOClientID x\n$LOC\n<Files x.cgi>\n $SCOPE\n</Files>", qr/OBO040: .*need OBOClientSecret or OBOClientCertificate \(in <Files/],
    ['OBOScope in <Files> in a <VirtualHost> without OBOClientID', "$IDP\n$AUD\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n <Files x.cgi>\n  $SCOPE\n </Files>\n</VirtualHost>", qr/OBO040: .*need OBOClientID \(in <Files x\.cgi>/],
    ['OBOScope in <ProxyMatch> without OBOClientID', "$IDP\n$AUD\n$LOC\n<ProxyMatch \"^http://127\\.0\\.0\\.1:1/\">\n $SCOPE\n</ProxyMatch>", qr/OBO040: .*need OBOClientID \(in <ProxyMatch/, modules => ['proxy']],
    ['AuthType obo in <Files> without OBOAudience', "$IDP\n<Files x.cgi>\n AuthType obo\n Require valid-user\n</Files>", qr/OBO040: AuthType obo needs OBOAudience/],
    ['AuthType obo in <If> without OBOAudience', "$IDP\n<If \"true\">\n AuthType obo\n Require valid-user\n</If>", qr/OBO040: AuthType obo needs OBOAudience/],
    ['AuthType obo in <Proxy> without a key source', "$AUD\n<Proxy \"http://127.0.0.1:1/*\">\n AuthType obo\n Require valid-user\n</Proxy>", qr/OBO040: AuthType obo needs OBOMetadataURL/, modules => ['proxy']],
    ['OBOPassToken alone in <Files>',   "$BASE\n$LOC\n<Files x.cgi>\n OBOPassToken env X\n</Files>", qr/OBO062: .*\(in <Files x\.cgi>/],

    # issue 14 B8
    ['OBOClientCertificate key of another certificate', "$BASE\n$XLOC\nOBOClientCertificate $pki/client.pem $pki/server.key", qr/OBO044: OBOClientCertificate: client key does not match/],
    ['OBOClientCertificate encrypted key', "$BASE\n$XLOC\nOBOClientCertificate $pki/client.pem $enc", qr/OBO044: OBOClientCertificate: cannot read PEM private key/],
    ['OBOClientCertificate key that is not PEM', "$BASE\n$XLOC\nOBOClientCertificate $pki/client.pem $notkey", qr/OBO044: OBOClientCertificate/],
    # a pair staged before the first exchanging Location is checked too: the
    # reload that adds the Location must not be the first to find it broken
    ['OBOClientCertificate key of another certificate, no exchange yet', "$BASE\nOBOClientCertificate $pki/client.pem $pki/server.key", qr/OBO044: OBOClientCertificate: client key does not match/],
    ['OBOClientCertificate encrypted key, no exchange yet', "$BASE\nOBOClientCertificate $pki/client.pem $enc", qr/OBO044: OBOClientCertificate: cannot read PEM private key/],
    ['OBOLongRunning with OBOCache none', "$BASE\nOBOCache none\n<Location /api>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>", qr/OBO066: OBOLongRunning on \(<Location \/api>/],
    # an administrator's audit (issue 14's second review) found these passing configtest
    ['OBOScope with OBOJWKSFile and no token endpoint', "OBOJWKSFile $jwks\nOBOIssuer https://idp.example/\n$AUD\n$CRED\n$XLOC", qr/OBO040: OBOScope\/OBOPassToken need a token endpoint: OBOMetadataURL \(discovery\) or OBOTokenEndpoint/],
    ['OBOTimeout nan',                  "$BASE\n$XLOC\nOBOTimeout nan", qr/OBOTimeout.*not a number of seconds/],
    ['OBOTimeout 5 nan',                "$BASE\n$XLOC\nOBOTimeout 5 nan", qr/OBOTimeout.*not a number of seconds/],
    ['OBOTimeout 0x10',                 "$BASE\n$XLOC\nOBOTimeout 0x10", qr/OBOTimeout.*not a number of seconds/],
    ['OBOTimeout 1e1',                  "$BASE\n$XLOC\nOBOTimeout 1e1", qr/OBOTimeout.*not a number of seconds/],
    ['OBOTimeout 2.5 10',               "$BASE\n$XLOC\nOBOTimeout 2.5 10", 'good'],
    ['OBOCache none with an argument',  "$BASE\n$XLOC\nOBOCache none bogus", qr/OBOCache.*none takes no argument/],
    # review 33B: configtest said Syntax OK, then every request (or every one
    # outside an <If>) failed
    ['OBOAudience only inside an <If>', "$IDP\n<Location /q>\n AuthType obo\n Require valid-user\n <If \"%{QUERY_STRING} =~ /x/\">\n  $AUD\n </If>\n</Location>", qr/OBO040: AuthType obo needs OBOAudience/],
    ['OBOAudience in every branch of <If>/<Else>', "$IDP\n<Location /q>\n AuthType obo\n Require valid-user\n <If \"%{QUERY_STRING} =~ /x/\">\n  $AUD\n </If>\n <Else>\n  $AUD\n </Else>\n</Location>", 'good'],
    ['OBOAudience in <If>/<ElseIf> without <Else>', "$IDP\n<Location /q>\n AuthType obo\n Require valid-user\n <If \"%{QUERY_STRING} =~ /x/\">\n  $AUD\n </If>\n <ElseIf \"%{QUERY_STRING} =~ /y/\">\n  $AUD\n </ElseIf>\n</Location>", qr/OBO040: AuthType obo needs OBOAudience/],
            ['OBOTokenFormat opaque with OBOJWKSURL and OBOIntrospectionURL', "OBOJWKSURL https://127.0.0.1:$p{idp}/cfg/discovery/v2.0/keys\nOBOIssuer https://idp.example/\nOBOIntrospectionURL https://127.0.0.1:$p{idp}/cfg/oauth2/v2.0/introspect\n$AUD\n$CRED\n<Location /a>\n AuthType obo\n Require valid-user\n OBOTokenFormat opaque\n</Location>", 'good'],
        ['... and OBOLongRunning off in the one under it', "$BASE\n<Location /lr>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>\n<Location /lr/app>\n OBOScope api://d/.default app\n OBOLongRunning off\n</Location>", 'good'],
                ['OBODPoP required, OBOAcceptTokenAs with header', loc(" OBODPoP required\n OBOAcceptTokenAs header cookie:at"), 'good'],

    ['OBOExchangeAudience alone with on-behalf-of everywhere', loc(" OBOExchangeAudience api://orders"),
     qr/OBO049: OBOExchangeAudience without OBOScope \(in <Location \/api> at \S+\) asks for token exchange/],
    ['OBOExchangeAudience alone at server level, on-behalf-of', "$BASE\nOBOExchangeAudience api://orders\n$LOC",
     qr/OBO049: OBOExchangeAudience without OBOScope \(the main server configuration\)/],

    # review 33B-F19: a refused URL is shown without its query (a ?code= key)
    ['OBOTokenEndpoint http: with a query', "$BASE\n$XLOC\nOBOTokenEndpoint http://idp.example/t?code=SECRETCODE123",
     qr/OBOTokenEndpoint.*'http:\/\/idp\.example\/t\?\.\.\.' is not an https URL/, not_in_output => qr/SECRETCODE123/],

    ['OBOPassToken header OBO-Claim-sub (the module\'s own)', loc(" $SCOPE\n OBOPassToken header OBO-Claim-sub"),
     qr/OBOPassToken: header OBO-Claim-sub: OBO-Claim-\* is where the module hands claims on/],

    ['OBOCache memcached naming a server twice', "$BASE\n$XLOC\nOBOCacheSecret 0123456789abcdef0123456789abcdef\nOBOCache memcached 127.0.0.1:11311,127.0.0.1:11311",
     qr/OBOCache.*memcached server '127\.0\.0\.1:11311' is named twice/],
    ['OBOAcceptTokenAs cookie:a cookie:A', loc(" OBOAcceptTokenAs header cookie:a cookie:A"),
     qr/OBOAcceptTokenAs.*cookie:A is listed twice/],

    # review 34B: the new checks followed httpd's merge wrongly
    ['OBODPoP required in a <Directory>, the <Location> takes the header',
     "$BASE\nOBOAcceptTokenAs cookie:at\n<Directory \"$t/htdocs\">\n OBODPoP required\n</Directory>\n"
     . "<Location /api>\n AuthType obo\n Require valid-user\n OBOAcceptTokenAs header\n</Location>", 'good'],
    ['OBOTokenFormat auto in a main-server <Directory>, a key-only virtual host',
     "$BASE\n<Directory /srv/never>\n OBOTokenFormat auto\n</Directory>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOJWKSFile $jwks\n OBOIssuer https://idp.example/\n"
     . " <Location /api>\n  AuthType obo\n  Require valid-user\n </Location>\n</VirtualHost>", 'good'],
    ['OBOAudience in an <If>/<Else> chain at server level',
     "$IDP\n<If \"%{QUERY_STRING} =~ /x/\">\n $AUD\n</If>\n<Else>\n $AUD\n</Else>\n$LOC", 'good'],
            # review 34B-F8: a main-server section that every virtual host completes
    ['AuthType obo in a main-server <Location>, OBOAudience in the virtual host',
     "$IDP\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n $AUD\n</VirtualHost>", 'good'],
    ['... and a second virtual host without OBOAudience',
     "$IDP\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n $AUD\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName other.test\n</VirtualHost>", qr/OBO040: AuthType obo needs OBOAudience/],
    ['opaque tokens exchanged in a main-server <Location>, token-exchange in the virtual host',
     "$BASE\nOBOIntrospectionURL https://127.0.0.1:$p{idp}/cfg/oauth2/v2.0/introspect\n"
     . "<Location /a/b>\n AuthType obo\n Require valid-user\n OBOTokenFormat opaque\n $SCOPE\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOExchange token-exchange\n</VirtualHost>", 'good'],
    # review 35: false positives, each working at run time
    ['a host\'s server-level OBOLongRunning on, turned off in its <Location> of a main-server app downstream',
     "$BASE\nOBOCache shm 6200000\n<Location /app>\n AuthType obo\n Require valid-user\n OBOScope api://d/.default app\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n $SCOPE\n OBOLongRunning on\n <Location /app>\n  OBOLongRunning off\n </Location>\n</VirtualHost>", 'good'],
    ['a main-server default OBOExchangeAudience every token-exchange host replaces',
     "$IDP\n$AUD\n$CRED\nOBOExchangeAudience api://orders\n<VirtualHost *:*>\n ServerName a.test\n OBOExchange token-exchange\n"
     . " OBOExchangeAudience api://orders-a\n$LOC\n</VirtualHost>", 'good'],
    ['an exchange in a main-server <Location>, the credentials per virtual host (35-F13)',
     "$IDP\n$AUD\n$XLOC\n<VirtualHost *:*>\n ServerName localhost\n $CRED\n</VirtualHost>", 'good'],
    ['... and a host without credentials',
     "$IDP\n$AUD\n$XLOC\n<VirtualHost *:*>\n ServerName localhost\n $CRED\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName other.test\n</VirtualHost>", qr/OBO040: OBOScope\/OBOPassToken need OBOClientID/],
    # 35-F9: a host's own identity provider completes a main-server AuthType obo
    ['AuthType obo in a main-server <Location>, the identity provider per virtual host (35-F9)',
     "$AUD\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n $IDP\n</VirtualHost>", 'good'],
    ['... and a host without one',
     "$AUD\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n $IDP\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName other.test\n</VirtualHost>",
     qr/OBO040: AuthType obo needs OBOMetadataURL, OBOJWKSURL or OBOJWKSFile/],
    # 35-F12, 36B-F5: httpd matches a wildcard <Location> by fnmatch against
    # the whole URI ('*' stops at '/'): <Location /api*> covers /api, not
    # /api/x, so it gives <Location /api> no audience (every /api/... 500)
    ['OBOAudience in <Location /api*>, AuthType obo in <Location /api> (36B-F5)',
     "$IDP\n<Location /api*>\n $AUD\n</Location>\n$LOC", qr/OBO040: AuthType obo needs OBOAudience/],
    # ... and ^/api in a <LocationMatch> matches /apifoo, which <Location /api> does not
    ['OBOAudience in <Location /api>, AuthType obo in <LocationMatch ^/api> (36B-F5)',
     "$IDP\n<Location /api>\n $AUD\n</Location>\n<LocationMatch \"^/api\">\n AuthType obo\n Require valid-user\n</LocationMatch>",
     qr/OBO040: AuthType obo needs OBOAudience/],
    ['OBOAudience in <Location /api>, AuthType obo in <LocationMatch ^/api/>',
     "$IDP\n<Location /api>\n $AUD\n</Location>\n<LocationMatch \"^/api/\">\n AuthType obo\n Require valid-user\n</LocationMatch>", 'good'],
    # 35-F10, F11: the main server's own cache or credentials lack, every host has them
    ['OBOLongRunning in a main-server <Location> with OBOCache none, a host without a cache',
     "$BASE\nOBOCache none\n<Location /api>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOCache shm\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName other.test\n</VirtualHost>", qr/OBO066: OBOLongRunning on \(<Location \/api>/],
    ['SetHandler obo-token outside any host, a host without credentials',
     "$IDP\n$AUD\n<Location /token>\n SetHandler obo-token\n Require all granted\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n $CRED\n <Location /api>\n  AuthType obo\n  Require valid-user\n"
     . "  $SCOPE\n  OBOLongRunning on\n </Location>\n</VirtualHost>\n<VirtualHost *:*>\n ServerName other.test\n</VirtualHost>",
     qr/OBO193: SetHandler obo-token \(<Location \/token>, \S+\) needs OBOClientID in the servers/],
    # review 36B-F9: server-wide settings meant for the sites, each site with
    # its own secret; the main server exchanges nothing (refused before)
    ['server-wide OBOClientAuth client_secret_basic, the secret per virtual host',
     "$IDP\n$AUD\nOBOClientAuth client_secret_basic\n<VirtualHost *:*>\n ServerName localhost\n $CRED\n$XLOC\n</VirtualHost>", 'good'],
    ['server-wide OBOClientAuth private_key_jwt, the certificate per virtual host',
     "$IDP\n$AUD\nOBOClientAuth private_key_jwt\n<VirtualHost *:*>\n ServerName localhost\n OBOClientID middle-tier-api\n"
     . " OBOClientCertificate $pki/client.pem $pki/client.key\n$XLOC\n</VirtualHost>", 'good'],
    ['server-wide OBOCache memcached, OBOCacheSecret per virtual host',
     "$IDP\n$AUD\nOBOCache memcached 127.0.0.1:1\n<VirtualHost *:*>\n ServerName localhost\n $CRED\n"
     . " OBOCacheSecret 0123456789abcdef0123456789abcdef\n$XLOC\n</VirtualHost>", 'good'],
    ['... and the main server exchanging itself without OBOCacheSecret, a host without one',
     "$IDP\n$AUD\n$CRED\nOBOCache memcached 127.0.0.1:1\n$XLOC\n<VirtualHost *:*>\n ServerName localhost\n"
     . " OBOCacheSecret 0123456789abcdef0123456789abcdef\n</VirtualHost>\n<VirtualHost *:*>\n ServerName other.test\n</VirtualHost>",
     qr/OBO040: OBOCache memcached needs OBOCacheSecret/],
    ['server-wide OBOClientAuth client_secret_post, a host exchanging without a secret',
     "$IDP\n$AUD\nOBOClientAuth client_secret_post\n<VirtualHost *:*>\n ServerName localhost\n OBOClientID middle-tier-api\n"
     . " OBOClientCertificate $pki/client.pem $pki/client.key\n$XLOC\n</VirtualHost>",
     qr/OBO040: OBOClientAuth client_secret_\* needs OBOClientSecret \(the configuration of <VirtualHost>/],
    # review 39B-F12: a host's server-level OBOTokenFormat opaque reaches a
    # main-server exchanging <Location> as surely as the main server's
    # reaches a host's (OBO420 both ways); a host <Location> may override it
    ['a host\'s server-level OBOTokenFormat opaque, an exchange in a main-server <Location>',
     "$BASE\n<Location /x>\n AuthType obo\n Require valid-user\n $SCOPE\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOTokenFormat opaque\n</VirtualHost>",
     qr/OBO420: OBOExchange on-behalf-of .*OBOTokenFormat opaque \(\S+:\d+, the configuration of <VirtualHost> at \S+:\d+, in <Location \/x> at \S+:\d+\)/],
    ['... the host\'s own <Location /x> setting OBOTokenFormat jwt',
     "$BASE\n<Location /x>\n AuthType obo\n Require valid-user\n $SCOPE\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOTokenFormat opaque\n <Location /x>\n"
     . "  OBOTokenFormat jwt\n </Location>\n</VirtualHost>", 'good'],
    ['OBORemoteUserClaim sub bare', "$IDP\n$AUD\n$LOC\nOBORemoteUserClaim sub bare", 'good'],
    ['OBORemoteUserClaim sub qualified', "$IDP\n$AUD\n$LOC\nOBORemoteUserClaim sub qualified",
     qr/OBORemoteUserClaim: 'qualified': the second word can only be 'bare'/],
    # review 36B-F13: the cause of OBO189 with a certificate is the inherited method
    ['a virtual host with its own OBOClientID and certificate, inheriting OBOClientAuth client_secret_post',
     "$BASE\nOBOClientAuth client_secret_post\n$XLOC\n$VHOST_IDP\n OBOClientID other-client\n"
     . " OBOClientCertificate $pki/client.pem $pki/client.key\n$XLOC\n</VirtualHost>",
     qr/OBO189: virtual host \S+ sets its own OBOClientID \(other-client\) and OBOClientCertificate but inherits OBOClientAuth client_secret_\*/],
    ['OBORemoteUserClaim bare (no claim named)', "$IDP\n$AUD\n$LOC\nOBORemoteUserClaim bare",
     qr/OBORemoteUserClaim bare: name the claim first/],
    # review 36B-F1: OBO430 says where the line is
    ['OBOTokenFormat opaque in <Files> without client credentials',
     "$IDP\n$AUD\n$LOC\n<Files x.cgi>\n OBOTokenFormat opaque\n</Files>",
     qr/OBO430: OBOTokenFormat opaque or auto \(the main server configuration, first at \S+:\d+\) needs OBOClientID/],
    ['an IdP URL with a password and a query', "$BASE\n$XLOC\nOBOTokenEndpoint https://u:pw\@idp.example/t?code=SECRETCODE456",
     qr/OBOTokenEndpoint.*shown without it/, not_in_output => qr/SECRETCODE456/],

    # lows of round 30 (30B-F12): a setting that can only refuse every token
    ['OBOCertificateBound required without mod_ssl', loc(" OBOCertificateBound required"), qr/OBO481: OBOCertificateBound required \(.*:\d+\) needs TLS client certificates, but no TLS module \(mod_ssl or mod_tls\) is loaded/],
    ['OBOCertificateBound required with mod_ssl', loc(" OBOCertificateBound required"), 'good', modules => ['ssl']],
    ['OBOCertificateBound required at server level without mod_ssl', "$BASE\nOBOCertificateBound required\n$LOC", qr/OBO481/],
    ['memcached without OBOCacheSecret in a virtual host', "$BASE\n$XLOC\n<VirtualHost 127.0.0.1:*>\n ServerName v.test\n OBOCache memcached 127.0.0.1:1\n</VirtualHost>", qr/OBO040: OBOCache memcached needs OBOCacheSecret.*\(the configuration of <VirtualHost> at \S+:\d+\)/],
    ['OBOScope with OBOJWKSFile and OBOTokenEndpoint', "OBOJWKSFile $jwks\nOBOIssuer https://idp.example/\nOBOTokenEndpoint https://idp.example/token\n$AUD\n$CRED\n$XLOC", 'good'],
    ['OBOLongRunning at server level with OBOCache none', "$BASE\nOBOCache none\nOBOLongRunning on\n$XLOC", qr/OBO066: OBOLongRunning on \(the main server configuration\)/],
    # a review found OBO066 named "(server configuration)" for a virtual host's
    ['OBOLongRunning in a virtual host with OBOCache none', "$BASE\n$XLOC\n<VirtualHost 127.0.0.1:*>\n ServerName v.test\n OBOCache none\n OBOLongRunning on\n</VirtualHost>", qr/OBO066: OBOLongRunning on \(the configuration of <VirtualHost> at \S+:\d+\)/],
    ['OBOJWKSFile without OBOIssuer',  "OBOJWKSFile $jwks\n$AUD\n$LOC", qr/OBO040: AuthType obo with OBOJWKSURL or OBOJWKSFile needs OBOIssuer/],
    ['OBOJWKSURL without OBOIssuer',   "OBOJWKSURL https://127.0.0.1:$p{idp}/cfg/discovery/v2.0/keys\n$AUD\n$LOC", qr/OBO040: AuthType obo with OBOJWKSURL or OBOJWKSFile needs OBOIssuer/],
    ['OBOTimeout connect longer than total', "$BASE\n$XLOC\nOBOTimeout 20 5", qr/OBOTimeout: the total timeout is shorter/],
    ['OBOSessionLifetime idle longer than the default maximum', "$BASE\n$XLOC\nOBOSessionLifetime 100d", qr/OBOSessionLifetime: the idle lifetime is longer than the default maximum/],
    ['OBOSessionLifetime max shorter than idle', "$BASE\n$XLOC\nOBOSessionLifetime 2d 1d", qr/OBOSessionLifetime: the maximum lifetime is shorter/],

    # issue 14 L3: local files that are readable but can never work
    ['OBOJWKSFile of malformed JSON',    "OBOJWKSFile $jwks_bad\n$JF", qr/OBO125: OBOJWKSFile \Q$jwks_bad\E is not a usable key set: malformed JSON/],
    ['OBOJWKSFile {"keys":[]}',          "OBOJWKSFile $jwks_empty\n$JF", qr/OBO125: OBOJWKSFile \Q$jwks_empty\E is not a usable key set: JWKS has no usable key/],
    ['OBOJWKSFile with only an oct key', "OBOJWKSFile $jwks_oct\n$JF", qr/OBO125: OBOJWKSFile \Q$jwks_oct\E is not a usable key set: JWKS has no usable key/],
    ['OBOCACertificateFile /etc/hostname', "$IDP\n$AUD\n$LOC\nOBOCACertificateFile /etc/hostname", qr{OBO124: OBOCACertificateFile /etc/hostname holds no usable CA certificate: no PEM certificate}],
    ['OBOCACertificateFile of text',     "$IDP\n$AUD\n$LOC\nOBOCACertificateFile $ca_text", qr/OBO124: OBOCACertificateFile \Q$ca_text\E holds no usable CA certificate: no PEM certificate/],
    ['OBOCACertificateFile with a damaged PEM block', "$BASE\n$XLOC\nOBOCACertificateFile $ca_broken", qr/OBO124: OBOCACertificateFile \Q$ca_broken\E holds no usable CA certificate: not PEM, or a PEM block in it is damaged/],
    ['OBOCACertificateFile of the test CA', "$IDP\n$AUD\n$LOC\nOBOCACertificateFile $pki/ca.pem", 'good'],
    ['OBOCACertificateFile with text around the certificate', "$BASE\n$XLOC\nOBOCACertificateFile $ca_bundle", 'good'],

    # review 30B: a virtual host naming a client of its own without its
    # secret sent the main server's client secret as that client's, to the
    # virtual host's (another party's) IdP
    ['a virtual host with its own OBOClientID and no secret', "$BASE\n$XLOC\n$VHOST_IDP\n OBOClientID other-client\n$XLOC\n</VirtualHost>", qr/OBO189: virtual host \S+ sets its own OBOClientID \(other-client\) but no OBOClientSecret/],
    ['a virtual host with its own OBOClientID and secret', "$BASE\n$XLOC\n$VHOST_IDP\n OBOClientID other-client\n OBOClientSecret other-secret\n$XLOC\n</VirtualHost>", 'good'],
    # review 31: the main server has a secret and a certificate; the virtual
    # host's client uses the inherited certificate and never sends the secret
    ['a virtual host with its own OBOClientID, inheriting a certificate', "$BASE\nOBOClientCertificate $pki/client.pem $pki/client.key\n$XLOC\n$VHOST_IDP\n OBOClientID other-client\n$XLOC\n</VirtualHost>", 'good'],
    ['a virtual host with its own OBOClientID and certificate', "$BASE\n$XLOC\n$VHOST_IDP\n OBOClientID other-client\n OBOClientCertificate $pki/client.pem $pki/client.key\n$XLOC\n</VirtualHost>", 'good'],
    # review 30B: OBOExchangeAudience with the on-behalf-of grant was dropped
    # (alone: an empty scope, 500 on every request)
    ['OBOPassToken header Cookie', loc(" $SCOPE\n OBOPassToken header Cookie"), qr/OBOPassToken: header Cookie/],
    ['OBOExchangeAudience with token-exchange', loc(" OBOExchangeAudience api://orders") . "\nOBOExchange token-exchange", 'good'],
);

# t/70_admin_config.t: files the server cannot read (not as root: root reads all)
if ($< != 0) {
    for my $f (['ca-000.pem', "$pki/ca.pem"], ['client-000.key', "$pki/client.key"]) {
        my $to = "$dir/$f->[0]";
        system('cp', $f->[1], $to) == 0 or die "cp: $?";
        chmod 0000, $to;
    }
    push @rows,
        ['OBOCACertificateFile the server cannot read', "$BASE\n$XLOC\nOBOCACertificateFile $dir/ca-000.pem", qr/OBO120: OBOCACertificateFile/],
        ['OBOClientCertificate key the server cannot read', "$BASE\n$XLOC\nOBOClientCertificate $pki/client.pem $dir/client-000.key", qr/OBO120: OBOClientCertificate key/];
}

for my $row (@rows) {
    my ($name, $conf, $want, %o) = @$row;
    my $hidden = delete $o{not_in_output};
    subtest $name => sub {
        my $c = check_config($conf, %o, start_anyway => 1, until_serving => 1);
        ok !$c->{configtest_hung}, "configtest ends within $o{configtest_timeout} s"
            or diag $c->{output} if $o{configtest_timeout};
        unlike $c->{output}, $hidden, 'shows nothing it must not' if $hidden;
        my ($t_out) = split /\n\[(?:apache2 -DFOREGROUND|error_log)\]\n/, $c->{output};
        is $c->{started} ? 1 : 0, $c->{syntax_ok} ? 1 : 0,
            sprintf('configtest %s and a real start %s: they agree',
                    $c->{syntax_ok} ? 'passes' : 'fails', $c->{started} ? 'runs' : 'fails')
            or diag $c->{output};
        if (ref $want) {
            ok !$c->{syntax_ok}, 'configtest refuses it' or diag $c->{output};
            like $t_out, $want, 'configtest names the cause' or diag $c->{output};
        }
        else {
            ok $c->{syntax_ok} && $c->{started}, 'configtest passes and httpd runs'
                or diag $c->{output};
        }
    };
}

# Warnings configtest must print (review 30B), and their absence where the
# configuration is right.
my @warnings = (
    # review 39B-F3: without an issuer the main server's own requests are
    # refused (401), not a 500
    ['a keys-only main server whose hosts set OBOIssuer',
     "OBOJWKSFile $jwks\n$AUD\n$LOC\n<VirtualHost 127.0.0.1:*>\n ServerName v.test\n"
     . " OBOIssuer https://idp.example/\n</VirtualHost>",
     qr/OBO040: AuthType obo with OBOJWKSURL or OBOJWKSFile needs OBOIssuer .* in the main server: the requests it answers itself would get 401 \(no issuer to accept\)/],
    # server-wide credentials, one IdP per virtual host: each IdP gets them
    ['server-wide credentials sent to two virtual hosts\' IdPs',
     "$AUD\n$CRED\n$VHOST_IDP\n$XLOC\n</VirtualHost>\n"
     . "<VirtualHost 127.0.0.2:*>\n ServerName w.test\n OBOMetadataURL https://127.0.0.1:$p{idp}/cfgw/v2.0/.well-known/openid-configuration\n$XLOC\n</VirtualHost>",
     qr/OBO199: virtual host v\.test:\d+ has an identity provider of its own but the main server's credentials/],
    ['server-wide credentials and one virtual host with an IdP', "$AUD\n$CRED\n$VHOST_IDP\n$XLOC\n</VirtualHost>", undef, qr/OBO199/],
    # review 31: one server-wide secret, each virtual host its own client id and IdP
    ['a server-wide secret sent to two virtual hosts\' IdPs under their own ids',
     "$AUD\nOBOClientSecret s3cret-for-tests\n$VHOST_IDP\n OBOClientID va\n$XLOC\n</VirtualHost>\n"
     . "<VirtualHost 127.0.0.2:*>\n ServerName w.test\n OBOClientID vb\n OBOMetadataURL https://127.0.0.1:$p{idp}/cfgw/v2.0/.well-known/openid-configuration\n$XLOC\n</VirtualHost>",
     qr/OBO199: virtual host v\.test:\d+ has an identity provider of its own but the main server's credentials/],
    # review 30B, then 31 (a warning: a main server's section may serve
    # token-exchange virtual hosts, and what ran before must restart)
    # ... and refused (OBO049, review 33B-F17) unless a server it serves
    # uses token-exchange, as this virtual host does
    ['OBOExchangeAudience alone, a token-exchange virtual host', loc(" OBOExchangeAudience api://orders")
     . "\n<VirtualHost *:*>\n ServerName localhost\n OBOExchange token-exchange\n</VirtualHost>",
     qr/OBO059: OBOExchangeAudience \(in <Location \/api> at \S+\) is sent only with OBOExchange token-exchange.*without OBOScope every exchange fails/],
    ['OBOExchangeAudience beside OBOScope with on-behalf-of', loc(" $SCOPE\n OBOExchangeAudience api://orders"),
     qr/OBO059: OBOExchangeAudience .* it is dropped: name/],
    ['OBOExchangeAudience with token-exchange', loc(" OBOExchangeAudience api://orders") . "\nOBOExchange token-exchange", undef, qr/OBO059/],
    ['OBOLongRunning without a downstream', "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBOLongRunning on\n</Location>",
     qr/OBO058: OBOLongRunning on \(in <Location \/api> at \S+\) but no OBOScope/],
    ['OBOLongRunning with a downstream', "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBOLongRunning on\n $SCOPE\n</Location>", undef, qr/OBO058/],
    # review 34B-F6, F13: main-server settings the virtual hosts use
    ['a main-server OBODPoPWindow, OBODPoP in a virtual host',
     "$BASE\nOBODPoPWindow 30\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n"
     . " <Location /d>\n  AuthType obo\n  Require valid-user\n  OBODPoP allowed\n </Location>\n</VirtualHost>",
     undef, qr/OBO496/],
    ['a main-server OBOLongRunning, OBOScope in a virtual host',
     "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBOLongRunning on\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n $SCOPE\n</VirtualHost>", undef, qr/OBO058/],
    # review 35: checks that read the configuration's text and may not see
    # every merge warn instead of refusing
    ['OBOTokenFormat opaque with OBOJWKSURL and no OBOIntrospectionURL', "OBOJWKSURL https://127.0.0.1:$p{idp}/cfg/discovery/v2.0/keys\nOBOIssuer https://idp.example/\n$AUD\n$CRED\n<Location /a>\n AuthType obo\n Require valid-user\n OBOTokenFormat opaque\n</Location>",
     qr/OBO432/],
    ['OBOTokenFormat auto with OBOJWKSFile and no OBOIntrospectionURL', "OBOJWKSFile $jwks\nOBOIssuer https://idp.example/\n$AUD\n$CRED\n<Location /a>\n AuthType obo\n Require valid-user\n OBOTokenFormat auto\n</Location>",
     qr/OBO432/],
    ['OBOLongRunning in a <Location>, an app downstream in one under it', "$BASE\n<Location /lr>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>\n<Location /lr/app>\n OBOScope api://d/.default app\n</Location>",
     qr/OBO452/],
    ['OBOTokenFormat opaque in a <Location>, an exchange in one under it', "$BASE\n<Location /op>\n AuthType obo\n Require valid-user\n OBOTokenFormat opaque\n</Location>\n<Location /op/x>\n $SCOPE\n</Location>",
     qr/OBO427/],
    ['OBODPoP required, OBOAcceptTokenAs without header', loc(" OBODPoP required\n OBOAcceptTokenAs cookie:at"),
     qr/OBO497/],
    ['OBODPoP required, OBOAcceptTokenAs without header in a <Location> under it', "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBODPoP required\n</Location>\n<Location /api/c>\n OBOAcceptTokenAs cookie:at\n</Location>",
     qr/OBO497/],
    # review 39B-F11: a server-level OBOTokenFormat applies to every virtual
    # host; one with a keys-only provider of its own can never introspect
    ['a server-level OBOTokenFormat auto, a host with a keys-only provider of its own',
     "$BASE\nOBOTokenFormat auto\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n OBOJWKSFile $jwks\n"
     . " OBOIssuer https://idp.example/\n</VirtualHost>",
     qr/OBO432: OBOTokenFormat opaque or auto \(the configuration of <VirtualHost> at \S+:\d+\) needs an introspection endpoint/],
    ['a server-level OBOTokenFormat auto, a host with the main server\'s provider',
     "$BASE\nOBOTokenFormat auto\n$LOC\n<VirtualHost *:*>\n ServerName localhost\n</VirtualHost>",
     undef, qr/OBO432/],
    # review 39B-F14: a server-level OBOAcceptTokenAs (the main server's or
    # a host's) applies to the <Location>s that set none; said once
    ['OBOAcceptTokenAs cookie:at at server level, OBODPoP required in a <Location>',
     "$BASE\nOBOAcceptTokenAs cookie:at\n<Location /api>\n AuthType obo\n Require valid-user\n OBODPoP required\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n</VirtualHost>",
     qr/OBO497: OBODPoP required \(\S+:\d+\) where OBOAcceptTokenAs \(\S+:\d+\) leaves out header/],
    ['OBOAcceptTokenAs cookie:at in a host, OBODPoP allowed in a main-server <Location>',
     "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBODPoP allowed\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOAcceptTokenAs cookie:at\n</VirtualHost>",
     qr/OBO498: OBODPoP allowed \(\S+:\d+\) where OBOAcceptTokenAs \(\S+:\d+\) leaves out header/],
    ['... the host\'s own <Location /api> taking the header',
     "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBODPoP required\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOAcceptTokenAs cookie:at\n <Location /api>\n"
     . "  OBOAcceptTokenAs header\n </Location>\n</VirtualHost>", undef, qr/OBO49[78]/],
    # review 39B-F12
    ['a host\'s server-level OBOTokenFormat opaque, replaced in its own <Location /x>',
     "$BASE\n<Location /x>\n AuthType obo\n Require valid-user\n $SCOPE\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOTokenFormat opaque\n <Location /x>\n"
     . "  OBOTokenFormat jwt\n </Location>\n</VirtualHost>", undef, qr/OBO42[07]/],
    ['a host\'s server-level OBOTokenFormat opaque, a host <Directory> setting another',
     "$BASE\n<Location /x>\n AuthType obo\n Require valid-user\n $SCOPE\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOTokenFormat opaque\n <Directory /srv/never>\n"
     . "  OBOTokenFormat jwt\n </Directory>\n</VirtualHost>",
     qr/OBO427: OBOTokenFormat opaque \(\S+:\d+\) seems to apply to <Location \/x> at \S+:\d+ \(as the configuration of <VirtualHost> at \S+:\d+ merges it\)/],
    ['OBOExchangeAudience alone in one virtual host, token-exchange in another',
     "$IDP\n$AUD\n$CRED\n<VirtualHost *:*>\n ServerName a.test\n OBOExchangeAudience api://down-a\n$LOC\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName b.test\n OBOExchange token-exchange\n OBOExchangeAudience api://down-b\n$LOC\n</VirtualHost>",
     qr/OBO059/],
    ['an app downstream in a main-server <Location>, OBOLongRunning in a host\'s prefix <Location>',
     "$BASE\n<Location /a/app>\n AuthType obo\n Require valid-user\n OBOScope api://d/.default app\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n <Location /a>\n  AuthType obo\n  Require valid-user\n"
     . "  OBOLongRunning on\n </Location>\n <Location /b>\n  $SCOPE\n </Location>\n</VirtualHost>",
     qr/OBO452/],
    # 35-F10, F11: a main server that name-based hosts leave idle lacks what
    # every host has (refused before: the configurations work)
    ['OBOLongRunning in a main-server <Location> with OBOCache none, every host with a cache (35-F10)',
     "$BASE\nOBOCache none\n<Location /api>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n OBOCache shm\n</VirtualHost>",
     qr/OBO066: OBOLongRunning on \(<Location \/api> at \S+\) in the main server, which has OBOCache none/],
    ['SetHandler obo-token outside any host, the credentials per host (35-F11)',
     "$IDP\n$AUD\n<Location /token>\n SetHandler obo-token\n Require all granted\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName localhost\n $CRED\n <Location /api>\n  AuthType obo\n  Require valid-user\n"
     . "  $SCOPE\n  OBOLongRunning on\n </Location>\n</VirtualHost>",
     qr/OBO193: SetHandler obo-token \(<Location \/token>, \S+\) needs OBOClientID in the main server/],
    # 36B-F14: a Require in <Limit GET> or a lone <If> leaves other requests open
    ['AuthType obo with Require valid-user only in <Limit GET>',
     "$IDP\n$AUD\n<Location /api>\n AuthType obo\n <Limit GET>\n  Require valid-user\n </Limit>\n</Location>",
     qr/OBO063: [^\n]*<Location \/api>/],
    ['AuthType obo with Require valid-user only in a lone <If>',
     "$IDP\n$AUD\n<Location /api>\n AuthType obo\n <If \"%{REQUEST_METHOD} == 'GET'\">\n  Require valid-user\n </If>\n</Location>",
     qr/OBO063: [^\n]*<Location \/api>/],
    ['AuthType obo with Require valid-user in both branches of <If>/<Else>',
     "$IDP\n$AUD\n<Location /api>\n AuthType obo\n <If \"%{REQUEST_METHOD} == 'GET'\">\n  Require valid-user\n </If>\n <Else>\n  Require valid-user\n </Else>\n</Location>",
     undef, qr/OBO063/],
    # 36B-F5: <Location /api*> with a Require does not cover <Location /api>
    ['AuthType obo in <Location /api>, Require valid-user only in <Location /api*>',
     "$IDP\n$AUD\n<Location /api*>\n Require valid-user\n</Location>\n<Location /api>\n AuthType obo\n</Location>",
     qr/OBO063: [^\n]*<Location \/api>/],
    # 36B-F9 (d): a server-wide OBOTokenFormat auto, the credentials per site
    ['OBOTokenFormat auto at server level, the credentials per virtual host',
     "$IDP\n$AUD\nOBOTokenFormat auto\n<VirtualHost *:*>\n ServerName localhost\n $CRED\n$LOC\n</VirtualHost>",
     qr/OBO430: OBOTokenFormat opaque or auto \(the main server configuration\) needs OBOClientID .* in the main server/],
    # 36B-F15: a handler-only host on the main server's shm segment, sessions
    # opened through a host with a segment of its own (OBOClockSkew: its own
    # configuration) never reach it
    ['a handler host reading the main segment, an opener host with its own',
     "$BASE\nOBOCache shm 6200000\n<Location /lr>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName api.test\n OBOClockSkew 30\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName tokens.test\n <Location /obo-token>\n  SetHandler obo-token\n  Require all granted\n </Location>\n</VirtualHost>",
     qr/OBO181: SetHandler obo-token \(<Location \/obo-token>, \S+\) reads the shm cache .* virtual host api\.test:\d+ keeps/],
    ['a handler in a host of its own, another host with long-running sessions of its own: no OBO181',
     "$BASE\nOBOCache shm 6200000\n<VirtualHost *:*>\n ServerName api.test\n <Location /lr>\n  AuthType obo\n  Require valid-user\n  $SCOPE\n  OBOLongRunning on\n </Location>\n"
     . " <Location /obo-token>\n  SetHandler obo-token\n  Require all granted\n </Location>\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName other.test\n <Location /lr2>\n  AuthType obo\n  Require valid-user\n  $SCOPE\n  OBOLongRunning on\n </Location>\n</VirtualHost>",
     undef, qr/OBO181/],
    ['... with memcached shared: no OBO181',
     "$BASE\nOBOCache memcached 127.0.0.1:1\nOBOCacheSecret 0123456789abcdef0123456789abcdef\n<Location /lr>\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName api.test\n OBOClockSkew 30\n</VirtualHost>\n"
     . "<VirtualHost *:*>\n ServerName tokens.test\n <Location /obo-token>\n  SetHandler obo-token\n  Require all granted\n </Location>\n</VirtualHost>",
     undef, qr/OBO181/],
    # review 33B-F8: a handler-only host reading another memcached store
    ['a handler host with another OBOCacheSecret than the sessions\' server',
     "$BASE\nOBOCache memcached 127.0.0.1:1\nOBOCacheSecret 0123456789abcdef0123456789abcdef\n"
     . "<Location /api>\n AuthType obo\n Require valid-user\n OBOLongRunning on\n $SCOPE\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName tok.test\n OBOCacheSecret fedcba9876543210fedcba9876543210\n"
     . " <Location /token>\n  SetHandler obo-token\n  Require all granted\n </Location>\n</VirtualHost>",
     qr/OBO194: SetHandler obo-token \(<Location \/token>, \S+\) reads sessions from a memcached store/],
    ['a handler host with the same store',
     "$BASE\nOBOCache memcached 127.0.0.1:1\nOBOCacheSecret 0123456789abcdef0123456789abcdef\n"
     . "<Location /api>\n AuthType obo\n Require valid-user\n OBOLongRunning on\n $SCOPE\n</Location>\n"
     . "<VirtualHost *:*>\n ServerName tok.test\n"
     . " <Location /token>\n  SetHandler obo-token\n  Require all granted\n </Location>\n</VirtualHost>",
     undef, qr/OBO194/],
);
for my $w (@warnings) {
    my ($name, $conf, $want, $not) = @$w;
    subtest "warning: $name" => sub {
        my $c = check_config($conf);
        ok $c->{syntax_ok}, 'configtest passes' or diag $c->{output};
        like $c->{output}, $want, 'and warns' or diag $c->{output} if $want;
        unlike $c->{output}, $not, 'no warning' or diag $c->{output} if $not;
    };
}

# Said once per cause in configtest's own output (the start's error log
# says it again): a virtual host merging the same lines is not named again.
sub said_once {
    my ($name, $conf, $re) = @_;
    subtest "said once: $name" => sub {
        my $c = check_config($conf);
        ok $c->{syntax_ok}, 'configtest passes' or return diag $c->{output};
        my ($t_out) = split /\n\[(?:apache2 -DFOREGROUND|error_log)\]\n/, $c->{output};
        my $n = () = $t_out =~ /$re/g;
        is $n, 1, 'one warning' or diag $c->{output};
    };
}
said_once('OBO497 of a server-level OBOAcceptTokenAs, with a virtual host (39B-F14)',
          "$BASE\nOBOAcceptTokenAs cookie:at\n<Location /api>\n AuthType obo\n Require valid-user\n"
          . " OBODPoP required\n</Location>\n<VirtualHost *:*>\n ServerName localhost\n</VirtualHost>",
          qr/OBO497/);
said_once('OBO427 of a host\'s OBOTokenFormat opaque over a main-server <Location> (39B-F12)',
          "$BASE\n<Location /x>\n AuthType obo\n Require valid-user\n $SCOPE\n</Location>\n"
          . "<VirtualHost *:*>\n ServerName localhost\n OBOTokenFormat opaque\n <Directory /srv/never>\n"
          . "  OBOTokenFormat jwt\n </Directory>\n</VirtualHost>", qr/OBO427/);

# review 39B-F11 at run time: with OBOTokenFormat auto and no introspection
# endpoint that can ever be known (a keys-only provider, no
# OBOIntrospectionURL), a string that is not a JWS is a token the server can
# never accept: 401 invalid_token, not 503 (any client could make the host
# answer 503 at will); a JWT of the host's provider still validates
subtest 'OBOTokenFormat auto, a keys-only virtual host: a non-JWS token is 401, not 503' => sub {
    my $conf = "$BASE\nOBOCACertificateFile $t/pki/ca.pem\nOBOTokenFormat auto\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>\n"
             . "<VirtualHost *:*>\n ServerName localhost\n OBOJWKSFile $jwks\n"
             . " OBOIssuer https://idp.example/\n</VirtualHost>";
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $jwt = mint(claims => { iss => 'https://idp.example/', sub => 'alice' });
    my $c = check_config($conf, probe => sub {
        return [ map { $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $_") }
                 'garbage-opaque-token', $jwt ];
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    my ($junk, $good) = @{ $c->{probe} };
    is $junk->code, 401, 'a string that is not a JWS: 401' or diag describe($junk), $c->{output};
    like $junk->header('WWW-Authenticate') // '', qr/error="invalid_token"/, '... invalid_token';
    ok !defined $junk->header('Retry-After'), '... without Retry-After';
    is $good->code, 200, 'a JWT of the host\'s provider: 200' or diag describe($good), $c->{output};
};

# main server OBOTimeout 0.2 0.5, virtual host OBOTimeout 1: the virtual
# host's total must follow its own connect timeout (10 s, the default), not
# the main server's 0.5 s. The IdP answers discovery after 0.8 s.
subtest 'a virtual host OBOTimeout is not paired with the main server total' => sub {
    my $tenant = 'tmopair';
    idp_set("discovery_fault\@$tenant" => 'slow', "slow_seconds\@$tenant" => 0.8);
    my $conf = "OBOMetadataURL https://127.0.0.1:$p{idp}/$tenant/v2.0/.well-known/openid-configuration\n"
             . "OBOCACertificateFile $t/pki/ca.pem\n$AUD\nOBOTimeout 0.2 0.5\n"
             . "<VirtualHost *:*>\n ServerName localhost\n OBOTimeout 1\n</VirtualHost>\n"
             . "<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $tok = mint(tenant => $tenant);
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $tok");
    });
    idp_set("discovery_fault\@$tenant" => '');
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 200, 'the token validates: discovery (0.8 s) within the total timeout'
        or diag describe($c->{probe}), $c->{output};
};

# 35-F10 at run time: the host serving every request opens sessions in its
# own cache though the main server has OBOCache none.
subtest 'OBOLongRunning in a main-server <Location>, OBOCache none there, shm in the host' => sub {
    my $conf = "$BASE\nOBOCACertificateFile $t/pki/ca.pem\nOBOCache none\n"
             . "<Location />\n AuthType obo\n Require valid-user\n $SCOPE\n OBOLongRunning on\n</Location>\n"
             . "<VirtualHost *:*>\n ServerName localhost\n OBOCache shm\n</VirtualHost>";
    my $tok = mint(tenant => 'cfg');
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => "Bearer $tok");
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 200, 'a request opens its session in the host\'s cache'
        or diag describe($c->{probe}), $c->{output};
};

# reviews 36B-F11, 38F-F8: a server-level OBOScope applies to every section
# of the server: the caller's Authorization is removed there too, also in a
# public Location nested in an authenticated one (whose backend must never
# get the user's token); docs/proxy-backend.md says so
subtest 'a server-level OBOScope removes Authorization in every section, public ones too' => sub {
    my $conf = "$BASE\nOBOCACertificateFile $t/pki/ca.pem\n$SCOPE\n"
             . "ProxyPass /api http://127.0.0.1:$p{backend}/api\n"
             . "<Location /api>\n AuthType obo\n Require valid-user\n</Location>\n"
             . "<Location /api/public>\n AuthType None\n Require all granted\n</Location>";
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $tok = mint(tenant => 'cfg');
    my $c = check_config($conf, modules => ['proxy', 'proxy_http'], probe => sub {
        return $ua->get("http://127.0.0.1:$_[0]/api/public/x", Authorization => "Bearer $tok");
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $c->{probe}->code, 200, 'the public Location answers';
    is_deeply [ backend_header($c->{probe}, 'Authorization') ], [],
        '... and its backend never gets the caller\'s token';
};

# review 38F-F6: with only JWKS lines that name their issuers there is no
# primary provider: every provider's users are user@issuer (the first such
# line's users were bare)
subtest 'only JWKS lines with issuers: every provider\'s REMOTE_USER is user@issuer' => sub {
    my $acc = "$dir/jwks-only-access.log";
    my $conf = "OBOJWKSFile $jwks https://static.example.test/issc\n"
             . "OBOJWKSFile $jwks https://static2.example.test/issd\n$AUD\n"
             . "CustomLog \"$acc\" \"%u %>s\"\n<Location />\n AuthType obo\n Require valid-user\n</Location>";
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $c = check_config($conf, modules => ['log_config'], probe => sub {
        return [ map { $ua->get("http://127.0.0.1:$_[0]/public.txt", Authorization => 'Bearer '
                       . mint(claims => { iss => $_, sub => 'alice' })) }
                 'https://static.example.test/issc', 'https://static2.example.test/issd' ];
    });
    ok $c->{started}, 'httpd starts' or return diag $c->{output};
    is $_->code, 200, 'a token of each provider: 200' for @{ $c->{probe} };
    my $log = do { local $/; open my $fh, '<', $acc or return fail("no $acc"); <$fh> } // '';
    like $log, qr{^alice\@https://static\.example\.test/issc 200$}m, 'the first line\'s user is qualified';
    like $log, qr{^alice\@https://static2\.example\.test/issd 200$}m, 'and the second\'s';
};

# What startup cannot see (AuthType obo in .htaccess, no OBOAudience that
# applies): the 500's OBO001 names what is missing and where (33B-F10).
subtest 'OBO001 names what is missing and where' => sub {
    my $docs = tempdir('htobo-XXXXXX', DIR => $dir, CLEANUP => 1);
    chmod 0755, $docs;
    put("$docs/.htaccess", "AuthType obo\nRequire valid-user\n");
    put("$docs/x.txt", "x\n");
    chmod 0644, "$docs/.htaccess", "$docs/x.txt";
    my $conf = "$IDP\nAlias /ht \"$docs\"\n<Directory \"$docs\">\n AllowOverride AuthConfig\n"
             . " Require all granted\n</Directory>";
    my $ua = LWP::UserAgent->new(timeout => 30);
    my $c = check_config($conf, modules => ['alias'],
                         probe => sub { return $ua->get("http://127.0.0.1:$_[0]/ht/x.txt") });
    ok $c->{started}, 'httpd starts (startup cannot see .htaccess)' or return diag $c->{output};
    is $c->{probe}->code, 500, 'the request: 500';
    like $c->{output}, qr{OBO001: AuthType obo for /ht/x\.txt \(file \Q$docs\E/x\.txt\) needs OBOAudience},
         'OBO001 names the request, its file and OBOAudience' or diag $c->{output};
};

done_testing();
