#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The directive reference (docs/directives.md) and the module's command
# tables (AP_INIT_* in src/) must name the same directives: one TAP test per
# directive found on either side, failing where the other side lacks it, or
# where conf/auth_obo.conf (which says it lists every directive) lacks it.
# Run by `make check` (srcdir comes from automake) or by hand from the tree.
set -u
top=${srcdir:-$(dirname "$0")/..}
doc="$top/docs/directives.md"
conf="$top/conf/auth_obo.conf"
tmp=${TMPDIR:-/tmp}/check_directives.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# Names in the command tables; a call may span lines, so newlines go first.
cat "$top"/src/httpd/mod_auth_obo*.c | tr '\n' ' ' |
    grep -oE 'AP_INIT_[A-Z0-9_]+[[:space:]]*\([[:space:]]*"[^"]+"' |
    sed -E 's/.*"([^"]+)"$/\1/' | sort -u >"$tmp.code"
# Names in the reference: its "## Name" headings.
sed -n -E 's/^##[[:space:]]+([A-Za-z][A-Za-z0-9]*)[[:space:]]*$/\1/p' "$doc" |
    sort -u >"$tmp.doc"

n_code=$(wc -l <"$tmp.code")
n_doc=$(wc -l <"$tmp.doc")
sort -u "$tmp.code" "$tmp.doc" >"$tmp.all"
echo "1..$(($(wc -l <"$tmp.all") + 1))"
i=0
if [ "$n_code" -gt 0 ]; then
    i=$((i + 1)); echo "ok $i - $n_code directives in src/, $n_doc in docs/directives.md"
else
    i=$((i + 1)); echo "not ok $i - no AP_INIT_* directive found in $top/src"
fi
while read -r name; do
    i=$((i + 1))
    if ! grep -qx "$name" "$tmp.doc"; then
        echo "not ok $i - $name is in the command table but has no '## $name' in docs/directives.md"
    elif ! grep -qx "$name" "$tmp.code"; then
        echo "not ok $i - $name is documented in docs/directives.md but is not in the command table"
    elif ! grep -qE "^[[:space:]]*#?[[:space:]]*$name([[:space:]]|\$)" "$conf"; then
        echo "not ok $i - $name is not listed in conf/auth_obo.conf"
    else
        echo "ok $i - $name"
    fi
done <"$tmp.all"
