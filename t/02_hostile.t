# SPDX-License-Identifier: Apache-2.0
# Hostile tokens (RFC 8725): every one must get 401 invalid_token (oversized
# ones may get 400), never a crash, never a key taken from the token itself,
# never an echo of the token.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OBOTest;
use OBOTest::Keys qw(key_info b64u);
use JSON::PP;

need_feature('authn');
idp_reset();

my $V = 'obo_disc';

sub rejected {
    my ($t, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return expect_invalid_token(obo_get($V, $o{path} // '/api/env', token => $t), $name, token => $t, %o);
}

# warm up: keys known, so later counters only show token-driven fetches
expect_ok(obo_get($V, '/api/env', token => mint()), 'valid token: 200', user => 'user-sub-1');

subtest 'alg none and HMAC confusion' => sub {
    rejected(tok_alg_none(), 'alg "none"');
    rejected(tok_alg_none(alg_spelling => 'None'), 'alg "None"');
    rejected(tok_alg_none(alg_spelling => 'NONE'), 'alg "NONE"');
    my ($h, $p) = split /\./, mint();
    rejected("$h.$p.", 'RS256 header, signature stripped');
    for my $alg (qw(HS256 HS384 HS512)) {
        rejected(tok_hmac_with_public_key(alg => $alg), "$alg keyed with the RSA public key PEM");
    }
    # HMAC keyed with the JWK's modulus bytes, another confusion variant
    my $n = key_info('rsa-a')->{pub}->export_key_jwk('public', 1)->{n};
    my $t = sign_compact({ alg => 'HS256', typ => 'JWT', kid => 'rsa-a' }, default_claims(),
                         alg => 'HS256', secret => $n);
    rejected($t, 'HS256 keyed with the JWK n');
};

subtest 'keys from anywhere but the configured JWKS' => sub {
    my $before = idp_counters();
    rejected(tok_foreign_key(), 'foreign key under the published kid rsa-a');
    rejected(tok_foreign_key(kid => 'ec-p256'), 'foreign RSA key under an EC kid');
    rejected(tok_embedded_jwk(), 'embedded jwk header with the signer\'s key');
    rejected(tok_embedded_jwk(no_kid => 1), 'embedded jwk, no kid');
    rejected(tok_jku(), 'jku pointing at the attacker\'s JWKS');
    rejected(tok_x5u(), 'x5u pointing at the attacker\'s certificate');
    rejected(tok_x5c(), 'x5c with the attacker\'s certificate');
    rejected(tok_x5c(no_kid => 1), 'x5c, no kid');
    rejected(mint(kid => '../../../../etc/passwd', sign_key => 'foreign', alg => 'RS256'), 'kid path traversal');
    rejected(mint(kid => 'rsa-a\' OR 1=1', sign_key => 'foreign', alg => 'RS256'), 'kid with quotes');
    rejected(mint(kid => 'rsa-b'), 'key B, not published by this tenant');
    my $after = idp_counters();
    is(($after->{evil} // 0) - ($before->{evil} // 0), 0, 'the IdP\'s /evil/ URLs (jku, x5u) were never fetched');
};

subtest 'algorithm must match the key type' => sub {
    rejected(mint(kid => 'rsa-a', sign_key => 'ec-p256', alg => 'ES256'), 'ES256 under an RSA kid');
    rejected(mint(kid => 'ec-p256', sign_key => 'rsa-a', alg => 'RS256'), 'RS256 under an EC kid');
    rejected(mint(kid => 'ec-p256', sign_key => 'ec-p384', alg => 'ES384'), 'ES384 under the P-256 kid');
    rejected(mint(kid => 'ec-p384', sign_key => 'ec-p384', alg => 'ES256'), 'P-384 key labelled ES256');
    rejected(mint(kid => 'rsa-a', sign_key => 'ed25519', alg => 'EdDSA'), 'EdDSA under an RSA kid');
    rejected(mint(kid => 'ed25519', sign_key => 'rsa-a', alg => 'RS256'), 'RS256 under the Ed25519 kid');
    # PKCS#1 v1.5 signature labelled PS256 and vice versa
    my $hdr = { alg => 'PS256', typ => 'JWT', kid => 'rsa-a' };
    rejected(sign_compact($hdr, default_claims(), alg => 'RS256', key => 'rsa-a'), 'RS256 signature labelled PS256');
    $hdr = { alg => 'RS256', typ => 'JWT', kid => 'rsa-a' };
    rejected(sign_compact($hdr, default_claims(), alg => 'PS256', key => 'rsa-a'), 'PS256 signature labelled RS256');
    $hdr = { alg => 'RS512', typ => 'JWT', kid => 'rsa-a' };
    rejected(sign_compact($hdr, default_claims(), alg => 'RS256', key => 'rsa-a'), 'RS256 signature labelled RS512');
    my ($h, $p, $s) = split /\./, mint(kid => 'rsa-a', alg => 'RS256');
    my $hdr2 = b64u(encode_json({ alg => 'RSA-OAEP', kid => 'rsa-a', typ => 'JWT' }));
    rejected("$hdr2.$p.$s", 'key-management alg in a JWS');
};

subtest 'OBOAlgorithms allow-list per Location' => sub {
    rejected(mint(alg => 'RS256'), 'RS256 at a PS256-only Location', path => '/ps256/env');
    expect_ok(obo_get($V, '/ps256/env', token => mint(alg => 'PS256')), 'PS256 at the PS256-only Location');
    rejected(mint(alg => 'PS384'), 'PS384 at the PS256-only Location', path => '/ps256/env');
    rejected(mint(alg => 'RS256'), 'RS256 at an EC-only Location', path => '/ec-only/env');
    rejected(mint(kid => 'ed25519'), 'EdDSA at an EC-only Location', path => '/ec-only/env');
    expect_ok(obo_get($V, '/ec-only/env', token => mint(kid => 'ec-p384')), 'ES384 at the EC-only Location');
};

subtest 'critical headers, tampering, duplicates' => sub {
    rejected(tok_unknown_crit(), 'unknown crit extension (correctly signed)');
    rejected(mint(header => { crit => [] }), 'empty crit list');
    rejected(mint(header => { crit => ['exp'] }), 'crit naming a registered claim');
    rejected(tok_tampered(), 'payload changed after signing');
    my $t = mint();
    my ($h, $p, $s) = split /\./, $t;
    my $flip = substr($s, 0, 10) . (substr($s, 10, 1) eq 'A' ? 'B' : 'A') . substr($s, 11);
    rejected("$h.$p.$flip", 'one signature character changed');
    rejected("$h.$p." . substr($s, 0, -4), 'signature truncated');
    # duplicate member names: the signature is valid over the raw bytes
    my $claims = default_claims();
    my $json = JSON::PP->new->canonical->encode($claims);
    (my $dup = $json) =~ s/^\{/{"sub":"admin",/;
    rejected(sign_compact({ alg => 'RS256', typ => 'JWT', kid => 'rsa-a' }, $dup, key => 'rsa-a'),
             'duplicate "sub" in the payload');
    my $hjson = '{"alg":"RS256","kid":"rsa-a","alg":"none"}';
    rejected(sign_compact($hjson, $claims, alg => 'RS256', key => 'rsa-a'), 'duplicate "alg" in the header');
    rejected(sign_compact({ alg => 'RS256', typ => 'JWT', kid => 'rsa-a', b64 => JSON::PP::false,
                            crit => ['b64'] }, $claims, key => 'rsa-a'), 'b64=false (RFC 7797) refused');
};

subtest 'garbage and bad encodings' => sub {
    my $g = garbage_tokens();
    rejected($g->{$_}, "garbage: $_") for sort keys %$g;
    my $b = tok_bad_base64();
    rejected($b->{$_}, "bad base64url: $_") for sort keys %$b;
    rejected('{"payload":"eyJ9","signatures":[]}', 'JWS JSON serialization');
};

subtest 'oversized tokens' => sub {
    for my $kib (17, 40, 60) {
        my $t = tok_oversized($kib * 1024);
        my $r = obo_get($V, '/api/env', token => $t);
        expect_invalid_token($r, "$kib KiB token: 401 invalid_token (or 400)", token => $t, allow_400 => 1);
    }
    # pad so that the compact token is between 15.5 and 16 KiB
    my $pad = 11000;
    my $t = mint(claims => { big => 'y' x $pad });
    $pad += int((16 * 1024 - 256 - length $t) * 3 / 4);
    $t = mint(claims => { big => 'y' x $pad });
    ok length($t) < 16 * 1024 && length($t) > 15.5 * 1024, 'a token just under 16 KiB (' . length($t) . ' bytes)';
    expect_ok(obo_get($V, '/api/env', token => $t), 'just under 16 KiB: accepted', user => 'user-sub-1');
    my $deep = { exp => time + 3600 };
    my $x = $deep;
    $x = $x->{n} = {} for 1 .. 40;
    $t = mint(claims => { deep => $deep });
    rejected($t, 'claims nested 40 levels deep');
    expect_ok(obo_get($V, '/api/env', token => mint()), 'server still healthy afterwards', user => 'user-sub-1');
};

subtest 'no crash' => sub {
    expect_ok(obo_get($V, '/api/env', token => mint()), 'server answers', user => 'user-sub-1');
    my $log = error_log_since(0);
    unlike $log, qr/exit signal (Segmentation|Aborted|Bus error)|AH00052|child pid \d+ exit signal/,
        'error_log: no child crashed during the suite so far';
};

done_testing();
