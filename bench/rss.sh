#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Memory under distinct tokens: RSS of each httpd child (event MPM) while
# N distinct valid tokens go through AuthType obo, one request each.
#
#   flock /tmp/obo-bench.lock bench/rss.sh [path/to/mod_auth_obo.so]   (as root)
#
# Signs RSS_TOKENS (1,000,000) distinct RS256 tokens with a throw-away key
# (bench/mint_many.py; about 1 ms each per core), serves the key as a local
# JWKS file (no IdP: only validation is measured), starts one httpd (event
# MPM, 2 children x 25 threads, MaxConnectionsPerChild 0, so the same two
# children serve everything) and sends the tokens in chunks of RSS_STEP
# (100,000) with wrk (bench/tokens.lua, one pass each, -t1), printing every
# child's VmRSS after each chunk. What to look for: after the warm-up (the
# L1 of validated tokens filling, OBOValidatedTokenCache entries per
# process, and glibc's arenas reaching their working size) RSS stays flat,
# within +-10 %. RSS_CONNECTIONS (32), RSS_PORT (18191), RSS_SLOTS (the
# OBOValidatedTokenCache value, default: the module's default) and
# RSS_MAXMEMFREE (httpd's MaxMemFree in KiB, default: httpd's) can be set.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
so=${1:-$here/mod_auth_obo.so}
[ -f "$so" ] || { echo "rss: build first (no $so)" >&2; exit 1; }
so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so")
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
python3 -c 'import cryptography' 2>/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-cryptography >/dev/null
N=${RSS_TOKENS:-1000000}
STEP=${RSS_STEP:-100000}
CONNS=${RSS_CONNECTIONS:-32}
PORT=${RSS_PORT:-18191}
mods=/usr/lib/apache2/modules

work=$(mktemp -d /tmp/obo-rss.XXXXXX)
chmod 755 "$work"
cleanup() {
    [ -f "$work/rss.conf" ] && apache2 -f "$work/rss.conf" -k stop 2>/dev/null || true
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/htdocs/validate" "$work/logs"
echo hello > "$work/htdocs/validate/hello.txt"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/sign.key" 2>/dev/null
python3 - "$work/sign.key" > "$work/jwks.json" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
n = k.public_key().public_numbers()
b = lambda i: base64.urlsafe_b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "n": b(n.n), "e": b(n.e)}]}))
PY
ISSUER=https://issuer.test/rss/v2.0
t0=$(date +%s)
python3 "$here/bench/mint_many.py" "$work/sign.key" k1 "$ISSUER" "$N" "$work/tokens.txt" 14400
echo "signed $N distinct tokens in $(( $(date +%s) - t0 )) s"
split -l "$STEP" -d -a 4 "$work/tokens.txt" "$work/chunk."
rm -f "$work/tokens.txt"
chmod -R a+rX "$work"; chown -R nobody "$work/logs"

cat > "$work/rss.conf" <<CONF
ServerRoot $work
Listen 127.0.0.1:$PORT
ServerName localhost
PidFile $work/logs/httpd.pid
ErrorLog $work/logs/error_log
LogLevel warn
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authz_user_module $mods/mod_authz_user.so
LoadModule mime_module $mods/mod_mime.so
LoadModule auth_obo_module $so
TypesConfig /etc/mime.types
User nobody
Group nogroup
DocumentRoot $work/htdocs
KeepAlive On
MaxKeepAliveRequests 0
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadsPerChild 25
MaxRequestWorkers 50
ServerLimit 2
MaxConnectionsPerChild 0
${RSS_MAXMEMFREE:+MaxMemFree $RSS_MAXMEMFREE}
OBOJWKSFile $work/jwks.json
OBOIssuer $ISSUER
OBOAudience api://test-api
${RSS_SLOTS:+OBOValidatedTokenCache $RSS_SLOTS}
<Location /validate>
    AuthType obo
    Require obo-scope access_as_user
</Location>
CONF
apache2 -f "$work/rss.conf" -k start
sleep 1
url=http://127.0.0.1:$PORT/validate/hello.txt
code=$(curl -s -o /dev/null -w '%{http_code}' \
       -H "Authorization: Bearer $(head -1 "$work/chunk.0000")" "$url")
[ "$code" = 200 ] || { echo "rss: a token answered $code" >&2; tail -5 "$work/logs/error_log" >&2; exit 1; }

# One pass over a chunk, then exit (wrk would wait out -d): the
# benchmark's script plus a response() counting the answers.
{
    cat "$here/bench/tokens.lua"
    cat <<'LUA'
local done, bad = 0, 0
function response(status)
    done = done + 1
    if status ~= 200 then bad = bad + 1 end
    if done >= n then
        io.write(string.format("once: %d responses, %d not 200\n", done, bad))
        io.flush()
        os.exit(bad == 0 and 0 or 1)
    end
end
LUA
} > "$work/once.lua"

children() { ps -o pid= --ppid "$(cat "$work/logs/httpd.pid")" | tr -d ' '; }
rss_line() { # requests
    local line="$(printf '%9s' "$1")" pid
    for pid in $(children); do
        line="$line  $pid:$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' /proc/"$pid"/status) MiB"
    done
    echo "$line"
}
echo "requests   child:RSS (event MPM, 2 x 25 threads, wrk -t1 -c$CONNS, one request per token)"
rss_line 0
sent=0
for chunk in "$work"/chunk.*; do
    out=$(wrk -t1 -c"$CONNS" -d3600s -s "$work/once.lua" "$url" -- "$chunk") \
        || { echo "rss: answers other than 200: $out" >&2; exit 1; }
    sent=$((sent + $(wc -l < "$chunk")))
    rss_line "$sent"
done
