#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Generate the throw-away PKI of the test suite (never used outside tests).
#
#   t/idp/mkpki.sh [OUTDIR]      (default: t/pki next to this script's t/)
#
# Produces, in OUTDIR:
#   ca.pem ca.key                  test CA (trusted by the module via OBOCACertificateFile)
#   server.pem server.key          IdP TLS certificate, SAN IP:127.0.0.1 + DNS:localhost
#   untrusted-ca.pem/.key          a second CA nobody trusts (negative TLS tests)
#   untrusted-server.pem/.key      a server certificate issued by that CA
#   rsa-a.key rsa-b.key            RSA-2048 token signing keys (b = after rotation)
#   ec-p256.key ec-p384.key ec-p521.key ed25519.key   more signing keys
#   foreign.key foreign.pem        RSA-2048 key (+ self-signed cert) never published in any JWKS
#   client.pem client.key          client certificate for private_key_jwt
#   *.pub.pem                      public halves of every key above
# Re-running is a no-op once OUTDIR/.complete exists.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../pki"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -e "$out/.complete" ] && exit 0

umask 022
tmp=$(mktemp -d "$out/.gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

q() { "$@" >/dev/null 2>&1 || { echo "mkpki: failed: $*" >&2; "$@"; exit 1; }; }

rsa()  { q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key"; }
ec()   { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" -pkeyopt ec_param_enc:named_curve -out "$1.key"; }
pub()  { q openssl pkey -in "$1.key" -pubout -out "$1.pub.pem"; }

ca() { # name subject
    rsa "$1"
    q openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$1.pem"
}

leaf() { # name issuer subject extfile
    rsa "$1"
    q openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
    q openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$4" -out "$1.pem"
    rm -f "$1.csr"
}

cat > server.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
cat > client.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EOF

ca ca "/CN=mod_auth_obo Test CA"
leaf server ca "/CN=127.0.0.1" server.ext
ca untrusted-ca "/CN=Untrusted Test CA"
leaf untrusted-server untrusted-ca "/CN=127.0.0.1" server.ext
leaf client ca "/CN=middle-tier-api" client.ext

rsa rsa-a
rsa rsa-b
rsa foreign
q openssl req -x509 -new -key foreign.key -sha256 -days 3650 -subj "/CN=attacker" -out foreign.pem
ec ec-p256 P-256
ec ec-p384 P-384
ec ec-p521 P-521
q openssl genpkey -algorithm ED25519 -out ed25519.key
for k in rsa-a rsa-b foreign ec-p256 ec-p384 ec-p521 ed25519 client server ca; do pub "$k"; done

rm -f ./*.ext ./*.srl
chmod 0644 ./*
mv ./* "$out/"
touch "$out/.complete"
echo "mkpki: test PKI written to $out"
