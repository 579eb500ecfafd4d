#!/usr/bin/env perl
# SPDX-License-Identifier: Apache-2.0
# Regenerates the conformance corpus (tests/conformance/*.json) from the
# public sources it was taken from:
#   - google/jwt_verify_lib test/*.cc (the verify_* and jwt tests): tokens,
#     keys and the expected Status are pulled out of the C++ sources;
#   - the JOSE cookbook (ietf-jose/cookbook, RFC 7520 s.4.1-4.5) and its
#     curve25519/jws.json, which is RFC 8037 Appendix A.4.
# Usage: tests/conformance/extract.pl JWT_VERIFY_LIB_GIT_DIR COOKBOOK_GIT_DIR
#   (bare or normal git directories; the commits below are read with
#   `git show`, so the output does not depend on what is checked out).
# The verdict this module is expected to give is the library's unless
# %MODULE (below) names a deliberate difference; docs/conformance.md
# explains each reason id. Needs Perl with JSON::PP and CryptX (Debian:
# libcryptx-perl), which converts PEM and X.509 keys to JWKs.
use strict;
use warnings;
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use Crypt::PK::RSA;
use Crypt::PK::ECC;
use Crypt::PK::Ed25519;
use File::Basename qw(dirname);

my $JVL_COMMIT = 'b59e8075d4a4f975ba6f109e1916d6e60aeb5613';
my $CB_COMMIT = '13692b68bfc18b99557a5b1ed311fd5077bfff04';
my @JVL_FILES = qw(verify_jwk_rsa_test verify_jwk_rsa_pss_test verify_jwk_ec_test
    verify_jwk_okp_test verify_jwk_hmac_test verify_pem_rsa_test verify_pem_ec_test
    verify_pem_okp_test verify_x509_test verify_audiences_test jwt_test jwt_time_test
    jwks_test);
my $SKEW = 60;    # jwt_verify_lib's kClockSkewInSecond

