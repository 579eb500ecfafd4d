#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark: the same Apache without auth, with mod_auth_obo and with its
# peers (mod_auth_openidc, mod_oauth2), in one run.
#
#   flock /tmp/obo-bench.lock bench/run.sh [path/to/mod_auth_obo.so]
#       (as root; installs wrk, python3-cryptography, libapache2-mod-auth-openidc
#        and libapache2-mod-oauth2 if missing; the flock keeps two benchmarks
#        from running at the same time on one machine)
#
# Starts the suite's test IdP and a memcached on loopback, then four httpd
# instances from one configuration template (event MPM, 2 x 25 threads, the
# same modules, mod_proxy included, so that they differ by their auth module
# only): "plain" (no auth module), "obo" (mod_auth_obo), "openidc"
# (mod_auth_openidc, AuthType oauth20, the IdP's key as a local certificate)
# and "oauth2" (mod_oauth2, OAuth2TokenVerify jwk with the IdP's key), so
# that the peers validate only, with no network. wrk (--latency) measures
# the same small static file through:
#   plain        no auth
#   validate     AuthType obo + Require obo-scope
#   openidc      AuthType oauth20 + Require valid-user
#   oauth2       AuthType oauth2 + Require valid-user
#   obo-shm      validate + On-Behalf-Of token from the shm cache (hit path)
#   obo-mc       validate + On-Behalf-Of token from memcached (hit path)
#   obo-app      validate + the application's own token (OBOScope ... app,
#                client credentials) from the shm cache (hit path)
#   opaque       an opaque token (OBOTokenFormat opaque): its RFC 7662
#                introspection answer from the cache (hit path; one IdP call
#                per OBOIntrospectionCacheTime, 60 s) + Require obo-scope
#   dpop         a DPoP-bound token (RFC 9449, OBODPoP required) with a new
#                ES256 proof per request, pre-signed (bench/mint_proofs.py,
#                bench/proofs.lua): one signature verified and one jti
#                recorded in the shm replay table per request, which no
#                cache may skip
#   health       /obo-status?format=health, as load balancers poll it: its CPU
#                per poll gives its cost at 1,000 polls a second (printed)
#   proxy        mod_proxy to the plain instance, no auth (the proxy baseline)
#   proxy-shm    validate + OBO token (shm) + OBOPassToken authorization, proxied
#   proxy-mc     the same with memcached
# all with one token, then, with a wrk Lua script cycling N pre-signed
# distinct valid tokens (bench/tokens.lua, bench/mint_many.py; so that no
# memo helps: many users, few requests each):
#   d-plain d-validate d-openidc d-oauth2
# and the same with the other algorithms IdPs sign with (BENCH_ALGS, default
# "es256 ps256 eddsa"; ES256 with the P-256 key, PS256 with the RSA key,
# EdDSA with Ed25519): d-validate-ALG, d-openidc-ALG (the IdP's JWKS through
# OIDCOAuthVerifyJwksUri, cached), d-oauth2-ALG (the key as a JWK); neither
# peer verifies EdDSA (cjose), so that row is the module's alone.
# The variants are interleaved over BENCH_ROUNDS rounds; each row shows the
# median req/s, p50 and p99 over the rounds and the ratio to its baseline
# (plain; proxy for the proxied rows; d-plain for the distinct rows). It then
# times cache misses (an IdP call) against hits for fresh users with curl
# ("miss": BENCH_USERS fresh users, what the module adds to a miss beyond
# the IdP's own time, the TLS connections to the IdP, memcached writes).
# Every server it starts is on 127.0.0.1 and stopped at the end.
#
# Environment: BENCH_DURATION (s per measurement, 10), BENCH_ROUNDS (3),
# BENCH_CONNECTIONS (32), BENCH_LAT_CONNECTIONS (connections of the latency
# pass, 2; 0 skips it), BENCH_THREADS (wrk threads, 1), BENCH_TOKENS
# (distinct tokens, 50000 per algorithm; 0 skips the distinct case),
# BENCH_ALGS (see above; "" for RS256 only), BENCH_USERS (30: fresh users of
# the miss row; 0 skips it),
# BENCH_PERF (a variant name: a flat `perf record -a` profile of that
# variant's last measurement is written to BENCH_PERF_OUT, /tmp/obo-bench.perf;
# BENCH_PERF_ARGS replaces the default "-F 1999 -a"),
# BENCH_HOLD (seconds to keep the servers up before measuring, for profiling
# by hand; prints the work directory), BENCH_ONLY (space-separated variant names), BENCH_PORT_BASE (18181: the
# instances listen on BASE..BASE+6), BENCH_IDP_PORT (19643), BENCH_MC_PORT
# (19711), BENCH_TLS (1; 0 skips the certificate-bound rows).
#
# The core's share of a distinct token, split into the signature check and
# everything else, in one thread and without httpd: `make bench/validate_cpu`
# in the build tree, then bench/validate_cpu JWKS ISSUER AUDIENCE TOKENS
# (run it under perf record to profile the parse and claim checks alone).
#
# Certificate-bound tokens (RFC 8705) need a client certificate, which wrk
# cannot send: ab (-k -E) measures, over TLS to one virtual host of the obo
# instance (SSLVerifyClient optional_no_ca), the file without auth ("tls")
# and with a token bound to ab's certificate ("tls-bound", AuthType obo).
# ab is one thread and may saturate before httpd does, so the rows also
# give the httpd CPU per request, and the ratio of the two.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
so=${1:-$here/mod_auth_obo.so}
[ -f "$so" ] || { echo "bench: build first (no $so)" >&2; exit 1; }
so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so")
mods=/usr/lib/apache2/modules
need=()
command -v wrk >/dev/null || need+=(wrk)
python3 -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
[ -f $mods/mod_auth_openidc.so ] || need+=(libapache2-mod-auth-openidc)
[ -f $mods/mod_oauth2.so ] || need+=(libapache2-mod-oauth2)
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    # Debian enables the peers in /etc/apache2: this benchmark loads them
    # itself, and the system's Apache (and Apache::Test, which inherits its
    # modules) must not get them.
    a2dismod -q auth_openidc oauth2 >/dev/null 2>&1 || true
