# SPDX-License-Identifier: Apache-2.0
package OBOTest::Mint;
# Token minting for the tests: well-formed access tokens for every supported
# algorithm, and the hostile tokens a validator must refuse.
#
# JWS compact serialisations are assembled by hand (so that every byte of the
# header can be chosen) and signed with CryptX; t/00_infra.t cross-checks
# them against Crypt::JWT and the IdP's published JWKS.
use strict;
use warnings;
use Carp qw(croak);
use JSON::PP;
use Crypt::Mac::HMAC qw(hmac);
use Crypt::PRNG qw(random_string);
use MIME::Base64 qw(encode_base64);
use OBOTest::Keys qw(key_info b64u public_jwk cert_der pki_dir);
use Exporter 'import';

our @EXPORT = qw(mint issuer default_claims sign_compact b64u_json
                 tok_alg_none tok_hmac_with_public_key tok_foreign_key tok_embedded_jwk
                 tok_jku tok_x5u tok_x5c tok_unknown_crit tok_tampered tok_oversized
                 tok_bad_base64 garbage_tokens tok_id_token tok_client_assertion);

my $JSON = JSON::PP->new->canonical->utf8;

sub idp_port { return $ENV{OBO_TEST_IDP_PORT} || 19443 }
sub issuer   { my ($tenant) = @_; return 'https://127.0.0.1:' . idp_port() . '/' . ($tenant // 'tenant1') . '/v2.0' }

sub b64u_json { my ($x) = @_; return b64u(ref $x ? $JSON->encode($x) : $x) }

my %HASH = (256 => 'SHA256', 384 => 'SHA384', 512 => 'SHA512');

# sign_compact($header_hashref_or_json, $payload_hashref_or_json, %opt)
#   key    => kid of the signing key (OBOTest::Keys), default from header kid
#   alg    => algorithm used to sign (default: header alg); 'none' = no sig
#   secret => HMAC secret for HS*
sub sign_compact {
    my ($hdr, $payload, %o) = @_;
    my $alg = $o{alg} // (ref $hdr ? $hdr->{alg} : undef) // croak 'no alg';
    my $input = b64u_json($hdr) . '.' . b64u_json($payload);
    return "$input." if $alg eq 'none';
    my ($fam, $bits) = $alg =~ /^(RS|PS|ES|HS)(256|384|512)$/ ? ($1, $2) : ($alg, undef);
    if ($fam eq 'HS') {
        defined $o{secret} or croak 'HS* needs secret';
        return "$input." . b64u(hmac($HASH{$bits}, $o{secret}, $input));
    }
    my $kid = $o{key} // (ref $hdr ? $hdr->{kid} : undef) // croak 'no signing key';
    my $pk = key_info($kid)->{priv};
    my $sig;
    if    ($fam eq 'RS')    { $sig = $pk->sign_message($input, $HASH{$bits}, 'v1.5') }
    elsif ($fam eq 'PS')    { $sig = $pk->sign_message($input, $HASH{$bits}, 'pss', $bits / 8) }
    elsif ($fam eq 'ES')    { $sig = $pk->sign_message_rfc7518($input, $HASH{$bits}) }
    elsif ($fam eq 'EdDSA') { $sig = $pk->sign_message($input) }
    else { croak "cannot sign with alg '$alg'" }
    return "$input." . b64u($sig);
}

sub default_claims {
    my (%o) = @_;
    my $now = time;
    my $tenant = $o{tenant} // 'tenant1';
    return {
        iss   => issuer($o{tid} // $tenant),
        aud   => 'api://test-api',
        sub   => 'user-sub-1',
        oid   => '00000000-0000-4000-8000-0000000000a1',
        tid   => $o{tid} // $tenant,
        iat   => $now,
        nbf   => $now,
        exp   => $now + 3600,
        scp   => 'access_as_user',
        azp   => 'client-app-1',
        name  => 'Test User',
        preferred_username => 'test.user@example.test',
        ver   => '2.0',
        idtyp => 'user',
        uti   => random_string(16),
    };
}

# mint(%o): a valid access token unless told otherwise
#   kid      => signing key (default 'rsa-a'); alg => default for the key
#   tenant   => tenant in iss/tid (default tenant1)
#   claims   => { overrides }, drop => [claims to remove]
#   header   => { overrides/extra header fields }, drop_header => [...]
#   no_kid   => 1: omit the kid header
#   sign_key => sign with this key but keep header kid (key confusion)
sub mint {
    my (%o) = @_;
    my $kid = $o{kid} // 'rsa-a';
    my $alg = $o{alg} // key_info($o{sign_key} // $kid)->{alg};
    my $claims = default_claims(%o);
    %$claims = (%$claims, %{ $o{claims} || {} });
    delete $claims->{$_} for @{ $o{drop} || [] };
    delete $claims->{$_} for grep { !defined $claims->{$_} } keys %$claims;
    my $hdr = { alg => $alg, typ => 'JWT', kid => $kid, %{ $o{header} || {} } };
    delete $hdr->{kid} if $o{no_kid};
    delete $hdr->{$_} for @{ $o{drop_header} || [] };
    return sign_compact($hdr, $claims, alg => $alg, key => $o{sign_key} // $kid,
                        secret => $o{secret});
}

# ------------------------------------------------------- hostile tokens --
sub tok_alg_none {
    my (%o) = @_;
    my $claims = default_claims(%o);
    return sign_compact({ alg => $o{alg_spelling} // 'none', typ => 'JWT', kid => 'rsa-a' },
                        $claims, alg => 'none');
}

# HS256 keyed with the published RSA public key (PEM text), the classic
# algorithm-confusion attack.
sub tok_hmac_with_public_key {
    my (%o) = @_;
    my $alg = $o{alg} // 'HS256';
    return sign_compact({ alg => $alg, typ => 'JWT', kid => 'rsa-a' }, default_claims(%o),
                        alg => $alg, secret => key_info('rsa-a')->{pub_pem});
}

sub tok_foreign_key {    # a key nobody published, under a published kid
    my (%o) = @_;
    return mint(kid => $o{kid} // 'rsa-a', sign_key => 'foreign', alg => 'RS256', %o);
}

sub tok_embedded_jwk {   # signer's own key carried in the header
    my (%o) = @_;
    my $jwk = public_jwk('foreign', no_kid => 1);
    delete $jwk->{use};
    return mint(kid => $o{kid} // 'attacker-key', sign_key => 'foreign', alg => 'RS256',
                header => { jwk => $jwk }, %o);
}

sub tok_jku {
    my (%o) = @_;
    my $url = 'https://127.0.0.1:' . idp_port() . '/evil/keys';
    return mint(kid => 'rsa-a', sign_key => 'foreign', alg => 'RS256', header => { jku => $url }, %o);
}

sub tok_x5u {
    my (%o) = @_;
    my $url = 'https://127.0.0.1:' . idp_port() . '/evil/foreign.pem';
    return mint(kid => $o{kid} // 'rsa-a', sign_key => 'foreign', alg => 'RS256', header => { x5u => $url }, %o);
}

sub tok_x5c {
    my (%o) = @_;
    my $der = cert_der(pki_dir() . '/foreign.pem');
    return mint(kid => $o{kid} // 'rsa-a', sign_key => 'foreign', alg => 'RS256',
                header => { x5c => [ encode_base64($der, '') ] }, %o);
}

sub tok_unknown_crit {   # correctly signed, but with a critical extension nobody understands
    my (%o) = @_;
    return mint(header => { crit => ['urn:example:must-understand'],
                            'urn:example:must-understand' => JSON::PP::true }, %o);
}

sub tok_tampered {       # valid signature over other claims
    my (%o) = @_;
    my $t = mint(%o);
    my ($h, $p, $s) = split /\./, $t;
    my $claims = default_claims(%o);
    $claims->{sub} = 'admin';
    $claims->{roles} = ['Admin'];
    return join '.', $h, b64u_json($claims), $s;
}

sub tok_oversized {      # validly signed, padded to at least $bytes
    my ($bytes, %o) = @_;
    $bytes //= 20 * 1024;
    my $pad = 'x' x int($bytes * 3 / 4);
    return mint(claims => { pad => $pad }, %o);
}

sub tok_bad_base64 {
    my (%o) = @_;
    my ($h, $p, $s) = split /\./, mint(%o);
    return {
        'header with *'    => "*$h.$p.$s",
        'payload with %'   => "$h.${p}%%.$s",
        'padded signature' => "$h.$p.${s}==",
        'std base64 chars' => do { (my $x = "$h.$p.$s") =~ tr/-_/+\//; $x =~ /[+\/]/ ? $x : "$h.$p.$s+/" },
        'header not JSON'  => b64u('not json at all') . ".$p.$s",
        'payload not JSON' => "$h." . b64u('{"sub": "x", ') . ".$s",
        'payload JSON array' => "$h." . b64u('["sub"]') . ".$s",
    };
}

sub garbage_tokens {
    my $t = mint();
    my ($h, $p, $s) = split /\./, $t;
    return {
        'not a jwt'      => 'abc',
        'two segments'   => "$h.$p",
        'four segments'  => "$h.$p.$s.$s",
        'JWE (5 parts)'  => join('.', b64u_json({ alg => 'RSA-OAEP', enc => 'A256GCM' }), 'a' x 20, 'b' x 16, 'c' x 40, 'd' x 22),
        'empty segments' => '..',
        'dots only'      => '....',
        'binary junk'    => join('', map { chr(33 + ($_ * 7) % 90) } 1 .. 200),
        'empty signature' => "$h.$p.",
    };
}

# An ID token: same issuer and keys, but not an access token.
sub tok_id_token {
    my (%o) = @_;
    my $variant = delete $o{variant} // 'idtyp';
    my %c = $variant eq 'nonce' ? (nonce => 'n-0S6_WzA2Mj', idtyp => undef)
          : $variant eq 'both'  ? (nonce => 'n-0S6_WzA2Mj', idtyp => 'id')
          :                        (idtyp => 'id');
    return mint(claims => { %c, scp => undef, %{ $o{claims} || {} } }, %o);
}

# private_key_jwt client assertion (for IdP self-tests)
sub tok_client_assertion {
    my (%o) = @_;
    require OBOTest::Keys;
    my $now = time;
    my $aud = $o{aud} // 'https://127.0.0.1:' . idp_port() . '/' . ($o{tenant} // 'tenant1') . '/oauth2/v2.0/token';
    my $alg = $o{alg} // 'PS256';
    my $cert = pki_dir() . '/client.pem';
    my %hdr = (alg => $alg, typ => 'JWT');
    if ($alg =~ /^PS/) { $hdr{'x5t#S256'} = OBOTest::Keys::cert_thumbprint($cert, 'S256') }
    else               { $hdr{x5t} = OBOTest::Keys::cert_thumbprint($cert, 'SHA1') }
    %hdr = (%hdr, %{ $o{header} || {} });
    my $claims = { aud => $aud, iss => 'middle-tier-api', sub => 'middle-tier-api',
                   iat => $now, nbf => $now, exp => $now + 300, jti => random_string(24),
                   %{ $o{claims} || {} } };
    delete $claims->{$_} for grep { !defined $claims->{$_} } keys %$claims;
    return sign_compact(\%hdr, $claims, alg => $alg, key => 'client');
}

1;
