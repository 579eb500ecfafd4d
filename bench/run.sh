#!/usr/bin/env bash
# Benchmark: the same Apache with and without mod_auth_obo, in one run.
#
#   bench/run.sh [path/to/mod_auth_obo.so]      (as root; installs wrk if missing)
#
# Starts the suite's test IdP and a memcached on loopback, then two httpd
# instances from one configuration template: "plain" (no module) and "obo"
# (module loaded). wrk measures the same small static file through:
#   plain       no module
#   validate    AuthType obo + Require obo-scope (signature + claims per request)
#   obo-shm     validate + On-Behalf-Of token from the shm cache (hit path)
#   obo-mc      validate + On-Behalf-Of token from memcached (hit path)
# and reports requests/s and each one's ratio to plain. It then times cache
# misses (an IdP call) against hits for fresh users with curl, and reports
# medians. Every server it starts is on 127.0.0.1 and stopped at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
so=${1:-$here/mod_auth_obo.so}
[ -f "$so" ] || { echo "bench: build first (no $so)" >&2; exit 1; }
so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so")
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-32}
USERS=${BENCH_USERS:-30}
IDP_PORT=19643; MC_PORT=19711; PLAIN_PORT=18181; OBO_PORT=18182

work=$(mktemp -d /tmp/obo-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    for conf in "$work"/plain.conf "$work"/obo.conf; do
        [ -f "$conf" ] && apache2 -f "$conf" -k stop 2>/dev/null || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/htdocs/api" "$work/logs"
head -c 512 /dev/urandom | base64 > "$work/htdocs/api/hello.txt"
for d in validate obo-shm obo-mc; do mkdir -p "$work/htdocs/$d"; cp "$work/htdocs/api/hello.txt" "$work/htdocs/$d/"; done
cp -r "$here/t/idp" "$here/t/lib" "$work/"
bash "$work/idp/mkpki.sh" "$work/pki" >/dev/null
# hex: raw bytes could end in a newline, which OBOCacheSecret file: strips
openssl rand -hex 32 > "$work/cache.key"
chmod -R a+rX "$work"; chown -R nobody "$work/logs"
chmod 600 "$work/cache.key"   # read by root at startup only (else OBO100)

perl "$work/idp/idp.pl" --port $IDP_PORT --state-dir "$work/idpstate" --pki-dir "$work/pki" \
    --log "$work/logs/idp.log" --lifetime 900 >/dev/null 2>&1 &
pids+=($!)
timeout 900 memcached -l 127.0.0.1 -p $MC_PORT -U 0 -u nobody -t 2 &
pids+=($!)
for i in $(seq 50); do
    curl -s -o /dev/null --cacert "$work/pki/ca.pem" "https://127.0.0.1:$IDP_PORT/control/counters" && break
    sleep 0.2
done

mods=/usr/lib/apache2/modules
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
OBOMetadataURL https://127.0.0.1:$IDP_PORT/tenant1/v2.0/.well-known/openid-configuration
OBOCACertificateFile $work/pki/ca.pem
OBOAudience api://test-api
OBOClientID middle-tier-api
OBOClientSecret s3cret-for-tests
OBOCacheSecret file:$work/cache.key
<Location /validate>
    AuthType obo
    Require obo-scope access_as_user
</Location>
<Location /obo-shm>
    AuthType obo
    Require obo-scope access_as_user
    OBOScope api://downstream/read
    OBOPassToken header X-Downstream-Token
</Location>
CONF
} > "$work/obo.conf"
# memcached: a virtual host of the same instance with its own cache
cat >> "$work/obo.conf" <<CONF
Listen 127.0.0.1:$((OBO_PORT + 1))
<VirtualHost 127.0.0.1:$((OBO_PORT + 1))>
    OBOCache memcached 127.0.0.1:$MC_PORT
    <Location /obo-mc>
        AuthType obo
        Require obo-scope access_as_user
        OBOScope api://downstream/read
        OBOPassToken header X-Downstream-Token
    </Location>
</VirtualHost>
CONF
apache2 -f "$work/plain.conf" -k start
apache2 -f "$work/obo.conf" -k start
sleep 1

mint() { # user
    OBO_TEST_IDP_PORT=$IDP_PORT OBO_TEST_PKI_DIR="$work/pki" \
        perl -I"$work/lib" -MOBOTest::Mint -e 'print mint(claims => { sub => $ARGV[0] })' "$1"
}
TOKEN=$(mint bench-user)
auth="Authorization: Bearer $TOKEN"
# warm every path once (JWKS fetch, first exchange) in each child
for u in "http://127.0.0.1:$OBO_PORT/validate/hello.txt" "http://127.0.0.1:$OBO_PORT/obo-shm/hello.txt" \
         "http://127.0.0.1:$((OBO_PORT + 1))/obo-mc/hello.txt"; do
    for i in $(seq 8); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$u")
        [ "$code" = 200 ] || { echo "bench: $u answered $code" >&2; tail -5 "$work/logs/obo.error_log" >&2; exit 1; }
    done
done

rps() { # url [header]
    local out
    if [ -n "${2:-}" ]; then
        out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -H "$2" "$1")
    else
        out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" "$1")
    fi
    if echo "$out" | grep -q 'Non-2xx'; then echo "bench: non-2xx answers from $1" >&2; exit 1; fi
    echo "$out" | awk '/Requests\/sec/ {print $2}'
}

echo "wrk -t2 -c$CONNS -d${DURATION}s, same 700-byte static file, $(nproc) cores"
# the baseline carries the same Authorization header: same bytes on the wire
base=$(rps "http://127.0.0.1:$PLAIN_PORT/api/hello.txt" "$auth")
printf '%-10s %10s req/s  ratio 1.000\n' plain "$base"
for row in "validate http://127.0.0.1:$OBO_PORT/validate/hello.txt" \
           "obo-shm http://127.0.0.1:$OBO_PORT/obo-shm/hello.txt" \
           "obo-mc http://127.0.0.1:$((OBO_PORT + 1))/obo-mc/hello.txt"; do
    set -- $row
    r=$(rps "$2" "$auth")
    printf '%-10s %10s req/s  ratio %.3f\n' "$1" "$r" "$(echo "$r / $base" | bc -l)"
done

# Miss (IdP call) vs hit latency, per fresh user, through the memcached path.
miss=(); hit=()
for i in $(seq "$USERS"); do
    tok=$(mint "latency-user-$i")
    url="http://127.0.0.1:$((OBO_PORT + 1))/obo-mc/hello.txt"
    miss+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $tok" "$url")")
    hit+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $tok" "$url")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] * 1000}'; }
echo "latency over $USERS fresh users (curl time_total, new connection each):"
echo "  cache miss (IdP exchange): median $(median "${miss[@]}") ms"
echo "  cache hit (memcached):     median $(median "${hit[@]}") ms"
curl -s --cacert "$work/pki/ca.pem" "https://127.0.0.1:$IDP_PORT/control/counters" \
    | perl -MJSON::PP -e 'my $c = decode_json(join "", <STDIN>); print "IdP token calls during the run: $c->{token}\n"'