fi
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
NTOKENS=${BENCH_TOKENS:-50000}
ALGS=${BENCH_ALGS-es256 ps256 eddsa}
USERS=${BENCH_USERS:-30}
IDP_PORT=${BENCH_IDP_PORT:-19643}; MC_PORT=${BENCH_MC_PORT:-19711}
BASE=${BENCH_PORT_BASE:-18181}
PLAIN_PORT=$BASE; OBO_PORT=$((BASE + 1)); OBO_MC_PORT=$((BASE + 2))
OIDC_PORT=$((BASE + 3)); OAUTH2_PORT=$((BASE + 4)); TLS_PORT=$((BASE + 5))
OIDC_JWKS_PORT=$((BASE + 6))
TLS=${BENCH_TLS:-1}
INSTANCES="plain obo openidc oauth2"

work=$(mktemp -d /tmp/obo-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    for i in $INSTANCES; do
        [ -f "$work/$i.conf" ] && apache2 -f "$work/$i.conf" -k stop 2>/dev/null || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/htdocs/api" "$work/logs"
head -c 512 /dev/urandom | base64 > "$work/htdocs/api/hello.txt"
for d in validate obo-shm obo-mc obo-app opaque dpop openidc oauth2 oauth2-es256 \
         oauth2-ps256 oauth2-eddsa; do
    mkdir -p "$work/htdocs/$d"; cp "$work/htdocs/api/hello.txt" "$work/htdocs/$d/"
done
cp -r "$here/t/idp" "$here/t/lib" "$work/"
bash "$work/idp/mkpki.sh" "$work/pki" >/dev/null
# the token signing key as a certificate, for mod_auth_openidc's local check
openssl req -x509 -new -key "$work/pki/rsa-a.key" -subj /CN=rsa-a -days 2 \
    -out "$work/pki/rsa-a.crt" 2>/dev/null
# hex: raw bytes could end in a newline, which OBOCacheSecret file: strips
openssl rand -hex 32 > "$work/cache.key"
chmod -R a+rX "$work"; chown -R nobody "$work/logs"
chmod 600 "$work/cache.key"   # read by root at startup only (else OBO100)

perl "$work/idp/idp.pl" --port $IDP_PORT --state-dir "$work/idpstate" --pki-dir "$work/pki" \
    --log "$work/logs/idp.log" --lifetime 900 >/dev/null 2>&1 &
pids+=($!)
timeout 7200 memcached -l 127.0.0.1 -p $MC_PORT -U 0 -u nobody -t 2 &
pids+=($!)
for i in $(seq 50); do
    curl -s -o /dev/null --cacert "$work/pki/ca.pem" "https://127.0.0.1:$IDP_PORT/control/counters" && break
    sleep 0.2
done
mc_pid=$(pgrep -P "${pids[1]}" -x memcached || echo "${pids[1]}")   # timeout's child
ISSUER="https://127.0.0.1:$IDP_PORT/tenant1/v2.0"
# mod_oauth2 takes the key as a JWK: the IdP's own
jwk_of() { # kid: the IdP's public JWK of that key, as mod_oauth2 takes it
    curl -s --cacert "$work/pki/ca.pem" "https://127.0.0.1:$IDP_PORT/tenant1/discovery/v2.0/keys" \
      | perl -MJSON::PP -e 'my $j = decode_json(join "", <STDIN>);
            my ($k) = grep { $_->{kid} eq $ARGV[0] } @{ $j->{keys} };
            print JSON::PP->new->canonical->encode({ map { $_ => $k->{$_} }
                                                     grep { exists $k->{$_} } qw(kty kid crv n e x y) })' "$1"
}
JWK=$(jwk_of rsa-a)

conf_common() { # port name
    cat <<CONF
ServerRoot $work
Listen 127.0.0.1:$1
ServerName localhost
PidFile $work/logs/$2.pid
ErrorLog $work/logs/$2.error_log
LogLevel warn
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authz_user_module $mods/mod_authz_user.so
LoadModule mime_module $mods/mod_mime.so
LoadModule socache_shmcb_module $mods/mod_socache_shmcb.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
TypesConfig /etc/mime.types
User nobody
Group nogroup
DocumentRoot $work/htdocs
KeepAlive On
MaxKeepAliveRequests 0
StartServers 2
ThreadsPerChild 25
CONF
}
conf_common $PLAIN_PORT plain > "$work/plain.conf"
{
    conf_common $OBO_PORT obo
    cat <<CONF
LoadModule auth_obo_module $so
OBOMetadataURL $ISSUER/.well-known/openid-configuration
OBOCACertificateFile $work/pki/ca.pem
OBOAudience api://test-api
OBOClientID middle-tier-api
OBOClientSecret s3cret-for-tests
OBOCacheSecret file:$work/cache.key
<Location /validate>
    AuthType obo
    Require obo-scope access_as_user
</Location>
<Location /obo-status>
    SetHandler obo-status
</Location>
<Location /obo-shm>
    AuthType obo
    Require obo-scope access_as_user
    OBOScope api://downstream/read
    OBOPassToken header X-Downstream-Token
</Location>
<Location /obo-app>
    AuthType obo
    Require obo-scope access_as_user
    OBOScope api://downstream/.default app
    OBOPassToken header X-Downstream-Token
</Location>
<Location /opaque>
    AuthType obo
    OBOTokenFormat opaque
    Require obo-scope access_as_user
</Location>
# the proofs are signed before the run: a window that outlasts it (their
# jti stay recorded that long, hence the larger table)
OBODPoPReplayCache 1048576
<Location /dpop>
    AuthType obo
    Require obo-scope access_as_user
    OBODPoP required
    OBODPoPWindow 3600
</Location>
<Location /proxy>
    ProxyPass http://127.0.0.1:$PLAIN_PORT/api
</Location>
<Location /proxy-shm>
    ProxyPass http://127.0.0.1:$PLAIN_PORT/api
    AuthType obo
    Require obo-scope access_as_user
    OBOScope api://downstream/read
    OBOPassToken authorization
</Location>
# TLS with client certificates: the certificate-bound rows
LoadModule ssl_module $mods/mod_ssl.so
Listen 127.0.0.1:$TLS_PORT
<VirtualHost 127.0.0.1:$TLS_PORT>
    SSLEngine on
    SSLCertificateFile $work/pki/server.pem
    SSLCertificateKeyFile $work/pki/server.key
    SSLVerifyClient optional_no_ca
    <Location /validate>
        AuthType obo
        Require obo-scope access_as_user
        OBOCertificateBound required
    </Location>
</VirtualHost>
# memcached: a virtual host of the same instance with its own cache
Listen 127.0.0.1:$OBO_MC_PORT
<VirtualHost 127.0.0.1:$OBO_MC_PORT>
    OBOCache memcached 127.0.0.1:$MC_PORT
    <Location /obo-mc>
        AuthType obo
        Require obo-scope access_as_user
        OBOScope api://downstream/read
        OBOPassToken header X-Downstream-Token
    </Location>
    <Location /proxy>
        ProxyPass http://127.0.0.1:$PLAIN_PORT/api
    </Location>
    <Location /proxy-mc>
        ProxyPass http://127.0.0.1:$PLAIN_PORT/api
        AuthType obo
        Require obo-scope access_as_user
        OBOScope api://downstream/read
        OBOPassToken authorization
    </Location>
</VirtualHost>
CONF
} > "$work/obo.conf"
{
    conf_common $OIDC_PORT openidc
    cat <<CONF
LoadModule auth_openidc_module $mods/mod_auth_openidc.so
OIDCCryptoPassphrase $(openssl rand -hex 16)
OIDCOAuthVerifyCertFiles rsa-a#$work/pki/rsa-a.crt
OIDCOAuthRemoteUserClaim sub
<Location /openidc>
    AuthType oauth20
    Require valid-user
</Location>
# ES256 and PS256 through the IdP's JWKS (fetched once, then cached): an EC
# certificate in OIDCOAuthVerifyCertFiles crashes Debian's mod_auth_openidc
Listen 127.0.0.1:$OIDC_JWKS_PORT
<VirtualHost 127.0.0.1:$OIDC_JWKS_PORT>
    OIDCOAuthVerifyJwksUri https://127.0.0.1:$IDP_PORT/tenant1/discovery/v2.0/keys
    OIDCCABundlePath $work/pki/ca.pem
    <Location /openidc>
        AuthType oauth20
        Require valid-user
    </Location>
</VirtualHost>
CONF
} > "$work/openidc.conf"
{
    conf_common $OAUTH2_PORT oauth2
    cat <<CONF
LoadModule oauth2_module $mods/mod_oauth2.so
<Location /oauth2>
    AuthType oauth2
    OAuth2TokenVerify jwk '$JWK'
    Require valid-user
</Location>
<Location /oauth2-ps256>
    AuthType oauth2
    OAuth2TokenVerify jwk '$JWK'
    Require valid-user
</Location>
<Location /oauth2-es256>
    AuthType oauth2
    OAuth2TokenVerify jwk '$(jwk_of ec-p256)'
    Require valid-user
</Location>
CONF
} > "$work/oauth2.conf"
for i in $INSTANCES; do apache2 -f "$work/$i.conf" -k start; done
sleep 1

mint() { # user
    OBO_TEST_IDP_PORT=$IDP_PORT OBO_TEST_PKI_DIR="$work/pki" \
        perl -I"$work/lib" -MOBOTest::Mint -e 'print mint(claims => { sub => $ARGV[0] })' "$1"
}
TOKEN=$(mint bench-user)
auth="Authorization: Bearer $TOKEN"
# an opaque token of the same user: the test IdP answers its introspection
# with these members
claims=$(perl -MJSON::PP -MURI::Escape -e 'print uri_escape(encode_json({ active => JSON::PP::true,
    sub => "bench-user", aud => "api://test-api", iss => $ARGV[0], scope => "access_as_user",
    exp => time + 7200 }))' "$ISSUER")
