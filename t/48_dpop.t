# SPDX-License-Identifier: Apache-2.0
# DPoP at the resource server (RFC 9449, issue 17 part 1), with proofs made
# here with real keys: a DPoP-bound token (cnf jkt) and a fresh proof per
# request pass; each proof rule refused alone (htm, htu, stale iat, ath, a
# private jwk, HS256, two DPoP headers, another key); a jti replayed at a
# second server sharing memcached; server nonces made by one server taken
# by the other; OBODPoP allowed and required; the challenges; the DPoP
# header never reaching the backend; an internal redirect keeping the
# proof's binding; the shm replay table across a graceful restart.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Httpd2;
use OBOTest::Config ();
use OBOTest::Mint qw(mint b64u_json);
use OBOTest::Keys qw(b64u);
use Crypt::PK::ECC;
use Crypt::PK::RSA;
use Crypt::Mac::HMAC qw(hmac);
use Crypt::KeyDerivation qw(hkdf);
use Crypt::PRNG qw(random_string);
use Digest::SHA qw(sha256);
use LWP::UserAgent;
use JSON::PP ();

need_feature('authn');
idp_reset();

my $t = OBOTest::Services::t_dir();
my $lib = OBOTest::Config::libexecdir();
my $locations = <<"EOF";
<IfModule !mod_dir.c>
    LoadModule dir_module "$lib/mod_dir.so"
</IfModule>
<IfModule !mod_include.c>
    LoadModule include_module "$lib/mod_include.so"
</IfModule>
<Directory "$t/htdocs/dpop-ssi">
    Options +Includes
    SetOutputFilter INCLUDES
</Directory>
Alias /nonce-via "$t/htdocs"
<Location /nonce-via>
    AuthType obo
    Require valid-user
    OBODPoP allowed
    OBODPoPWindow 3600
    DirectoryIndex /req/public.txt
</Location>
Alias /dpop "$t/htdocs"
Alias /req "$t/htdocs"
Alias /nonce "$t/htdocs"
Alias /lb "$t/htdocs"
<Location /obo-status>
    SetHandler obo-status
</Location>
<Location /dpop>
    AuthType obo
    Require valid-user
    OBODPoP allowed
    DirectoryIndex public.txt
</Location>
<Location /req>
    AuthType obo
    Require valid-user
    OBODPoP required
</Location>
<Location /nonce>
    AuthType obo
    Require valid-user
    OBODPoP required
    OBODPoPNonce on
    OBODPoPURL https://api.example.com
</Location>
<Location /lb>
    AuthType obo
    Require valid-user
    OBODPoP required
    OBODPoPURL https://api.example.com/
</Location>
EOF
my $A = OBOTest::Httpd2->start(procs => 2, cache => 'memcached', name => 'dpopa', extra => $locations);
my $B = OBOTest::Httpd2->start(procs => 2, cache => 'memcached', name => 'dpopb', extra => $locations);

my $ua = LWP::UserAgent->new(timeout => 30);

sub ec_key { my $k = Crypt::PK::ECC->new; $k->generate_key('secp256r1'); return $k }
my $key = ec_key();
my $other = ec_key();
my $jkt = $key->export_key_jwk_thumbprint('SHA256');
my $tok = mint(tenant => 'xmc', claims => { cnf => { jkt => $jkt } });
my $plain = mint(tenant => 'xmc');

# proof(%o): a DPoP proof for method/url by key, each member overridable
sub proof {
    my (%o) = @_;
    my $k = $o{key} // $key;
    my $jwk = $k->export_key_jwk($o{private} ? 'private' : 'public', 1);
    my $hdr = { typ => 'dpop+jwt', alg => 'ES256', jwk => $jwk, %{ $o{header} || {} } };
    my $pl = { jti => $o{jti} // b64u(random_string(16)), htm => $o{htm} // 'GET',
               htu => $o{htu}, iat => $o{iat} // time,
               ath => $o{ath} // b64u(sha256($o{token} // $tok)),
               defined $o{nonce} ? (nonce => $o{nonce}) : () };
    my $input = b64u_json($hdr) . '.' . b64u_json($pl);
    return "$input." . b64u(hmac('SHA256', 'secret', $input)) if $o{hs256};
    return "$input." . b64u($k->sign_message_rfc7518($input, 'SHA256'));
}

