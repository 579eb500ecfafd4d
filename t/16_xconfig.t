# SPDX-License-Identifier: Apache-2.0
# Exchange directives: bad values stop httpd at startup with a message
# naming the directive (see t/06_config.t for the method).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(check_config expect_config_errors);

need_feature('authn', 'exchange');

my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $pki  = OBOTest::Keys::pki_dir();
my $BASE = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
         . "OBOAudience api://test-api\nOBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests";
my $LOC  = "<Location /api>\n    AuthType obo\n    Require valid-user\n    OBOScope api://downstream/.default\n</Location>";
my $GOOD = "$BASE\n$LOC";

subtest 'control: a good exchange configuration' => sub {
    my $c = check_config($GOOD);
    ok $c->{syntax_ok}, 'apache2 -t accepts it' or diag $c->{output};
    ok $c->{started}, 'and httpd starts' or diag $c->{output};
    $c = check_config("$GOOD\nOBOCache memcached 127.0.0.1:1\nOBOCacheSecret obo-test-cache-secret-0123456789");
    ok $c->{started}, 'memcached cache with an unreachable server still starts' or diag $c->{output};
};

my @cases = (
    ['OBOExchange maybe',             "$GOOD\nOBOExchange maybe",              qr/OBOExchange/],
    ['OBOCache bogus',                "$GOOD\nOBOCache bogus",                 qr/OBOCache/],
    ['OBOCache memcached without servers', "$GOOD\nOBOCache memcached",       qr/OBOCache/],
    ['OBOCacheSecret too short',      "$GOOD\nOBOCacheSecret short",           qr/OBOCacheSecret/],
    ['OBOCacheMargin abc',            "$GOOD\nOBOCacheMargin abc",             qr/OBOCacheMargin/],
    ['OBOTimeout zero',               "$GOOD\nOBOTimeout 0",                   qr/OBOTimeout/],
    ['OBOTimeout abc',                "$GOOD\nOBOTimeout abc",                 qr/OBOTimeout/],
    ['OBOClientAuth magic',           "$GOOD\nOBOClientAuth magic",            qr/OBOClientAuth/],
    ['OBOClientAssertionAlg HS256',   "$GOOD\nOBOClientAssertionAlg HS256",    qr/OBOClientAssertionAlg/],
    ['OBOPassToken cookie X',         "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBOScope api://d/.default\n OBOPassToken cookie X\n</Location>", qr/OBOPassToken/],
    ['OBOPassToken header with a bad name', "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBOScope api://d/.default\n OBOPassToken header X:Y\n</Location>", qr/OBOPassToken/],
    ['OBOExchangeAudience with a space', "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBOScope api://d/.default\n OBOExchangeAudience \"api://a b\"\n</Location>", qr/OBOExchangeAudience/],
    ['OBOScope without scopes',       "$BASE\n<Location /api>\n AuthType obo\n Require valid-user\n OBOScope\n</Location>", qr/OBOScope/],
    ['OBOClientSecret env: unset',    "$LOC\n" . ($BASE =~ s/OBOClientSecret .*/OBOClientSecret env:OBO_TEST_SURELY_UNSET_VAR/r), qr/OBOClientSecret|OBO_TEST_SURELY_UNSET_VAR/],
    ['OBOClientSecret file: missing', "$LOC\n" . ($BASE =~ s/OBOClientSecret .*/OBOClientSecret file:\/nonexistent\/secret/r), qr/OBOClientSecret|nonexistent/],
    ['OBOClientCertificate missing files', "$GOOD\nOBOClientCertificate /nonexistent/c.pem /nonexistent/c.key", qr/OBOClientCertificate/],
    ['OBOClientCertificate key of another certificate', "$GOOD\nOBOClientCertificate $pki/client.pem $pki/server.key", qr/OBOClientCertificate/],
);

expect_config_errors(@cases);

done_testing();
