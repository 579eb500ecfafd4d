# SPDX-License-Identifier: Apache-2.0
# Configuration errors stop httpd at startup with a message naming the
# directive. Each case is a small generated config checked with
# "apache2 -t -f conf" and, if that passes, a real start (apache2 -X) that
# must exit by itself. A good config is the control: it passes -t and runs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Config qw(check_config expect_config_errors);

need_feature('authn');

my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $META = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration";
my $LOC  = "<Location /api>\n    AuthType obo\n    Require valid-user\n</Location>";
my $GOOD = "$META\nOBOAudience api://test-api\n$LOC";

subtest 'control: a good configuration' => sub {
    my $c = check_config($GOOD);
    ok $c->{syntax_ok}, 'apache2 -t accepts it' or diag $c->{output};
    ok $c->{started}, 'and httpd starts and keeps running' or diag $c->{output};
};

my @cases = (
    ['OBOClockSkew abc',            "$GOOD\nOBOClockSkew abc",            qr/OBOClockSkew/],
    ['OBOClockSkew -5',             "$GOOD\nOBOClockSkew -5",             qr/OBOClockSkew/],
    ['OBOClockSkew in a Location',  "$META\nOBOAudience api://test-api\n<Location /api>\n AuthType obo\n Require valid-user\n OBOClockSkew 1h\n</Location>", qr/OBOClockSkew/],
    ['OBOAlgorithms HS256',         "$GOOD\nOBOAlgorithms HS256",         qr/OBOAlgorithms/],
    ['OBOAlgorithms none',          "$GOOD\nOBOAlgorithms none",          qr/OBOAlgorithms/],
    ['OBOAlgorithms RS256 XX999',   "$GOOD\nOBOAlgorithms RS256 XX999",   qr/OBOAlgorithms/],
    ['OBOPassClaims maybe',         "$GOOD\nOBOPassClaims maybe",         qr/OBOPassClaims/],
    ['OBOJWKSRefreshInterval soon', "$GOOD\nOBOJWKSRefreshInterval soon", qr/OBOJWKSRefreshInterval/],
    ['OBORemoteUserClaim without a value', "$GOOD\nOBORemoteUserClaim", qr/OBORemoteUserClaim/],
    ['OBOMetadataURL not a URL',    "OBOMetadataURL not-a-url\nOBOAudience api://test-api\n$LOC", qr/OBOMetadataURL/],
    ['OBOMetadataURL in a Location', "$GOOD\n<Location /x>\n$META\n</Location>", qr/OBOMetadataURL/],
    ['OBOCACertificateFile missing file', "$GOOD\nOBOCACertificateFile /nonexistent/obo-ca.pem", qr/OBOCACertificateFile/],
    ['AuthType obo without metadata or JWKS', "OBOAudience api://test-api\n$LOC",
        qr/OBOMetadataURL|OBOJWKSURL|OBOJWKSFile/],
    ['AuthType obo without OBOAudience', "$META\n$LOC", qr/OBOAudience/],
);

expect_config_errors(@cases);

done_testing();