sub dpop_get {
    my ($srv, $path, %o) = @_;
    my $url = $srv->url($path);
    my @proofs = exists $o{proofs} ? @{ $o{proofs} } : (proof(htu => $o{htu} // $url, %o));
    return $ua->get($url, Authorization => ($o{scheme} // 'DPoP') . ' ' . ($o{token} // $tok),
                    (map { (DPoP => $_) } @proofs), @{ $o{headers} || [] });
}

sub challenge_of {
    my ($r, $scheme) = @_;
    my ($c) = grep { lc $_->{scheme} eq lc $scheme } www_authenticate($r);
    return $c;
}

# 401 with the DPoP challenge carrying $error, and its description matching $re
sub refused {
    my ($r, $error, $re, $name) = @_;
    my $c = challenge_of($r, 'DPoP');
    ok($r->code == 401 && $c && ($c->{params}{error} // '') eq $error
       && ($c->{params}{error_description} // '') =~ $re, $name)
        or diag $r->code . ' ' . join(' | ', $r->header('WWW-Authenticate'));
}

subtest 'a DPoP-bound token with a fresh proof: 200, every time' => sub {
    is dpop_get($A, '/dpop/public.txt')->code, 200, 'first request: 200';
    is dpop_get($A, '/dpop/public.txt')->code, 200, 'a second proof: 200';
    is dpop_get($A, '/dpop/public.txt', htu => $A->url('/dpop/public.txt?x=1#f'))->code, 200,
       'htu with a query and fragment (ignored, RFC 9449 s.4.3)';
    is dpop_get($A, '/dpop/public.txt?q=2')->code, 200, 'the request\'s query is not in htu';
    is dpop_get($B, '/req/public.txt')->code, 200, 'OBODPoP required: 200';
};

subtest 'each proof rule refused alone' => sub {
    my $u = $A->url('/dpop/public.txt');
    refused(dpop_get($A, '/dpop/public.txt', htm => 'POST'), 'invalid_dpop_proof', qr/htm/,
            'another method (htm)');
    refused(dpop_get($A, '/dpop/public.txt', htu => $A->url('/dpop/other.txt')),
            'invalid_dpop_proof', qr/htu/, 'another URL (htu)');
    refused(dpop_get($A, '/dpop/public.txt', htu => $B->url('/dpop/public.txt')),
            'invalid_dpop_proof', qr/htu/, 'another port (htu)');
    refused(dpop_get($A, '/dpop/public.txt', iat => time - 600), 'invalid_dpop_proof',
            qr/too old/, 'iat ten minutes old (OBODPoPWindow 60)');
    refused(dpop_get($A, '/dpop/public.txt', iat => time + 600), 'invalid_dpop_proof',
            qr/future/, 'iat in the future');
    refused(dpop_get($A, '/dpop/public.txt', ath => b64u(sha256('another token'))),
            'invalid_dpop_proof', qr/ath/, 'ath of another token');
    refused(dpop_get($A, '/dpop/public.txt', private => 1), 'invalid_dpop_proof',
            qr/jwk/, 'a jwk with its private part');
    refused(dpop_get($A, '/dpop/public.txt', hs256 => 1, header => { alg => 'HS256' }),
            'invalid_dpop_proof', qr/algorithm not allowed/, 'HS256');
    refused(dpop_get($A, '/dpop/public.txt', header => { typ => 'JWT' }),
            'invalid_dpop_proof', qr/typ/, 'typ JWT');
    refused(dpop_get($A, '/dpop/public.txt', proofs => [ proof(htu => $u), proof(htu => $u) ]),
            'invalid_dpop_proof', qr/more than one/, 'two DPoP headers');
    refused(dpop_get($A, '/dpop/public.txt', proofs => []), 'invalid_dpop_proof',
            qr/no DPoP proof/, 'no DPoP header');
    refused(dpop_get($A, '/dpop/public.txt', key => $other), 'invalid_dpop_proof',
            qr/bound to/, 'a proof by another key (cnf jkt)');
    refused(dpop_get($A, '/dpop/public.txt', token => $plain), 'invalid_token',
            qr/not DPoP-bound/, 'an unbound token sent as DPoP');
    my $rsa = Crypt::PK::RSA->new; $rsa->generate_key(256, 65537);
    my $rtok = mint(tenant => 'xmc', claims => { cnf => { jkt => $rsa->export_key_jwk_thumbprint('SHA256') } });
    my $jwk = $rsa->export_key_jwk('public', 1);
    my $in = b64u_json({ typ => 'dpop+jwt', alg => 'PS256', jwk => $jwk }) . '.'
           . b64u_json({ jti => 'rsa1', htm => 'GET', htu => $u, iat => time, ath => b64u(sha256($rtok)) });
    my $rp = "$in." . b64u($rsa->sign_message($in, 'SHA256', 'pss', 32));
    is dpop_get($A, '/dpop/public.txt', token => $rtok, proofs => [$rp])->code, 200,
       'a PS256 proof by an RSA key: 200';
};

subtest 'a replayed jti: refused on the same server and on another sharing memcached' => sub {
    # both servers behind one name (OBODPoPURL), as behind a load balancer
    my $p = proof(htu => 'https://api.example.com/lb/public.txt');
    is dpop_get($A, '/lb/public.txt', proofs => [$p])->code, 200, 'first use at server A: 200';
    refused(dpop_get($A, '/lb/public.txt', proofs => [$p]), 'invalid_dpop_proof',
            qr/used before/, 'again at A: refused');
    my $q = proof(htu => 'https://api.example.com/lb/public.txt');
    is dpop_get($B, '/lb/public.txt', proofs => [$q])->code, 200, 'another proof at B: 200';
    refused(dpop_get($A, '/lb/public.txt', proofs => [$q]), 'invalid_dpop_proof',
            qr/used before/, 'B\'s proof replayed at A: refused');
    my @keys = memcached_keys();
    ok !grep({ /dpop/i } @keys), 'no replay entry named in the clear in memcached';
};

subtest 'nonces: asked for by one server, taken by the other' => sub {
    my $htu = 'https://api.example.com/nonce/public.txt';
    my $r = dpop_get($A, '/nonce/public.txt', htu => $htu);
    refused($r, 'use_dpop_nonce', qr/nonce/, 'no nonce: 401 use_dpop_nonce');
    my $n = $r->header('DPoP-Nonce');
    ok defined $n && $n =~ /^[A-Za-z0-9_-]{32}$/, 'with a DPoP-Nonce header';
    my $ok = dpop_get($B, '/nonce/public.txt', htu => $htu, nonce => $n);
    is $ok->code, 200, 'the nonce from A accepted at B';
    ok !defined $ok->header('DPoP-Nonce'), 'no new nonce while it is current';
    (my $forged = $n) =~ s/^(.{10})(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/e;
    refused(dpop_get($B, '/nonce/public.txt', htu => $htu, nonce => $forged), 'use_dpop_nonce',
            qr/not a current one/, 'an altered nonce: 401 use_dpop_nonce');
    refused(dpop_get($A, '/nonce/public.txt', htu => $htu, nonce => 'x' x 32), 'use_dpop_nonce',
            qr/not a current one/, 'a made-up nonce: refused');
    # Review 30C: the next nonce, sent with a success when the proof's is of
    # the previous period, was lost on proxied answers (mod_proxy replaces
    # the headers set before the handler). The previous period's nonce, made
    # as the module makes it under the servers' OBOCacheSecret:
    my $secret = do { open my $fh, '<', "$t/pki/cache-secret.txt" or die; local $/; <$fh> };
    $secret =~ s/\s+\z//;
    my $nkey = hkdf($secret, '', 'SHA256', 32, 'mod_auth_obo DPoP nonce key');
    my $prev = pack('Q>', int(time / 300) - 1);
    my $old = b64u($prev . substr(hmac('SHA256', $nkey, "mod_auth_obo DPoP nonce v1$prev"), 0, 16));
    my $phtu = 'https://api.example.com/nonce/backend/n';
    $r = dpop_get($A, '/nonce/backend/n', htu => $phtu, nonce => $old);
    is $r->code, 200, 'the previous period\'s nonce, on a proxied Location: 200' or diag describe($r);
    my $next = $r->header('DPoP-Nonce');
    ok defined $next && $next ne $old && $next =~ /^[A-Za-z0-9_-]{32}$/,
       'the proxied answer carries the next nonce';
};

subtest 'OBODPoP allowed and required: bearer tokens and challenges' => sub {
    my $r = $ua->get($A->url('/dpop/public.txt'));
    is $r->code, 401, 'allowed, no token: 401';
    my $b = challenge_of($r, 'Bearer');
    my $d = challenge_of($r, 'DPoP');
    ok $b && $d, 'both a Bearer and a DPoP challenge';
    is $d && $d->{params}{algs}, 'RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA',
       'DPoP algs: the asymmetric OBOAlgorithms';
    is $ua->get($A->url('/dpop/public.txt'), Authorization => "Bearer $plain")->code, 200,
       'allowed: an unbound bearer token: 200';
    $r = $ua->get($A->url('/dpop/public.txt'), Authorization => "Bearer $tok");
    ok $r->code == 401 && (challenge_of($r, 'Bearer')->{params}{error} // '') eq 'invalid_token',
       'allowed: the DPoP-bound token as Bearer: 401 invalid_token on Bearer';
    $r = $ua->get($A->url('/req/public.txt'), Authorization => "Bearer $plain");
    refused($r, 'invalid_token', qr/requires DPoP/, 'required: a bearer token: 401 on DPoP');
    ok !challenge_of($r, 'Bearer'), 'required: no Bearer challenge';
    $r = $ua->get($A->url('/req/public.txt'));
    ok $r->code == 401 && challenge_of($r, 'DPoP') && !challenge_of($r, 'Bearer'),
       'required, no token: a DPoP challenge only';
    $r = dpop_get($A, '/dpop/public.txt', htm => 'PUT');
    ok challenge_of($r, 'Bearer') && !defined challenge_of($r, 'Bearer')->{params}{error},
       'allowed, a refused proof: the Bearer challenge carries no error';
    is $ua->get($A->url('/public.txt'), Authorization => "DPoP $tok")->code, 200,
       'where OBODPoP is off, DPoP credentials are not ours: the unprotected file answers';
};

subtest 'the backend never sees the proof; internal redirects keep the binding' => sub {
    my $r = dpop_get($A, '/dpop/backend/x');
    is $r->code, 200, 'proxied DPoP request: 200';
    is scalar(backend_header($r, 'DPoP')), 0, 'no DPoP header at the backend';
    $r = dpop_get($A, '/dpop/', headers => []);
    is $r->code, 200, 'DirectoryIndex (internal redirect to public.txt): 200';
    like $r->decoded_content, qr/\S/, 'with the file';
};

# Review 28C: an SSI page outside AuthType obo including two DPoP resources
# failed the second include as a replay; a redirect into a stricter
# Location kept the first Location's rules.
subtest 'subrequests and redirects: one record, each Location\'s rules' => sub {
    my $r = dpop_get($A, '/dpop-ssi/two.shtml');
    is $r->code, 200, 'the page with two DPoP includes: 200';
    my $body = $r->decoded_content // '';
    is scalar(() = $body =~ /public file/g), 2, 'both includes served (no replay refusal)'
        or diag $body;
    unlike $body, qr/error occurred/, 'no include failed';
    # a proof 30 minutes old passes /nonce-via (window 3600) but not /req (60)
    my $old = proof(htu => $A->url('/nonce-via/public.txt'), iat => time - 1800);
    is dpop_get($A, '/nonce-via/public.txt', proofs => [$old])->code, 200,
       'an old proof where the window allows it: 200';
    my $fresh = proof(htu => $A->url('/nonce-via/'));
    $r = dpop_get($A, '/nonce-via/', proofs => [$fresh]);
    ok $r->code == 200 && ($r->decoded_content // '') =~ /public file/,
       'DirectoryIndex into /req (window 60) with a fresh proof: the file';
    $old = proof(htu => $A->url('/nonce-via/'), iat => time - 1800);
    $r = dpop_get($A, '/nonce-via/', proofs => [$old]);
    ok !($r->code == 200 && ($r->decoded_content // '') =~ /public file/),
       '... with the old proof: /req\'s window applies, no file' or diag $r->code;
};

subtest 'the Host must be a name of this server' => sub {
    my $u = $A->url('/dpop/public.txt');
    (my $evil = $u) =~ s/127\.0\.0\.1/evil.example/;
    my $r = $ua->get($u, Authorization => "DPoP $tok", Host => 'evil.example:' . $A->port,
                     DPoP => proof(htu => $evil));
    refused($r, 'invalid_dpop_proof', qr/Host header/, 'a proof for another site, its Host sent');
    $r = $ua->get($u, Authorization => "DPoP $tok", Host => 'localhost:' . $A->port,
                  DPoP => proof(htu => 'http://localhost:' . $A->port . '/dpop/public.txt'));
    is $r->code, 200, 'the ServerName as Host: 200';
    # review 28C: the port came from the Host header, so a proof made for
    # another server on this host (another port) was accepted
    my $other = 'http://127.0.0.1:' . $B->port . '/dpop/public.txt';
    $r = $ua->get($u, Authorization => "DPoP $tok", Host => '127.0.0.1:' . $B->port,
                  DPoP => proof(htu => $other));
    refused($r, 'invalid_dpop_proof', qr/htu/, 'a proof for another port, that port in Host');
    $r = $ua->get($u, Authorization => "DPoP $tok", Host => '127.0.0.1',
                  DPoP => proof(htu => 'http://127.0.0.1/dpop/public.txt'));
    refused($r, 'invalid_dpop_proof', qr/htu/, 'a proof for port 80, no port in Host');
};

subtest 'metrics count the outcomes' => sub {
    my $r = $ua->get($A->url('/obo-status?format=json'));
    is $r->code, 200, 'the status page answers';
    my $j = json_body($r) // {};
    ok $j->{dpop}{ok} >= 3 && $j->{dpop}{invalid_proof} >= 5 && $j->{dpop}{replayed} >= 1
       && $j->{dpop}{use_dpop_nonce} >= 1 && $j->{dpop}{bearer_refused} >= 1,
       'ok, invalid_proof, replayed, use_dpop_nonce, bearer_refused counted'
        or diag explain $j->{dpop};
};

$A->stop;
$B->stop;

subtest 'shm: one replay table for every process, kept across a graceful restart' => sub {
    my $S = OBOTest::Httpd2->start(procs => 2, cache => 'shm', name => 'dpops', extra => $locations);
    my @p = map { proof(htu => $S->url('/req/public.txt')) } 1 .. 6;
    is dpop_get($S, '/req/public.txt', proofs => [$_])->code, 200, 'a fresh proof: 200' for @p[0 .. 1];
    my @again = map { dpop_get($S, '/req/public.txt', proofs => [$p[0]])->code } 1 .. 4;
    is_deeply \@again, [ (401) x 4 ], 'the same proof on new connections (any process): 401';
    $S->graceful;
    is dpop_get($S, '/req/public.txt', proofs => [$p[1]])->code, 401,
       'after a graceful restart: still refused';
    is dpop_get($S, '/req/public.txt', proofs => [$p[2]])->code, 200, 'an unused proof: 200';
    # review 28C: a new OBODPoPReplayCache at a graceful restart began empty
    open my $fh, '>>', $S->{conf} or die "$S->{conf}: $!";
    print $fh "OBODPoPReplayCache 4096\n";
    close $fh;
    $S->graceful;
    is dpop_get($S, '/req/public.txt', proofs => [$p[2]])->code, 401,
       'after a graceful restart with a new OBODPoPReplayCache: still refused';
    is dpop_get($S, '/req/public.txt', proofs => [$p[3]])->code, 200, 'an unused proof: 200';
    $S->stop;
};

# Review 28C: one client's own proofs filled the shared table, and every
# other client got 503. Its records now give way to others'.
subtest 'a flood of one key\'s proofs leaves room for the others' => sub {
    my $F = OBOTest::Httpd2->start(procs => 2, cache => 'shm', name => 'dpopf',
                                   extra => "OBODPoPReplayCache 1024\n$locations");
    my $akey = ec_key();
    my $atok = mint(tenant => 'xmc', claims => { cnf => { jkt => $akey->export_key_jwk_thumbprint('SHA256') } });
    my $u = $F->url('/req/public.txt');
    my %flood;
    for (1 .. 1300) {
        $flood{ dpop_get($F, '/req/public.txt', key => $akey, token => $atok)->code }++;
    }
    ok $flood{503}, 'the flooder fills the table and gets 503 itself' or diag explain \%flood;
    my @victim = map { dpop_get($F, '/req/public.txt')->code } 1 .. 20;
    is_deeply \@victim, [ (200) x 20 ], 'another client: 200 every time' or diag "@victim";
    my $p = proof(htu => $u);
    is dpop_get($F, '/req/public.txt', proofs => [$p])->code, 200, 'a victim proof: 200';
    is dpop_get($F, '/req/public.txt', proofs => [$p])->code, 401, '... and its replay: 401';
    $F->stop;
};

subtest 'OBOCache none: replay refused within the process' => sub {
    my $N = OBOTest::Httpd2->start(procs => 1, cache => 'none', name => 'dpopn', extra => $locations);
    my $p = proof(htu => $N->url('/req/public.txt'));
    is dpop_get($N, '/req/public.txt', proofs => [$p])->code, 200, 'first: 200';
    is dpop_get($N, '/req/public.txt', proofs => [$p])->code, 401, 'again: 401';
    $N->stop;
};

# Review 30C: a jti was remembered for the window of the Location that
# took it; a Location (or an <If>) with a longer window took the same proof
# again once that record ended, and so did the same Location after a
# graceful restart that raised its window.
subtest 'a proof is remembered for the longest window of the server' => sub {
    my $conf = "OBOClockSkew 0\nAlias /w \"$t/htdocs\"\n<Location /w>\n AuthType obo\n"
        . " Require valid-user\n OBODPoP required\n OBODPoPWindow 2\n"
        . " <If \"%{QUERY_STRING} == 'long'\">\n  OBODPoPWindow 3600\n </If>\n</Location>\n";
    my $W = OBOTest::Httpd2->start(procs => 2, cache => 'shm', name => 'dpopw', extra => $conf);
    my $u = $W->url('/w/public.txt');
    my $p = proof(htu => $u);
    is dpop_get($W, '/w/public.txt', proofs => [$p])->code, 200, 'taken under OBODPoPWindow 2';
    sleep 4;
    refused(dpop_get($W, '/w/public.txt', proofs => [$p]), 'invalid_dpop_proof', qr/too old/,
            '4 s later, window 2: too old');
    refused(dpop_get($W, '/w/public.txt?long', proofs => [$p]), 'invalid_dpop_proof',
            qr/used before/, '4 s later where <If> makes it 3600: still a replay');

    # a graceful restart that raises the window of /w to 3600 for all
    my $q = proof(htu => $u);
    is dpop_get($W, '/w/public.txt', proofs => [$q])->code, 200, 'another proof under window 2';
    open my $fh, '<', $W->{conf} or die; my $c = do { local $/; <$fh> }; close $fh;
    $c =~ s/ OBODPoPWindow 2\n/ OBODPoPWindow 3599\n/ or die 'no window in the config';
    $c =~ s/OBODPoPWindow 3600/OBODPoPWindow 3599/;
    open $fh, '>', $W->{conf} or die; print $fh $c; close $fh;
    ok defined $W->graceful, 'graceful restart with OBODPoPWindow 3599';
    sleep 4;
    refused(dpop_get($W, '/w/public.txt', proofs => [$q]), 'invalid_dpop_proof',
            qr/used before|older than its replay record/,
            'the proof taken before the raise: refused (obo_replay_too_old covers the time '
            . 'after its record, test_replay)');
    my $n = proof(htu => $u, iat => time - 30);
    is dpop_get($W, '/w/public.txt', proofs => [$n])->code, 200,
       'a proof made after the raise, 30 s old: 200 (the new window)';
    $W->stop;
};

subtest 'an introspected token is bound by its answer\'s cnf' => sub {
    my $T = 'xintro';
    my $extra = "OBOClientAuth client_secret_basic\nAlias /op \"$t/htdocs\"\n"
        . "<Location /op>\n AuthType obo\n Require valid-user\n OBOTokenFormat opaque\n"
        . " OBODPoP allowed\n</Location>\n";
    my $O = OBOTest::Httpd2->start(procs => 1, cache => 'shm', tenant => $T, name => 'dpopo',
                                   extra => $extra);
    my %c = (active => JSON::PP::true, sub => fresh_user('dpop'), iss => idp_url("/$T/v2.0"),
             aud => 'api://test-api', exp => time + 600, token_type => 'Bearer');
    my $bound = idp_opaque(%c, cnf => { jkt => $jkt });
    my $free = idp_opaque(%c);
    my $u = $O->url('/op/public.txt');
    is dpop_get($O, '/op/public.txt', token => $bound,
                proofs => [ proof(htu => $u, token => $bound) ])->code, 200,
       'opaque token bound by cnf jkt, with a proof by its key: 200';
    refused(dpop_get($O, '/op/public.txt', token => $bound,
                     proofs => [ proof(htu => $u, token => $bound, key => $other) ]),
            'invalid_dpop_proof', qr/bound to/, 'a proof by another key: refused');
    is $ua->get($u, Authorization => "Bearer $bound")->code, 401, 'the bound one as Bearer: 401';
    is $ua->get($u, Authorization => "Bearer $free")->code, 200, 'an unbound one as Bearer: 200';
    $O->stop;
};

done_testing();