# Vectors where this module deliberately differs from the source's verdict:
# id => [module verdict, reason id]. Derived vectors ("#sig-bit", "#sig-cut")
# inherit nothing from here: each is listed on its own.
my $JVL = 'jvl';
my %MODULE = (
    # HS* are never accepted (RFC 8725 s.2.1, s.3.1): oct keys are skipped,
    # an HS token is refused by the parser.
    (map { ("$JVL/verify_jwk_hmac_test/VerifyJwkHmacTest.$_" => ['refuse', 'hs-refused']) }
        qw(NoKidOK NoKidLongExpOK CorrectKidHS256OK CorrectKidHS384OK CorrectKidHS512OK
           OkSymmetricKeyNotAlg OkSymmetricKeyNotKid)),
    "$JVL/jwt_test/JwtParseTest.TestParsePayloadIatDecimalsDrop" => ['refuse', 'hs-refused'],
    'rfc7520/4.4' => ['refuse', 'hs-refused'],
    'rfc7520/4.5' => ['refuse', 'hs-refused'],
    # The token names a kid; the key has none: no match.
    "$JVL/verify_jwk_ec_test/VerifyJwkECTest.PubkeyNoKidOK" => ['refuse', 'kid-no-match'],
    "$JVL/verify_jwk_okp_test/VerifyJwkOKPTest.PubkeyNoKidOK" => ['refuse', 'kid-no-match'],
    # P-521 "y" of the ES512 key is 65 bytes, not 66 (RFC 7518 s.6.2.1.3).
    "$JVL/verify_jwk_ec_test/VerifyJwkECTest.KidES512OK" => ['refuse', 'p521-short-coordinate'],
    "$JVL/jwks_test/JwksParseTest.JwksECMatchAlgES512CrvP521" =>
        ['refuse', 'p521-short-coordinate'],
    # EC keys without crv (RFC 7518 s.6.2.1.1: REQUIRED); the library infers it.
    (map { ("$JVL/jwks_test/JwksParseTest.$_" => ['refuse', 'ec-crv-required']) }
        qw(JwksECMissingBothAlgCrvES256 JwkECMissingCrv JwksECUnspecifiedCrv)),
    # Google's {kid: PEM certificate} documents are no JWK Set (RFC 7517 s.5).
    (map { ("$JVL/jwks_test/JwksParseTest.$_" => ['refuse', 'x509-map-not-jwks']) }
        qw(JwksGoodX509 RealJwksX509)),
    # Padded base64url (the signature ends in "==").
    "$JVL/verify_x509_test/VerifyX509Test.NoKidToken" => ['refuse', 'padded-b64url'],
    # The signature's last character carries non-zero unused bits.
    "$JVL/jwt_time_test/token" => ['refuse', 'b64url-noncanonical'],
    # The test sets the converted key's crv to "P-512", a curve that does not exist.
    "$JVL/verify_pem_ec_test/VerifyPKCSTestES512.OKPem" => ['refuse', 'ec-crv-unknown'],
    # An access token without exp is refused (RFC 9068 s.2.2).
    "$JVL/verify_audiences_test/VerifyAudTest.Success#1" => ['refuse', 'exp-required'],
    "$JVL/verify_audiences_test/VerifyAudTest.Success#2" => ['refuse', 'exp-required'],
    # A NumericDate before 1970 is a date like any other to the module (any
    # int64); an iat or nbf in the past never extends a token's life.
    "$JVL/jwt_test/JwtParseTest.TestParsePayloadIatNotPositive#payload" =>
        ['accept', 'numericdate-before-1970'],
    "$JVL/jwt_test/JwtParseTest.TestParsePayloadNbfNotPositive#payload" =>
        ['accept', 'numericdate-before-1970'],
    # jti is not used by the module, so its type is not checked (RFC 7519 s.4).
    "$JVL/jwt_test/JwtParseTest.TestParsePayloadJtiNotString" => ['accept', 'unused-claim'],
    # The cookbook's keys are published with their private members; the
    # payloads are text, not a JSON object. The signature is still checked.
    (map { ($_ => ['refuse', 'private-members'], "$_#public" => ['refuse', 'payload-not-object'])
         } qw(rfc7520/4.1 rfc7520/4.2 rfc7520/4.3 rfc8037/A.4)),
);
sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

sub git_show {
    my ($dir, $commit, $path) = @_;
    open my $fh, '-|', 'git', '--git-dir', $dir, 'show', "$commit:$path"
        or die "git show $path: $!";
    local $/;
    my $s = <$fh>;
    close $fh or die "git show $commit:$path failed\n";
    return $s;
}

sub b64u_dec {
    my ($s) = @_;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

sub b64u_enc {
    my $s = encode_base64($_[0], '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

# ---- C++ string literals ------------------------------------------------------

my %CESC = (n => "\n", t => "\t", r => "\r", '\\' => '\\', '"' => '"', "'" => "'");

# Reads a sequence of adjacent string literals ("..." and R"d(...)d", with
# comments and whitespace between them) at pos($$src); returns the joined
# value, or undef if there is none.
sub read_literals {
    my ($src) = @_;
    my ($val, $any) = ('', 0);
    while (1) {
        if ($$src =~ /\G(?:\s+|\/\/[^\n]*\n|\/\*.*?\*\/)/gcs) {
            next;
        }
        if ($$src =~ /\GR"([^(]*)\((.*?)\)\1"/gcs) {
            $val .= $2;
            $any = 1;
            next;
        }
        if ($$src =~ /\G"((?:[^"\\]|\\.)*)"/gcs) {
            (my $s = $1) =~ s/\\(.)/exists $CESC{$1} ? $CESC{$1} : die "escape \\$1"/ge;
            $val .= $s;
            $any = 1;
            next;
        }
        last;
    }
    return $any ? $val : undef;
}

