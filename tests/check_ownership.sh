#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Files owned by httpd's User (review 30B): the children and every CGI they
# run can read a secret owned by that user, and rewrite a key set owned by
# it (or in a directory it owns), whatever the mode. `apache2 -t` started as
# root (as Debian starts httpd; the Apache::Test suite cannot be root) must
# warn (OBO100, OBO101, OBO102), and stay quiet for the same files owned by
# root. Skipped when not root or without a User account to chown to.
set -u
build=$(pwd)
so="$build/.libs/mod_auth_obo.so"
httpd=$(command -v apache2 || echo /usr/sbin/apache2)
moddir=/usr/lib/apache2/modules
user=www-data
if [ "$(id -u)" != 0 ] || ! id "$user" >/dev/null 2>&1 || [ ! -x "$httpd" ] || [ ! -f "$so" ]; then
    echo "1..0 # SKIP needs root, user $user, apache2 and the built module"
    exit 0
fi
dir=$(mktemp -d /tmp/obo-ownership-XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
top=${srcdir:-$(dirname "$0")/..}
printf 's3cret-for-tests' > "$dir/secret.txt"
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/cache.txt"
mkdir "$dir/keys" "$dir/jwksdir"
cp "$top/tests/unit/data/client.pem" "$top/tests/unit/data/client.key" "$dir/keys/" 2>/dev/null || {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/keys/client.key" \
        -out "$dir/keys/client.pem" -subj /CN=obo-test -days 2 >/dev/null 2>&1; }
printf '{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}' \
    > "$dir/jwksdir/jwks.json"
chmod 600 "$dir/secret.txt" "$dir/cache.txt" "$dir/keys/client.key"
chmod 644 "$dir/jwksdir/jwks.json"
conf() {
    cat > "$dir/httpd.conf" <<EOC
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:1
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
User $user
Group $user
LoadModule mpm_event_module $moddir/mod_mpm_event.so
LoadModule authn_core_module $moddir/mod_authn_core.so
LoadModule authz_core_module $moddir/mod_authz_core.so
LoadModule authz_user_module $moddir/mod_authz_user.so
LoadModule auth_obo_module $so
OBOCache memcached 127.0.0.1:1
OBOCacheSecret file:$dir/cache.txt
OBOMetadataURL https://127.0.0.1:1/t/v2.0/.well-known/openid-configuration
OBOJWKSFile $dir/jwksdir/jwks.json https://jwks.example/
OBOAudience api://test-api
OBOClientID middle-tier-api
OBOClientSecret file:$dir/secret.txt
<VirtualHost 127.0.0.1:1>
    OBOClientCertificate $dir/keys/client.pem $dir/keys/client.key
</VirtualHost>
<Location /api>
    AuthType obo
    Require valid-user
    OBOScope api://downstream/.default
</Location>
EOC
    "$httpd" -t -f "$dir/httpd.conf" 2>&1
}
echo "1..8"
n=0
check() {   # check yes|no REGEX text
    n=$((n + 1))
    if printf '%s' "$3" | grep -Eq "$2"; then found=yes; else found=no; fi
    if [ "$found" = "$1" ]; then echo "ok $n - $4"; else
        echo "not ok $n - $4"; printf '%s\n' "$3" | sed 's/^/# /'; fi
}
out=$(conf)
check no "OBO10[012].*owned by" "$out" "root-owned files: no ownership warning"
check yes "Syntax OK" "$out" "configtest passes"
chown "$user" "$dir/secret.txt" "$dir/cache.txt" "$dir/keys/client.key" "$dir/jwksdir/jwks.json"
out=$(conf)
check yes "OBO100: OBOClientSecret file $dir/secret.txt is owned by $user" "$out" \
    "OBOClientSecret file owned by the User: OBO100"
check yes "OBO100: OBOCacheSecret file $dir/cache.txt is owned by $user" "$out" \
    "OBOCacheSecret file owned by the User: OBO100"
check yes "OBO101: OBOClientCertificate private key file $dir/keys/client.key is owned by $user" \
    "$out" "private key owned by the User: OBO101"
check yes "OBO102: OBOJWKSFile file $dir/jwksdir/jwks.json is owned by $user" "$out" \
    "key set owned by the User (mode 0644): OBO102"
chown root "$dir/jwksdir/jwks.json"
chown "$user" "$dir/jwksdir"
out=$(conf)
check yes "OBO102: OBOJWKSFile directory $dir/jwksdir/ is owned by $user" "$out" \
    "key set in a directory the User owns: OBO102"
check yes "Syntax OK" "$out" "still a warning: configtest passes"