OPAQUE=$(curl -s --cacert "$work/pki/ca.pem" -X POST \
         "https://127.0.0.1:$IDP_PORT/control/opaque?claims=$claims" \
         | perl -MJSON::PP -e 'print decode_json(join "", <STDIN>)->{token}')
# a DPoP-bound token of the same user, for a key of the benchmark's own
DPOP_JKT=$(python3 "$here/bench/mint_proofs.py" key "$work/dpop.key")
OBO_TEST_IDP_PORT=$IDP_PORT OBO_TEST_PKI_DIR="$work/pki" perl -I"$work/lib" -MOBOTest::Mint \
    -e 'print mint(claims => { sub => "bench-user", cnf => { jkt => $ARGV[0] } })' "$DPOP_JKT" \
    > "$work/dpop.token"
# ab's client certificate, and a token bound to it (cnf x5t#S256)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench-client \
    -keyout "$work/client.key" -out "$work/client.crt" -days 1 2>/dev/null
cat "$work/client.crt" "$work/client.key" > "$work/client.pem"
X5T=$(openssl x509 -in "$work/client.crt" -outform DER | openssl dgst -sha256 -binary \
      | base64 | tr '+/' '-_' | tr -d '=\n')
BOUND=$(OBO_TEST_IDP_PORT=$IDP_PORT OBO_TEST_PKI_DIR="$work/pki" perl -I"$work/lib" \
        -MOBOTest::Mint -e 'print mint(claims => { sub => "bench-user",
                                                    cnf => { "x5t#S256" => $ARGV[0] } })' "$X5T")