# NAME => value of every `std::string NAME = <literals>;` and
# `const char NAME[] = <literals>;` in text (aliases `= OTHER;` resolved
# against %$outer), and the `std::string NAME(N, 'c')` fill form.
sub definitions {
    my ($text, $outer) = @_;
    my %d;
    while ($text =~ /(?:std::string|const\s+char)\s+(\w+)(\[\])?\s*=\s*/g) {
        my $name = $1;
        my $pos = pos($text);
        my $v = read_literals(\$text);
        if (defined $v) {
            $d{$name} = $v;
        }
        else {
            pos($text) = $pos;
            if ($text =~ /\G(\w+)\s*;/gc) {
                my $v2 = $d{$1} // $outer->{$1};
                $d{$name} = $v2 if defined $v2;
            }
        }
        pos($text) = $pos;
    }
    while ($text =~ /std::string\s+(\w+)\((\d+),\s*'(.)'\)/g) {
        $d{$1} = $3 x $2;
    }
    return \%d;
}

# The body of each TEST/TEST_F and each fixture's SetUp.
sub tests {
    my ($text) = @_;
    my @t;
    while ($text =~ /^TEST(?:_F)?\((\w+),\s*(\w+)\)\s*\{\n(.*?)^\}/msg) {
        push @t, { fixture => $1, name => $2, body => $3 };
    }
    return @t;
}

sub fixtures {
    my ($text) = @_;
    my %f;
    while ($text =~ /^class\s+(\w+)\s*:\s*public\s+testing::Test\s*\{(.*?)^\};/msg) {
        my ($name, $body) = ($1, $2);
        while ($body =~ /(\w+)\s*=\s*Jwks::createFrom\((\w+),\s*Jwks::Type::(\w+)\)/g) {
            $f{$name}{$1} = [$2, $3];
        }
    }
    return \%f;
}

# Removes the fuzzJwtSignature* lambdas from body; returns the body and the
# statuses they expect: { bits => S, length => S }.
sub strip_fuzz {
    my ($body) = @_;
    my %fz;
    while ($body =~ s/fuzzJwtSignature(Bits|Length)?\(jwt,\s*\[[^\]]*\]\(const\s+Jwt&\s+jwt\)
                      \s*\{(.*?)\}\);//xs) {
        my ($kind, $inner) = ($1 // 'both', $2);
        my ($st) = $inner =~ /Status::(\w+)/ or die "fuzz lambda without a status";
        $fz{bits} = $st if $kind ne 'Length';
        $fz{length} = $st if $kind ne 'Bits';
    }
    return ($body, \%fz);
}

# ---- keys ---------------------------------------------------------------------------

sub jwk_from_pem {
    my ($pem) = @_;
    for my $class (qw(Crypt::PK::RSA Crypt::PK::ECC Crypt::PK::Ed25519)) {
        my $k = eval { $class->new(\$pem) } or next;
        my $jwk = $k->export_key_jwk('public', 1);
        delete $jwk->{use};
        return $jwk;
    }
    die "unreadable PEM key\n";
}

# The key set a test gives, as a JWKS object, and how it was made.
sub jwks_of {
    my ($text, $type, $edits) = @_;
    my ($jwks, $note);
    if ($type eq 'PEM') {
        $jwks = { keys => [jwk_from_pem($text)] };
        $note = 'PEM public key (Jwks::Type::PEM) converted to a JWK';
    }
    else {
        my $doc = JSON::PP->new->relaxed->decode($text);
        if ($doc->{keys}) {
            $jwks = $doc;
        }
        else {
            $jwks = { keys => [map { { %{ jwk_from_pem($doc->{$_}) }, kid => $_ } }
                               sort keys %$doc] };
            $note = 'X.509 certificates by kid (Google service-account form) converted to '
                  . 'JWKs with that kid';
        }
    }
    for my $e (@$edits) {
        $jwks->{keys}[$e->[0]]{ $e->[1] } = $e->[2];
        $note = join '; ', grep { defined } $note,
            "the test sets the key's $e->[1] to \"$e->[2]\" (jwks->keys()[$e->[0]]->$e->[1]_)";
    }
    return ($jwks, $note);
}

