# SPDX-License-Identifier: Apache-2.0
# Secrets at rest: a file: secret or a private key file that other users
# can read gets a startup warning naming the directive and the file
# (OBO100, OBO101), and a key set or CA file others can write OBO102; an
# owner-only file gets none. An OBOCacheSecret under
# 32 bytes stops httpd with a message naming the directive.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use OBOTest;
use OBOTest::Config qw(check_config expect_config_errors);

need_feature('authn', 'exchange');

my $port = $ENV{OBO_TEST_IDP_PORT} || 19443;
my $pki  = OBOTest::Keys::pki_dir();
my $BASE = "OBOMetadataURL https://127.0.0.1:$port/cfg/v2.0/.well-known/openid-configuration\n"
         . "OBOAudience api://test-api\nOBOClientID middle-tier-api";
my $LOC  = "<Location /api>\n    AuthType obo\n    Require valid-user\n    OBOScope api://downstream/.default\n</Location>";
my $dir  = tempdir('secrets-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);

sub secret_file {
    my ($name, $mode, $content) = @_;
    my $f = "$dir/$name";
    open my $fh, '>', $f or die "$f: $!";
    print $fh $content;
    close $fh;
    chmod $mode, $f or die "chmod $f: $!";
    return $f;
}

sub key_file {
    my ($name, $mode) = @_;
    my $f = "$dir/$name";
    copy("$pki/client.key", $f) or die "copy: $!";
    chmod $mode, $f or die "chmod $f: $!";
    return $f;
}

# Starts httpd with $conf; returns its output (httpd -t, -X and error_log).
sub started_output {
    my ($name, $conf) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = check_config($conf);
    ok($c->{started}, "$name: httpd starts") or diag $c->{output};
    return $c->{output};
}

subtest 'OBOClientSecret file: permissions' => sub {
    my $open = secret_file('client-644.txt', 0644, "s3cret-for-tests\n");
    my $out = started_output('mode 0644', "$BASE\nOBOClientSecret file:$open\n$LOC");
    like($out, qr/OBO100: OBOClientSecret file \Q$open\E is readable by every local user \(mode 0644\)/,
         'mode 0644: OBO100 names the directive, the file and the mode');
    my $grp = secret_file('client-640.txt', 0640, "s3cret-for-tests\n");
    $out = started_output('mode 0640', "$BASE\nOBOClientSecret file:$grp\n$LOC");
    like($out, qr/OBO100: OBOClientSecret file \Q$grp\E is readable by its group/,
         'mode 0640: warned too (group)');
    my $own = secret_file('client-600.txt', 0600, "s3cret-for-tests\n");
    $out = started_output('mode 0600', "$BASE\nOBOClientSecret file:$own\n$LOC");
    unlike($out, qr/OBO10[01]/, 'mode 0600: no warning');
    $out = started_output('literal', "$BASE\nOBOClientSecret s3cret-for-tests\n$LOC");
    unlike($out, qr/OBO10[01]/, 'a literal secret: no file, no warning');
};

subtest 'OBOCacheSecret file: permissions' => sub {
    my $open = secret_file('cache-644.txt', 0644, 'c' x 40);
    my $out = started_output('mode 0644', "$BASE\nOBOClientSecret s3cret-for-tests\n"
                             . "OBOCacheSecret file:$open\n$LOC");
    like($out, qr/OBO100: OBOCacheSecret file \Q$open\E is readable by every local user/,
         'mode 0644: OBO100 names OBOCacheSecret and the file');
    my $own = secret_file('cache-600.txt', 0600, 'c' x 40);
    $out = started_output('mode 0600', "$BASE\nOBOClientSecret s3cret-for-tests\n"
                          . "OBOCacheSecret file:$own\n$LOC");
    unlike($out, qr/OBO10[01]/, 'mode 0600: no warning');
};

# Review 28A: trust anchors others can write (OBO102).
subtest 'OBOJWKSFile and OBOCACertificateFile writable by others' => sub {
    my $jwks = "$dir/jwks-666.json";
    copy("$pki/jwks-static.json", $jwks) or die "copy: $!";
    chmod 0666, $jwks;
    my $conf = "OBOJWKSFile $jwks\nOBOIssuer https://static.example.test/issc\n"
             . "OBOAudience api://test-api\n<Location /api>\n    AuthType obo\n"
             . "    Require valid-user\n</Location>";
    my $out = started_output('JWKS file 0666', $conf);
    like($out, qr/OBO102: OBOJWKSFile file \Q$jwks\E is writable by every local user \(mode 0666\)/,
         'OBO102 names the directive, the file and the mode');
    chmod 0644, $jwks;
    $out = started_output('JWKS file 0644', $conf);
    unlike($out, qr/OBO102/, 'mode 0644 in an owner-only directory: no warning');
    my $ca = "$dir/ca-664.pem";
    copy("$pki/ca.pem", $ca) or die "copy: $!";
    chmod 0664, $ca;
    $out = started_output('CA file 0664', "$BASE\nOBOClientSecret s3cret-for-tests\n"
                          . "OBOCACertificateFile $ca\n$LOC");
    like($out, qr/OBO102: OBOCACertificateFile file \Q$ca\E is writable by its group/,
         'OBO102 for a group-writable CA file');
};

subtest 'OBOClientCertificate private key permissions' => sub {
    my $open = key_file('client-644.key', 0644);
    my $out = started_output('key mode 0644', "$BASE\nOBOClientCertificate $pki/client.pem $open\n$LOC");
    like($out, qr/OBO101: OBOClientCertificate private key file \Q$open\E is readable by every local user/,
         'key mode 0644: OBO101 names the directive and the key file');
    my $own = key_file('client-600.key', 0600);
    $out = started_output('key mode 0600', "$BASE\nOBOClientCertificate $pki/client.pem $own\n$LOC");
    unlike($out, qr/OBO10[01]/, 'key mode 0600: no warning');
    unlike($out, qr/\Q$pki\E\/client\.pem is readable/, 'the certificate (public) is not warned about');
};

subtest 'OBOCacheSecret length' => sub {
    my $out = started_output('32 bytes', "$BASE\nOBOClientSecret s3cret-for-tests\n"
                             . "OBOCacheSecret " . ('k' x 32) . "\n$LOC");
    my $short = secret_file('cache-31.txt', 0600, ('k' x 31) . "\n");
    expect_config_errors(
        ['OBOCacheSecret of 31 bytes', "$BASE\nOBOClientSecret s3cret-for-tests\n"
            . "OBOCacheSecret " . ('k' x 31) . "\n$LOC", qr/OBOCacheSecret.*at least 32/],
        ['OBOCacheSecret file: of 31 bytes (newline stripped)',
            "$BASE\nOBOClientSecret s3cret-for-tests\nOBOCacheSecret file:$short\n$LOC",
            qr/OBOCacheSecret.*at least 32/],
        ['OBOCacheSecret of 16 bytes', "$BASE\nOBOClientSecret s3cret-for-tests\n"
            . "OBOCacheSecret 0123456789abcdef\n$LOC", qr/OBOCacheSecret.*at least 32/],
    );
};

done_testing();