auth_of() { # variant name -> its Authorization header
    case $1 in
        opaque) echo "Authorization: Bearer $OPAQUE" ;;
        dpop|lat-dpop) echo "Authorization: DPoP $(cat "$work/dpop.token")" ;;
        *) echo "$auth" ;;
    esac
}
# proofs FILE N: N unused proofs for the dpop row's URL
proofs() {
    python3 "$here/bench/mint_proofs.py" proofs "$work/dpop.key" "$work/dpop.token" \
        "http://127.0.0.1:$OBO_PORT/dpop/hello.txt" "$2" "$1"
}

# name url baseline: the same-token rows, then the distinct-token rows
VARIANTS="plain http://127.0.0.1:$PLAIN_PORT/api/hello.txt -
validate http://127.0.0.1:$OBO_PORT/validate/hello.txt plain
openidc http://127.0.0.1:$OIDC_PORT/openidc/hello.txt plain
oauth2 http://127.0.0.1:$OAUTH2_PORT/oauth2/hello.txt plain
obo-shm http://127.0.0.1:$OBO_PORT/obo-shm/hello.txt plain
obo-mc http://127.0.0.1:$OBO_MC_PORT/obo-mc/hello.txt plain
obo-app http://127.0.0.1:$OBO_PORT/obo-app/hello.txt plain
opaque http://127.0.0.1:$OBO_PORT/opaque/hello.txt plain
dpop http://127.0.0.1:$OBO_PORT/dpop/hello.txt plain
health http://127.0.0.1:$OBO_PORT/obo-status?format=health plain
proxy http://127.0.0.1:$OBO_PORT/proxy/hello.txt -
proxy-shm http://127.0.0.1:$OBO_PORT/proxy-shm/hello.txt proxy
proxy-mc http://127.0.0.1:$OBO_MC_PORT/proxy-mc/hello.txt proxy"
if [ "$NTOKENS" -gt 0 ]; then
    VARIANTS="$VARIANTS