# ---- the module's "now" for a vector --------------------------------------------------

# A signature vector must not be about time: inside the token's window.
sub now_for {
    my ($claims) = @_;
    return 1700000000 unless ref $claims eq 'HASH';
    my @lo = grep { defined && !ref && /^-?[\d.e+]+$/ && $_ >= 0 && $_ < 1e12 }
        @$claims{qw(iat nbf)};
    my $exp = $claims->{exp};
    my $now = @lo ? (sort { $b <=> $a } map { int($_ + 0.999999) } @lo)[0] : undef;
    if (!defined $now) {
        $now = defined $exp && !ref $exp && $exp =~ /^[\d.]+$/ && $exp < 1e12
            ? int($exp) - 1 : 1700000000;
    }
    return $now;
}

sub header_of {
    my ($token) = @_;
    my ($h) = split /\./, $token;
    return (eval { decode_json(b64u_dec($h // '')) }) // {};
}

sub claims_of {
    my ($token) = @_;
    my @p = split /\./, $token, -1;
    return undef unless @p == 3;
    my $j = eval { JSON::PP->new->allow_nonref->decode(b64u_dec($p[1])) };
    return $j;
}

# ---- vectors ---------------------------------------------------------------------------------

sub verdict { return $_[0] eq 'Ok' ? 'accept' : 'refuse' }

sub module_of {
    my ($v) = @_;
    my $d = $MODULE{ $v->{id} };
    my %m = (verdict => $d ? $d->[0] : $v->{library}{verdict});
    $m{reason} = $d->[1] if $d && $d->[0] ne $v->{library}{verdict};
    $m{reason} = $d->[1] if $d && !$m{reason} && $d->[1];
    $m{claims} = claims_of($v->{token}) if $m{verdict} eq 'accept' && defined $v->{token};
    # refused only for the payload: the signature is checked on its own
    $m{signature_valid} = JSON::PP::true if ($m{reason} // '') eq 'payload-not-object';
    return \%m;
}

sub finish {
    my ($v) = @_;
    $v->{module} = module_of($v);
    return $v;
}

# Two vectors per fuzz lambda of the source: signature byte 0 with its
# lowest bit flipped, and the signature one byte short.
sub derived {
    my ($v, $fz) = @_;
    my @out;
    my ($h, $pl, $sig) = split /\./, $v->{token}, -1;
    my $raw = b64u_dec($sig);
    my %mut = (
        'sig-bit' => [bits => (chr(ord(substr $raw, 0, 1) ^ 1) . substr($raw, 1)),
                      'fuzzJwtSignatureBits: signature byte 0, bit 0 flipped'],
        'sig-cut' => [length => substr($raw, 0, length($raw) - 1),
                      'fuzzJwtSignatureLength: signature one byte short'],
    );
    for my $k (sort keys %mut) {
        my ($which, $bytes, $what) = @{ $mut{$k} };
        next unless $fz->{$which};
        my %d = %$v;
        $d{id} = "$v->{id}#$k";
        $d{derived} = $what;
        $d{token} = "$h.$pl." . b64u_enc($bytes);
        $d{library} = { status => $fz->{$which}, verdict => verdict($fz->{$which}) };
        delete $d{module};
        push @out, finish(\%d);
    }
    return @out;
}

sub jvl_vectors {
    my ($git) = @_;
    my $common = definitions(git_show($git, $JVL_COMMIT, 'test/test_common.h'), {});
    my @vec;
    for my $file (@JVL_FILES) {
        my $path = "test/$file.cc";
        my $text = git_show($git, $JVL_COMMIT, $path);
        my $glob = { %$common, %{ definitions($text, $common) } };
        my $fixtures = fixtures($text);
        for my $t (tests($text)) {
            my ($body, $fz) = strip_fuzz($t->{body});
            my $defs = { %$glob, %{ definitions($body, $glob) } };
            # literals given to createFrom directly get a name
            my $lit = 0;
            while ($body =~ /createFrom\(\s*(?=R?")/g) {
                my $at = pos($body);
                my $v = read_literals(\$body);
                my $name = '__literal' . ++$lit;
                $defs->{$name} = $v;
                substr($body, $at, pos($body) - $at) = $name;
                pos($body) = $at;
            }
            # string edits: X.erase(X.find(LIT)...) removes LIT from X
            while ($body =~ /(\w+)\.erase\((\w+)_pos,\s*(\w+)\.length\(\)\)/g) {
                my ($var, $lit) = ($1, $3);
                my $s = $defs->{$lit} // die "$file/$t->{name}: $lit?";
                $defs->{$var} =~ s/\Q$s\E//g;
            }
            my %jw = %{ $fixtures->{ $t->{fixture} } // {} };
            while ($body =~ /(?:auto\s+)?(\w+)\s*=\s*Jwks::createFrom\((\w+),
                             \s*Jwks::(?:Type::)?(\w+)\)/xg) {
                $jw{$1} = [$2, $3];
            }
            $jw{$1} = ['', 'EMPTY'] while $body =~ /^\s*Jwks\s+(\w+);/mg;
            my @edits;
            while ($body =~ /(\w+)->keys\(\)\[(\d+)\]->(alg|crv)_\s*=\s*"([^"]*)"/g) {
                push @edits, [$2, $3, $4];
            }
            my $src = { repository => 'google/jwt_verify_lib', path => $path,
                        commit => $JVL_COMMIT, test => "$t->{fixture}.$t->{name}" };
            my $base = "$JVL/$file/$t->{fixture}.$t->{name}";
            if ($file eq 'jwks_test') {
                # a key set document alone, as a JWKS URL would serve it
                my ($jn, $st) = $body =~ /(\w+)->getStatus\(\),\s*Status::(\w+)\)/ or next;
                my $def = $jw{$jn} or next;
                next if $def->[1] ne 'JWKS';    # PEM: the library's own input form
                push @vec, finish({ id => $base, source => $src, kind => 'jwks',
                    jwks_document => $defs->{ $def->[0] } // die("$def->[0]?"),
                    library => { status => $st, verdict => verdict($st) } });
                next;
            }
            my ($arg, $pstatus) = $body =~
                /parseFromString\(((?:\w+|"[^"]*"))\),\s*Status::(\w+)\)/s
                or next;
            my $token = $arg =~ /^"(.*)"$/ ? $1 : $defs->{$arg};
            die "$file/$t->{name}: token $arg?" unless defined $token;
            my @calls;
            while ($body =~ /verifyJwt\(jwt,\s*\*?(\w+)(?:,\s*([^)]*?(?:\{\})?))?\),
                             \s*Status::(\w+)\)/xg) {
                push @calls, [$1, $2, $3];
            }
            my @tc;
            while ($body =~ /verifyTimeConstraint\(([^,)]+)(?:,\s*(\w+))?\),\s*Status::(\w+)\)/g) {
                push @tc, [$1, $2, $3];
            }
            if ($pstatus ne 'Ok' || (!@calls && !@tc)) {
                next if $body =~ /jwt\.\w+_\s*=/;    # fields changed in memory
                my $claims = claims_of($token);
                my %v = (id => $base, source => $src, kind => 'parse', token => $token,
                    now => now_for($claims), skew => $SKEW,
                    library => { status => $pstatus, verdict => verdict($pstatus) });
                push @vec, finish({ %v });
                # an HS token's claims, which the module never reaches: alone
                if ((header_of($token)->{alg} // '') =~ /^HS/ && ref $claims eq 'HASH') {
                    push @vec, finish({ %v, id => "$base#payload", kind => 'payload',
                        derived => 'the claims alone: the module refuses the token for its '
                                 . 'HS256 alg before reading them' });
                }
                next;
            }
            if (@tc) {
                next if $body =~ /jwt\.\w+_\s*=/;    # exp_/nbf_ reset in memory
                # the token itself, once: its parse (no claim or time check)
                push @vec, finish({ id => "$JVL/$file/token", source => { %$src,
                    test => 'parseFromString(JwtText) in every test' }, kind => 'parse',
                    token => $token, now => now_for(claims_of($token)), skew => $SKEW,
                    library => { status => $pstatus, verdict => verdict($pstatus) } })
                    unless grep { $_->{id} eq "$JVL/$file/token" } @vec;
                my %c = (%$defs, kClockSkewInSecond => $SKEW);
                my $n = 0;
                for my $c (@tc) {
                    my ($expr, $skewname, $st) = @$c;
                    my $skew = $skewname ? $body =~ /$skewname\s*=\s*(\d+)/ && $1 : $SKEW;
                    (my $e = $expr) =~ s/\b([A-Za-z]\w*)\b/
                        $1 eq 'kClockSkewInSecond' ? $SKEW :
                        $1 eq 'kCustomClockSkew' ? $skew
                        : ($text =~ m{$1 = (\d+)U} ? $1 : die "$1?")/ge;
                    my $now = eval $e;
                    push @vec, finish({ id => "$base#" . ++$n, source => $src, kind => 'times',
                        token => $token, now => $now, skew => $skew + 0,
                        library => { status => $st, verdict => verdict($st) } });
                }
                next;
            }
            my $n = 0;
            for my $c (@calls) {
                my ($jname, $args, $st) = @$c;
                my $def = $jw{$jname} // die "$file/$t->{name}: jwks $jname?";
                my ($jwks, $note) = $def->[1] eq 'EMPTY' ? ({ keys => [] }, 'an empty Jwks')
                    : jwks_of($defs->{ $def->[0] } // die("$def->[0]?"), $def->[1], \@edits);
                my %v = (id => @calls > 1 ? "$base#" . ++$n : $base, source => $src,
                         kind => 'verify', jwks => $jwks, token => $token);
                $v{jwks_note} = $note if $note;
                my $claims = claims_of($token);
                $v{now} = now_for($claims);
                $v{skew} = $SKEW;
                $v{library_now} = defined $args && $args =~ /^\d+$/ ? $args + 0
                    : 'current time';
                if (defined $args && $args =~ /audiences|vector/) {
                    $v{kind} = 'claims';
                    my $list = $args =~ /\{\}/ ? '' : ($body =~ /audiences = \{([^}]*)\}/)[0];
                    $v{audiences} = [ $list =~ /"([^"]*)"/g ];
                }
                $v{library} = { status => $st, verdict => verdict($st) };
                push @vec, finish(\%v);
                push @vec, derived(\%v, $fz) if %$fz && $n <= 1;
            }
        }
    }
    return @vec;
}

# ---- the JOSE cookbook (RFC 7520) and RFC 8037 A.4 ------------------------------------

sub public_part {
    my ($k) = @_;
    my %p = %$k;
    delete @p{qw(d p q dp dq qi k oth)};
    return \%p;
}

sub cookbook_vectors {
    my ($git, $path, $rfc, $base) = @_;
    my $doc = decode_json(git_show($git, $CB_COMMIT, $path));
    my $key = $doc->{input}{key};
    my $src = { repository => 'ietf-jose/cookbook', path => $path, commit => $CB_COMMIT,
                test => "$rfc: $doc->{title}" };
    my @v;
    push @v, finish({ id => $base, source => $src, kind => 'verify',
        jwks => { keys => [$key] }, jwks_note => 'the cookbook key as published (with its '
        . 'private members)', token => $doc->{output}{compact}, now => 1700000000,
        skew => $SKEW, library => { status => 'valid', verdict => 'accept' } });
    if (($key->{kty} // '') ne 'oct') {
        push @v, finish({ id => "$base#public", source => $src, kind => 'verify',
            jwks => { keys => [public_part($key)] },
            jwks_note => 'the public members of the cookbook key only',
            token => $doc->{output}{compact}, now => 1700000000, skew => $SKEW,
            library => { status => 'valid', verdict => 'accept' } });
    }
    return @v;
}

die "usage: $0 JWT_VERIFY_LIB_GIT_DIR COOKBOOK_GIT_DIR\n" unless @ARGV == 2;
my ($jvl, $cb) = @ARGV;
my $out = dirname(__FILE__);
my $json = JSON::PP->new->canonical->pretty->indent_length(1);
my %sets = (
    'jwt_verify_lib.json' => [jvl_vectors($jvl)],
    'rfc7520.json' => [map { cookbook_vectors($cb, @$_) }
        ['jws/4_1.rsa_v15_signature.json', 'RFC 7520 s.4.1', 'rfc7520/4.1'],
        ['jws/4_2.rsa-pss_signature.json', 'RFC 7520 s.4.2', 'rfc7520/4.2'],
        ['jws/4_3.ecdsa_signature.json', 'RFC 7520 s.4.3', 'rfc7520/4.3'],
        ['jws/4_4.hmac-sha2_integrity_protection.json', 'RFC 7520 s.4.4', 'rfc7520/4.4'],
        ['jws/4_5.signature_with_detached_content.json', 'RFC 7520 s.4.5', 'rfc7520/4.5']],
    'rfc8037.json' => [cookbook_vectors($cb, 'curve25519/jws.json', 'RFC 8037 A.4',
                                        'rfc8037/A.4')],
);
my %seen;
for my $v (map { @$_ } values %sets) {
    die "duplicate id $v->{id}\n" if $seen{ $v->{id} }++;
}
for my $id (sort keys %MODULE) {
    die "%MODULE names $id, which is no vector\n" unless $seen{$id};
}
my %license = (
    'jwt_verify_lib.json' => 'test data from google/jwt_verify_lib (Apache-2.0, '
        . 'Copyright Google LLC)',
    'rfc7520.json' => 'RFC 7520 examples as ietf-jose/cookbook publishes them (IETF Trust; '
        . 'code components under the Simplified BSD License)',
    'rfc8037.json' => 'RFC 8037 Appendix A.4 as ietf-jose/cookbook publishes it '
        . '(curve25519/jws.json; IETF Trust, Simplified BSD License)',
);
for my $f (sort keys %sets) {
    open my $fh, '>:raw', "$out/$f" or die "$out/$f: $!";
    print $fh $json->encode({ generated_by => 'tests/conformance/extract.pl',
                              documentation => 'docs/conformance.md',
                              license => $license{$f}, vectors => $sets{$f} });
    close $fh;
    printf "%s: %d vectors\n", $f, scalar @{ $sets{$f} };
}

# The fuzz targets' seed corpora gain every distinct token (fuzz_jws) and
# key set (fuzz_jwks), named after the first vector that has it.
sub seed_name {
    (my $n = $_[0]) =~ s/[^A-Za-z0-9.#-]+/_/g;
    $n =~ s/#/-/g;
    return "conformance-$n";
}

my $fuzz = "$out/../../fuzz/corpus";
for my $target (qw(jws jwks)) {
    unlink glob("$fuzz/$target/conformance-*");
    my (%have, $n);
    for my $v (map { @{ $sets{$_} } } sort keys %sets) {
        my $bytes = $target eq 'jws' ? $v->{token}
            : $v->{jwks_document} // ($v->{jwks} && JSON::PP->new->canonical->encode($v->{jwks}));
        next if !defined $bytes || $have{$bytes}++;
        open my $fh, '>:raw', "$fuzz/$target/" . seed_name($v->{id}) or die "$target: $!";
        print $fh $bytes;
        close $fh;
        $n++;
    }
    printf "fuzz/corpus/%s: %d seeds\n", $target, $n;
}
