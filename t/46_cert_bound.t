# SPDX-License-Identifier: Apache-2.0
# Certificate-bound tokens (RFC 8705 s.3, issue 17 part 2): a token whose
# cnf names a client certificate (x5t#S256) passes only over TLS with that
# certificate, as mod_ssl saw it (SSLVerifyClient optional_no_ca: a
# self-signed certificate binds too), over HTTP/1.1 and HTTP/2; a mismatch
# is 401 invalid_token naming the binding. OBOCertificateBound required
# refuses unbound tokens; off ignores bindings.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Config ();
use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64url);
use Digest::SHA qw(sha256);
use LWP::UserAgent;

need_feature('authn');
idp_reset();
my $lib = OBOTest::Config::libexecdir();
plan skip_all => 'mod_ssl is not installed' unless -f "$lib/mod_ssl.so";
my $pki = OBOTest::Keys::pki_dir();
my $t = OBOTest::Services::t_dir();
my $dir = tempdir('certbound-XXXXXX', DIR => OBOTest::Services::run_dir(), CLEANUP => 1);

sub client_cert {
    my ($name) = @_;
    system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
           '-nodes', '-keyout', "$dir/$name.key", '-out', "$dir/$name.pem", '-subj', "/CN=$name",
           '-days', '1') == 0 or die "openssl req: $?";
    my $der = `openssl x509 -in $dir/$name.pem -outform DER`;
    return encode_base64url(sha256($der));
}
my %tp = map { $_ => client_cert($_) } qw(alice mallory);

my $sport = OBOTest::Httpd2::free_port();
my $mpm = OBOTest::features()->{mpm} // 'event';
my $h2 = $mpm ne 'prefork' && -f "$lib/mod_http2.so";
my $extra = <<"EOF";
<IfModule !mod_ssl.c>
    LoadModule ssl_module "$lib/mod_ssl.so"
</IfModule>
@{[ $h2 ? "<IfModule !mod_http2.c>\n    LoadModule http2_module \"$lib/mod_http2.so\"\n</IfModule>" : '' ]}
<Location /public.txt>
    AuthType obo
    Require valid-user
</Location>
Listen 127.0.0.1:$sport https
<VirtualHost 127.0.0.1:$sport>
    SSLEngine on
    SSLCertificateFile "$pki/server.pem"
    SSLCertificateKeyFile "$pki/server.key"
    SSLVerifyClient optional_no_ca
    @{[ $h2 ? 'Protocols h2 http/1.1' : '' ]}
    Alias /strict "$t/htdocs"
    Alias /off "$t/htdocs"
    <Location /public.txt>
        AuthType obo
        Require valid-user
    </Location>
    <Location /strict>
        AuthType obo
        Require valid-user
        OBOCertificateBound required
    </Location>
    <Location /off>
        AuthType obo
        Require valid-user
        OBOCertificateBound off
    </Location>
</VirtualHost>
EOF
my $srv = OBOTest::Httpd2->start(procs => 1, cache => 'shm', name => 'certbound', extra => $extra);

# status and HTTP version of a GET over TLS with client certificate $who
sub tls_get {
    my ($path, $tok, %o) = @_;
    my @cert = $o{cert} ? ('--cert', "$dir/$o{cert}.pem", '--key', "$dir/$o{cert}.key") : ();
    my @ver = $o{h2} ? ('--http2') : ('--http1.1');
    open my $fh, '-|', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{http_version}',
        '--cacert', "$pki/ca.pem", @cert, @ver, '-H', "Authorization: Bearer $tok",
        "https://127.0.0.1:$sport$path" or die "curl: $!";
    my $out = <$fh> // '';
    close $fh;
    return split ' ', $out;
}

my $bound = mint(tenant => 'xmc', claims => { cnf => { 'x5t#S256' => $tp{alice} } });
my $plain = mint(tenant => 'xmc');

for my $v ($h2 ? (0, 1) : (0)) {
    my $name = $v ? 'HTTP/2' : 'HTTP/1.1';
    subtest "$name: the bound token with its certificate, and without" => sub {
        my ($code, $ver) = tls_get('/public.txt', $bound, cert => 'alice', h2 => $v);
        is $code, 200, "$name: alice's token with alice's certificate: 200";
        is $ver, $v ? '2' : '1.1', "... over $name" if $v;
        is((tls_get('/public.txt', $bound, cert => 'mallory', h2 => $v))[0], 401,
           "$name: with another certificate: 401");
        is((tls_get('/public.txt', $bound, h2 => $v))[0], 401,
           "$name: without a certificate: 401");
        is((tls_get('/public.txt', $plain, cert => 'mallory', h2 => $v))[0], 200,
           "$name: an unbound token with any certificate: 200 (auto)");
    };
}

subtest 'the 401 names the binding; the log says why' => sub {
    my $mark = error_log_mark();
    my $ua = LWP::UserAgent->new(timeout => 30);
    my $r = $ua->get($srv->url('/public.txt'), Authorization => "Bearer $bound");
    is $r->code, 401, 'the bound token over plain HTTP: 401';
    my $c = www_authenticate($r);
    is $c && $c->{params}{error}, 'invalid_token', 'invalid_token';
    like $c && $c->{params}{error_description} // '', qr/certificate binding/, 'naming the binding';
    my $log = do { local $/; open my $fh, '<', OBOTest::Services::logs_dir() . '/certbound_error_log'; <$fh> } // '';
    like $log, qr/OBO480: token sha256:[0-9a-f]+ refused: it is bound to a client certificate and the connection presented none/,
         'OBO480 with the reason';
};

subtest 'OBOCertificateBound required and off' => sub {
    is((tls_get('/strict/public.txt', $plain, cert => 'alice'))[0], 401,
       'required: an unbound token is refused');
    is((tls_get('/strict/public.txt', $bound, cert => 'alice'))[0], 200,
       'required: the bound token with its certificate: 200');
    is((tls_get('/off/public.txt', $bound, cert => 'mallory'))[0], 200,
       'off: the binding is not checked');
    my $odd = mint(tenant => 'xmc', claims => { cnf => { 'x5t#S256' => 42 } });
    is((tls_get('/public.txt', $odd, cert => 'alice'))[0], 401, 'a binding that is not a string: 401');
};

# Review 26: a DPoP-bound token (cnf jkt, RFC 9449) passed as a bearer
# token; s.7.2 forbids that downgrade, whatever the certificate setting.
subtest 'a DPoP-bound token presented as Bearer: 401 in every mode' => sub {
    my $dpop = mint(tenant => 'xmc', claims => { cnf => { jkt => '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' } });
    my $r = LWP::UserAgent->new(timeout => 30)->get($srv->url('/public.txt'),
                                                    Authorization => "Bearer $dpop");
    my $c = www_authenticate($r);
    ok $r->code == 401 && $c && ($c->{params}{error} // '') eq 'invalid_token'
       && ($c->{params}{error_description} // '') =~ /DPoP-bound/, 'plain HTTP: 401 invalid_token'
        or diag describe($r);
    is((tls_get('/public.txt', $dpop, cert => 'alice'))[0], 401, 'TLS, auto: 401');
    is((tls_get('/off/public.txt', $dpop, cert => 'alice'))[0], 401, 'OBOCertificateBound off: 401');
};

$srv->stop;
done_testing();