d-plain http://127.0.0.1:$PLAIN_PORT/api/hello.txt -
d-validate http://127.0.0.1:$OBO_PORT/validate/hello.txt d-plain
d-openidc http://127.0.0.1:$OIDC_PORT/openidc/hello.txt d-plain
d-oauth2 http://127.0.0.1:$OAUTH2_PORT/oauth2/hello.txt d-plain"
    # the other signature algorithms IdPs use, against the same peers where
    # they verify it (neither peer's JOSE library, cjose, has EdDSA)
    for alg in $ALGS; do
        VARIANTS="$VARIANTS
d-validate-$alg http://127.0.0.1:$OBO_PORT/validate/hello.txt d-plain"
        [ "$alg" = eddsa ] || VARIANTS="$VARIANTS
d-openidc-$alg http://127.0.0.1:$OIDC_JWKS_PORT/openidc/hello.txt d-plain
d-oauth2-$alg http://127.0.0.1:$OAUTH2_PORT/oauth2-$alg/hello.txt d-plain"
    done
fi
if [ -n "${BENCH_ONLY:-}" ]; then
    VARIANTS=$(echo "$VARIANTS" | awk -v only=" $BENCH_ONLY " 'index(only, " " $1 " ")')
fi

# warm every path once (JWKS fetch, first exchange) in each child
proofs "$work/proofs.warm" 8
while read -r name url base; do
    [ -n "$name" ] || continue
    case $name in d-*-es256|d-*-ps256|d-*-eddsa) continue ;; esac   # their tokens: below
    for i in $(seq 8); do
        extra=()
        [ "$name" != dpop ] || extra=(-H "DPoP: $(sed -n "${i}p" "$work/proofs.warm")")
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "$(auth_of "$name")" "${extra[@]}" \
               "$url")
        [ "$code" = 200 ] || { echo "bench: $name ($url) answered $code" >&2
                               tail -5 "$work"/logs/*.error_log >&2; exit 1; }
    done
done <<< "$VARIANTS"

# a file of unused proofs for each measurement of the dpop row (more than
# this machine can serve in BENCH_DURATION: 15,000 a second)
if echo "$VARIANTS" | grep -q '^dpop '; then
    t0=$(date +%s)
    for round in $(seq "$ROUNDS"); do proofs "$work/proofs.$round" $((15000 * DURATION)); done
    echo "signed $((15000 * DURATION * ROUNDS)) DPoP proofs in $(( $(date +%s) - t0 )) s"
fi

if [ "$NTOKENS" -gt 0 ]; then
    t0=$(date +%s)
    python3 "$here/bench/mint_many.py" "$work/pki/rsa-a.key" rsa-a "$ISSUER" "$NTOKENS" \
        "$work/tokens.txt" 7200
    for alg in $ALGS; do
        if echo "$VARIANTS" | grep -q "^d-[a-z0-9]*-$alg "; then
            case $alg in
                es256) key=ec-p256 a=ES256 ;;
                ps256) key=rsa-a a=PS256 ;;
                eddsa) key=ed25519 a=EdDSA ;;
            esac
            python3 "$here/bench/mint_many.py" "$work/pki/$key.key" "$key" "$ISSUER" "$NTOKENS" \
                "$work/tokens.$alg.txt" 7200 "$a"
        fi
    done
    echo "signed $NTOKENS distinct tokens (RS256${ALGS:+ and each of: $ALGS}) in $(( $(date +%s) - t0 )) s"
    code=$(curl -s -o /dev/null -w '%{http_code}' \
           -H "Authorization: Bearer $(head -1 "$work/tokens.txt")" \
           "http://127.0.0.1:$OBO_PORT/validate/hello.txt")
    [ "$code" = 200 ] || { echo "bench: a distinct token answered $code" >&2; exit 1; }
    while read -r name url base; do
        case $name in d-*-es256|d-*-ps256|d-*-eddsa) ;; *) continue ;; esac
        code=$(curl -s -o /dev/null -w '%{http_code}' \
               -H "Authorization: Bearer $(head -1 "$work/tokens.${name##*-}.txt")" "$url")
        [ "$code" = 200 ] || { echo "bench: $name ($url) answered $code" >&2
                               tail -5 "$work"/logs/*.error_log >&2; exit 1; }
    done <<< "$VARIANTS"
fi

# BENCH_HOLD=N: keep the servers up N seconds before measuring, to profile
# one by hand (strace -c, perf record --call-graph dwarf -p) with the same
# configuration and tokens: wrk -s bench/tokens.lua URL -- WORK/tokens.txt
if [ -n "${BENCH_HOLD:-}" ]; then
    echo "holding $BENCH_HOLD s: $work (plain :$PLAIN_PORT, obo :$OBO_PORT, obo-mc :$OBO_MC_PORT)"
    sleep "$BENCH_HOLD"
fi

# wrk's latency figures in ms ("812.00us", "1.20ms", "2.00s")
to_ms() { echo "$1" | awk '/us$/ {sub("us",""); print $1 / 1000; next}
                          /ms$/ {sub("ms",""); print $1 + 0; next}
                          /s$/ {sub("s",""); print $1 * 1000; next} {print $1}'; }
# CPU seconds (user + system) used so far by every httpd and memcached
# process: its growth over a measurement, per request, is what a variant
# costs the machine, a figure that scheduling noise hardly moves.
# Only this benchmark's servers (their parents' pid files) and memcached:
# other httpd on the machine (a test suite) must not count.
cpu_now() {
    local pid sum=0 t parents
    parents=$(cat "$work"/logs/*.pid 2>/dev/null | tr '\n' ' ')
    for pid in $parents $(for p in $parents; do pgrep -d ' ' -P "$p"; done) $mc_pid; do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}
HZ=$(getconf CLK_TCK)
measure() { # name url [connections seconds] -> "rps p50 p99 cpu_us_per_req" appended
            # to $work/res.<name>
    local out args=(-t"$THREADS" -c"${3:-$CONNS}" -d"${4:-$DURATION}s" --latency) perf= c0 c1 n
    if [ "$1" = "${BENCH_PERF:-}" ] && [ "$round" = "$ROUNDS" ]; then
        # shellcheck disable=SC2086
        perf record -q ${BENCH_PERF_ARGS:--F 1999 -a} -o "${BENCH_PERF_OUT:-/tmp/obo-bench.perf}" \
            -- sleep $((DURATION - 1)) 2>/dev/null &
        perf=$!
    fi
    c0=$(cpu_now)
    case $1 in
        d-*-es256|d-*-ps256|d-*-eddsa)
            out=$(wrk "${args[@]}" -s "$here/bench/tokens.lua" "$2" -- "$work/tokens.${1##*-}.txt") ;;
        d-*) out=$(wrk "${args[@]}" -s "$here/bench/tokens.lua" "$2" -- "$work/tokens.txt") ;;
        dpop) out=$(wrk "${args[@]}" -s "$here/bench/proofs.lua" "$2" -- "$work/proofs.$round" \
                    "$(cat "$work/dpop.token")" "$THREADS") ;;
        *) out=$(wrk "${args[@]}" -H "$(auth_of "$1")" "$2") ;;
    esac
    [ -z "$perf" ] || wait "$perf"
    if echo "$out" | grep -q 'Non-2xx'; then
        echo "bench: non-2xx answers from $1 ($2)" >&2; echo "$out" >&2; exit 1
    fi
    c1=$(cpu_now)
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') \
$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')") \
$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')") \
$(echo "($c1 - $c0) * 1000000 / $HZ / $n" | bc -l)" >> "$work/res.$1"
}

echo "wrk -t$THREADS -c$CONNS -d${DURATION}s --latency, $ROUNDS interleaved rounds," \
     "same 700-byte static file, $(nproc) cores, event MPM (2 x 25 threads)"
for round in $(seq "$ROUNDS"); do
    while read -r name url base; do [ -z "$name" ] || measure "$name" "$url"; done <<< "$VARIANTS"
    echo "round $round done" >&2
done

median_col() { # file column
    awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
printf '%-17s %10s %9s %9s %8s %12s %11s\n' variant 'req/s' 'p50 ms' 'p99 ms' ratio \
    'p99 added' 'cpu us/req'
while read -r name url base; do
    [ -n "$name" ] || continue
    rps=$(median_col "$work/res.$name" 1); p50=$(median_col "$work/res.$name" 2)
    p99=$(median_col "$work/res.$name" 3); cpu=$(median_col "$work/res.$name" 4)
    if [ "$base" = - ] || [ ! -f "$work/res.$base" ]; then
        ratio=1.000; added=-
    else
        ratio=$(echo "$rps / $(median_col "$work/res.$base" 1)" | bc -l)
        added=$(printf '%+.2f ms' "$(echo "$p99 - $(median_col "$work/res.$base" 3)" | bc -l)")
        ratio=$(printf '%.3f' "$ratio")
    fi
    printf '%-17s %10.0f %9.2f %9.2f %8s %12s %11.1f   (vs %s)\n' "$name" "$rps" "$p50" \
        "$p99" "$ratio" "$added" "$cpu" "$base"
done <<< "$VARIANTS"

if [ -f "$work/res.health" ]; then
    hcpu=$(median_col "$work/res.health" 4)
    printf 'health polls: %.1f us of CPU each (httpd, all processes): 1,000 polls/s cost %.1f%% of one core (%s)\n' \
        "$hcpu" "$(echo "$hcpu * 1000 / 10000" | bc -l)" \
        "$(curl -s "http://127.0.0.1:$OBO_PORT/obo-status?format=health" | tr -d '\n')"
fi

# Added latency, measured apart: at 32 connections on 2 cores a request's
# p99 is mostly its wait for a CPU (tens of ms, whatever the module does).
# With BENCH_LAT_CONNECTIONS (2) nothing queues, so p50/p99 are the
# request's own time; same-token rows only, interleaved, 5 s each.
LAT_CONNS=${BENCH_LAT_CONNECTIONS:-2}
LAT_VARIANTS=$(echo "$VARIANTS" | awk '$1 !~ /^d-/ && $1 != "openidc" && $1 != "oauth2" \
                                     && $1 != "dpop"')
if [ "$LAT_CONNS" -gt 0 ] && [ -n "$LAT_VARIANTS" ]; then
    for round in $(seq "$ROUNDS"); do
        while read -r name url base; do
            [ -n "$name" ] || continue
            measure "lat-$name" "$url" "$LAT_CONNS" 5
        done <<< "$LAT_VARIANTS"
    done
    echo "latency at $LAT_CONNS connections (wrk -c$LAT_CONNS -d5s, median of $ROUNDS rounds):"
    printf '%-11s %10s %9s %9s %12s %12s\n' variant 'req/s' 'p50 ms' 'p99 ms' 'p50 added' \
        'p99 added'
    while read -r name url base; do
        [ -n "$name" ] || continue
        rps=$(median_col "$work/res.lat-$name" 1); p50=$(median_col "$work/res.lat-$name" 2)
        p99=$(median_col "$work/res.lat-$name" 3)
        added=-; added50=-
        if [ "$base" != - ] && [ -f "$work/res.lat-$base" ]; then
            added=$(printf '%+.3f ms' "$(echo "$p99 - $(median_col "$work/res.lat-$base" 3)" \
                                        | bc -l)")
            added50=$(printf '%+.3f ms' "$(echo "$p50 - $(median_col "$work/res.lat-$base" 2)" \
                                          | bc -l)")
        fi
        printf '%-11s %10.0f %9.3f %9.3f %12s %12s   (vs %s)\n' "$name" "$rps" "$p50" "$p99" \
            "$added50" "$added" "$base"
    done <<< "$LAT_VARIANTS"
fi

# Certificate-bound tokens over TLS, with ab (see the head of this file).
tls_measure() { # name path -> "rps p50 p99 cpu_us_per_req" appended to $work/res.<name>
    local out c0 c1 n hdr=()
    [ "$1" = tls ] || hdr=(-H "Authorization: Bearer $BOUND")
    c0=$(cpu_now)
    out=$(ab -q -k -c "$CONNS" -t "$DURATION" -n 100000000 -E "$work/client.pem" "${hdr[@]}" \
          "https://127.0.0.1:$TLS_PORT$2" 2>&1)
    c1=$(cpu_now)
    n=$(echo "$out" | awk '/^Complete requests:/ {print $3}')
    # ab -t cuts the requests in flight when time is up: at most one "Length"
    # failure per connection is that, anything else is a real failure
    if [ "$(echo "$out" | awk '/^Non-2xx responses:/ {print $3}')" != "" ] \
       || echo "$out" | grep -Eq '\((Connect: [1-9]|.*Receive: [1-9]|.*Exceptions: [1-9])' \
       || [ "$(echo "$out" | sed -n 's/.*Length: \([0-9]*\).*/\1/p')" -gt "$CONNS" ] 2>/dev/null; then
        echo "bench: failures from $1 over TLS" >&2; echo "$out" >&2; exit 1
    fi
    echo "$(echo "$out" | awk '/^Requests per second:/ {print $4}') \
$(echo "$out" | awk '$1 == "50%" {print $2}') $(echo "$out" | awk '$1 == "99%" {print $2}') \
$(echo "($c1 - $c0) * 1000000 / $HZ / $n" | bc -l)" >> "$work/res.$1"
}
if [ "$TLS" = 1 ] && [ -z "${BENCH_ONLY:-}" -o -n "$(echo " ${BENCH_ONLY:-} " | grep ' tls ')" ]; then
    for code in $(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/pki/ca.pem" \
                      --cert "$work/client.pem" -H "Authorization: Bearer $BOUND" \
                      "https://127.0.0.1:$TLS_PORT/validate/hello.txt") \
                $(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/pki/ca.pem" \
                      -H "Authorization: Bearer $BOUND" \
                      "https://127.0.0.1:$TLS_PORT/validate/hello.txt"); do
        echo "$code"
    done | paste -sd' ' | grep -qx '200 401' \
        || { echo "bench: the bound token must pass with its certificate only" >&2; exit 1; }
    for round in $(seq "$ROUNDS"); do
        tls_measure tls /api/hello.txt
        tls_measure tls-bound /validate/hello.txt
    done
    echo "certificate-bound token over TLS (ab -k -c$CONNS -t$DURATION -E, one client" \
         "certificate, median of $ROUNDS rounds):"
    printf '%-11s %10s %9s %9s %8s %11s %10s\n' variant 'req/s' 'p50 ms' 'p99 ms' ratio \
        'cpu us/req' 'cpu ratio'
    for name in tls tls-bound; do
        rps=$(median_col "$work/res.$name" 1); p50=$(median_col "$work/res.$name" 2)
        p99=$(median_col "$work/res.$name" 3); cpu=$(median_col "$work/res.$name" 4)
        ratio=$(printf '%.3f' "$(echo "$rps / $(median_col "$work/res.tls" 1)" | bc -l)")
        cratio=$(printf '%.3f' "$(echo "$(median_col "$work/res.tls" 4) / $cpu" | bc -l)")
        printf '%-11s %10.0f %9s %9s %8s %11.1f %10s\n' "$name" "$rps" "$p50" "$p99" \
            "$ratio" "$cpu" "$cratio"
    done
fi

# The cache-miss path (issue 18, "miss"): fresh users, one after another,
# each with a new connection to httpd (curl), through the memcached path:
# the first request is a miss (an On-Behalf-Of exchange at the IdP), the
# second a hit. What the module adds to a miss beyond the IdP's own time is,
# per user, miss - hit - the IdP's time for that exchange (the test IdP
# notes each token request's time from the parsed request to its answer,
# /control/timings); the row gives its median. Also: the TLS connections
# the IdP saw for those exchanges (each process keeps its own: at most one
# per process, not one per miss) and the memcached writes per miss.
idp_json() { curl -s --cacert "$work/pki/ca.pem" "https://127.0.0.1:$IDP_PORT/control/$1"; }
mc_stat() { # name: a counter of memcached's "stats"
    exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT"
    printf 'stats\r\nquit\r\n' >&3
    awk -v n="$1" '$2 == n {print $3 + 0}' <&3 | tr -d '\r'
    exec 3<&-
}
if [ "$USERS" -gt 0 ] && { [ -z "${BENCH_ONLY:-}" ] || echo " $BENCH_ONLY " | grep -q ' miss '; }; then
    python3 "$here/bench/mint_many.py" "$work/pki/rsa-a.key" rsa-a "$ISSUER" "$USERS" \
        "$work/miss-tokens.txt" 3600
    mapfile -t mtoks < "$work/miss-tokens.txt"
    n0=$(idp_json timings | perl -MJSON::PP -e 'print scalar @{ decode_json(join "", <STDIN>)->{token_usec} }')
    conns0=$(idp_json counters | perl -MJSON::PP -e 'print decode_json(join "", <STDIN>)->{connections} // 0')
    sets0=$(mc_stat cmd_set)
    miss=(); hit=()
    url="http://127.0.0.1:$OBO_MC_PORT/obo-mc/hello.txt"
    for tok in "${mtoks[@]}"; do
        miss+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $tok" "$url")")
        hit+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $tok" "$url")")
    done
    sets1=$(mc_stat cmd_set)
    idp_json timings | perl -MJSON::PP -e 'my @t = @{ decode_json(join "", <STDIN>)->{token_usec} };
        print "$_\n" for @t[$ARGV[0] .. $#t]' "$n0" > "$work/idp-usec.txt"
    conns=$(( $(idp_json counters | perl -MJSON::PP -e 'print decode_json(join "", <STDIN>)->{connections} // 0') - conns0 ))
    calls=$(wc -l < "$work/idp-usec.txt")
    [ "$calls" = "$USERS" ] || { echo "bench: $USERS misses made $calls IdP token calls" >&2; exit 1; }
    printf '%s\n' "${miss[@]}" > "$work/miss.txt"; printf '%s\n' "${hit[@]}" > "$work/hit.txt"
    paste "$work/miss.txt" "$work/hit.txt" "$work/idp-usec.txt" \
        | awk '{printf "%.3f %.3f %.3f %.3f\n", $1 * 1000, $2 * 1000, $3 / 1000, ($1 - $2) * 1000 - $3 / 1000}' \
        > "$work/miss-rows.txt"
    med() { awk -v c="$1" '{print $c}' "$work/miss-rows.txt" | sort -g \
            | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    echo "cache miss path over $USERS fresh users, one after another (curl, a new connection each):"
    printf '%-11s %9s %9s %9s %12s %12s %12s\n' row 'miss ms' 'hit ms' 'IdP ms' 'added ms' \
        'IdP conns' 'mc sets/miss'
    printf '%-11s %9s %9s %9s %12s %12s %12.2f\n' miss "$(med 1)" "$(med 2)" "$(med 3)" "$(med 4)" \
        "$conns" "$(echo "($sets1 - $sets0) / $USERS" | bc -l)"
    echo "  (added: the median over users of miss - hit - the IdP's own time for that exchange;"
    echo "   IdP conns: TLS connections that carried the $USERS exchanges, from $(pgrep -c -P \
"$(cat "$work/logs/obo.pid")") httpd processes)"
fi
