# SPDX-License-Identifier: Apache-2.0
# The administrator's first hour (issue 8): what startup would refuse,
# apachectl configtest ("apache2 -t") refuses too, with a message naming the
# fix; checks are made on the merged configuration. Method:
# t/lib/OBOTest/Config.pm (syntax check, then a real start).
#   - the default shm cache without mod_socache_shmcb: OBO041 at configtest
#   - OBOCACertificateFile / OBOJWKSFile / OBOClientCertificate that exist
#     but cannot be read: OBO120 names directive, file, errno and user
#   - OBOAudience in <Location /api>, AuthType obo in <Location /api/env>:
#     valid; no OBOAudience anywhere: still OBO040
#   - OBOClientSecret written as a path without file:: OBO123 warning
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use OBOTest;
use OBOTest::Config qw(check_config);

need_feature('authn', 'exchange');

my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $pki  = OBOTest::Keys::pki_dir();
my $IDP  = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration";
my $BASE = "$IDP\nOBOAudience api://test-api\nOBOClientID middle-tier-api\nOBOClientSecret s3cret-for-tests";
my $LOC  = "<Location /api>\n    AuthType obo\n    Require valid-user\n    OBOScope api://downstream/.default\n</Location>";
my $me   = getpwuid($<) // "uid $<";
my $dir  = tempdir('admin-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);

sub refused_at_configtest {
    my ($name, $conf, $re, %o) = @_;
    my $c = check_config($conf, %o);
    ok !$c->{syntax_ok}, "$name: apache2 -t (configtest) fails" or diag $c->{output};
    ok !$c->{started}, "$name: httpd does not start";
    like $c->{output}, $re, "$name: the message names the cause and the fix" or diag $c->{output};
}

subtest 'default shm cache without mod_socache_shmcb' => sub {
    refused_at_configtest('no socache_shmcb', "$BASE\n$LOC",
        qr/OBO041: OBOCache shm \(the default\) needs mod_socache_shmcb: a2enmod socache_shmcb, or LoadModule socache_shmcb_module/,
        without => ['socache_shmcb']);
    my $c = check_config("$BASE\nOBOCache none\n$LOC", without => ['socache_shmcb']);
    ok $c->{syntax_ok} && $c->{started}, 'OBOCache none does not need it' or diag $c->{output};
    $c = check_config("$IDP\nOBOAudience api://test-api\n<Location /api>\n AuthType obo\n Require valid-user\n</Location>",
                      without => ['socache_shmcb']);
    ok $c->{syntax_ok} && $c->{started}, 'validation only (no exchange) does not need it' or diag $c->{output};
};

sub unreadable {
    my ($name, $from) = @_;
    my $f = "$dir/$name";
    copy($from, $f) or die "$from: $!";
    chmod 0000, $f;
    return $f;
}

SKIP: {
    skip 'run as root: every file is readable', 4 if $< == 0;
    subtest 'OBOCACertificateFile that the server cannot read' => sub {
        my $ca = unreadable('ca-000.pem', "$pki/ca.pem");
        refused_at_configtest('CA file mode 000', "$BASE\nOBOCACertificateFile $ca\n$LOC",
            qr/OBO120: OBOCACertificateFile \Q$ca\E cannot be read by user \Q$me\E \(.*\): Permission denied \(errno 13\)/);
        my $c = check_config("$BASE\nOBOCACertificateFile $pki/ca.pem\n$LOC");
        ok $c->{started}, 'control: a readable CA file' or diag $c->{output};
    };
    subtest 'OBOJWKSFile that the server cannot read' => sub {
        my $j = "$dir/jwks-000.json";
        open my $fh, '>', $j or die; print $fh '{"keys":[]}'; close $fh;
        chmod 0000, $j;
        refused_at_configtest('JWKS file mode 000',
            "OBOJWKSFile $j\nOBOAudience api://test-api\n<Location /api>\n AuthType obo\n Require valid-user\n</Location>",
            qr/OBO120: OBOJWKSFile \Q$j\E cannot be read by user \Q$me\E .*\(errno 13\)/);
    };
    subtest 'OBOClientCertificate key that the server cannot read' => sub {
        my $key = unreadable('client-000.key', "$pki/client.key");
        refused_at_configtest('key mode 000', "$BASE\nOBOClientCertificate $pki/client.pem $key\n$LOC",
            qr/OBO120: OBOClientCertificate key \Q$key\E cannot be read by user \Q$me\E \(httpd reads it at startup\).*errno 13/);
    };
}

subtest 'OBOAudience from an enclosing <Location> (merged configuration)' => sub {
    my $c = check_config("$IDP\n<Location /api>\n OBOAudience api://test-api\n</Location>\n"
                         . "<Location /api/env>\n AuthType obo\n Require valid-user\n</Location>");
    ok $c->{syntax_ok} && $c->{started}, 'OBOAudience in <Location /api>, AuthType in <Location /api/env>: starts'
        or diag $c->{output};
    unlike $c->{output}, qr/OBO040/, 'no OBO040';
    $c = check_config("$IDP\n<Location />\n OBOAudience api://test-api\n</Location>\n"
                      . "<Directory /srv>\n AuthType obo\n Require valid-user\n</Directory>");
    ok $c->{started}, '<Location /> covers a <Directory> too' or diag $c->{output};
    refused_at_configtest('no OBOAudience anywhere',
        "$IDP\n<Location /api/env>\n AuthType obo\n Require valid-user\n</Location>",
        qr/OBO040: AuthType obo needs OBOAudience/);
    refused_at_configtest('OBOAudience only in a sibling <Location /apix>',
        "$IDP\n<Location /apix>\n OBOAudience api://test-api\n</Location>\n"
        . "<Location /api>\n AuthType obo\n Require valid-user\n</Location>",
        qr/OBO040: AuthType obo needs OBOAudience/);
};

subtest 'OBOClientSecret that is a path written without file:' => sub {
    my $s = "$dir/secret.txt";
    open my $fh, '>', $s or die; print $fh "s3cret\n"; close $fh;
    chmod 0600, $s;
    my $c = check_config("$IDP\nOBOAudience api://test-api\nOBOClientID middle-tier-api\nOBOClientSecret $s\n$LOC");
    ok $c->{started}, 'a warning, not an error' or diag $c->{output};
    like $c->{output}, qr/OBO123: the value of OBOClientSecret is the path of a file, used as the secret itself: write file:\Q$s\E/,
        'OBO123 names the fix';
    $c = check_config("$IDP\nOBOAudience api://test-api\nOBOClientID middle-tier-api\nOBOClientSecret file:$s\n$LOC");
    unlike $c->{output}, qr/OBO123/, 'file: form: no warning';
};

done_testing();
