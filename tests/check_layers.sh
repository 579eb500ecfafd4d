#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The source layout's arrows (README, "Source layout"): the httpd glue
# (src/httpd/) calls the pipeline (src/), which calls idp/, which uses
# cache/, which uses telemetry/ and jose/; jose/ uses nothing of ours. An
# include against these arrows is one TAP failure naming it; so is an
# httpd header in the portable core, and a glue header including another
# glue header that includes it back (a circle).
top=${srcdir:-$(dirname "$0")/..}
src=$top/src

rank() {
    case $1 in
        httpd) echo 5 ;; .) echo 4 ;; idp) echo 3 ;; cache) echo 2 ;;
        telemetry) echo 1 ;; jose) echo 0 ;; *) echo -1 ;;
    esac
}

# layer of a header of ours by its name, or nothing (a system header)
layer_of() {
    for d in httpd . idp cache telemetry jose; do
        if [ -f "$src/$d/$1" ]; then echo "$d"; return; fi
    done
    case $1 in obo_build.h) echo . ;; esac
}

i=0
fail=0
out=${TMPDIR:-/tmp}/check_layers.$$
trap 'rm -f "$out"' EXIT INT TERM
: >"$out"
for d in httpd . idp cache telemetry jose; do
    for f in "$src/$d"/*.c "$src/$d"/*.h; do
        [ -f "$f" ] || continue
        r=$(rank "$d")
        name=${f#"$src"/}
        name=${name#./}
        for inc in $(sed -n -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f"); do
            l=$(layer_of "$inc")
            [ -n "$l" ] || continue
            if [ "$(rank "$l")" -gt "$r" ]; then
                echo "src/$name includes $inc ($l/), above its own layer ($d/)" >>"$out"
            fi
        done
        if [ "$d" != httpd ] &&
            grep -Eq '^[[:space:]]*#[[:space:]]*include[[:space:]]+[<"](httpd|http_[a-z_]+|ap_[a-z_]+|util_[a-z_]+)\.h[>"]' "$f"; then
            echo "src/$name (portable core) includes an httpd header" >>"$out"
        fi
        if [ "$d" = httpd ] && [ "${f%.h}" != "$f" ]; then
            for inc in $(sed -n -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"(mod_auth_obo[^"]*\.h)".*/\1/p' "$f"); do
                back=$(basename "$f")
                if [ -f "$src/httpd/$inc" ] && grep -Eq "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"$back\"" "$src/httpd/$inc"; then
                    echo "src/httpd/$back and src/httpd/$inc include each other" >>"$out"
                fi
            done
        fi
        i=$((i + 1))
    done
done
n=$(wc -l <"$out")
echo "1..2"
echo "ok 1 - $i files of src/ read"
if [ "$n" -eq 0 ]; then
    echo "ok 2 - every include runs httpd -> pipeline -> idp -> cache -> telemetry -> jose"
else
    echo "not ok 2 - $n include(s) against the layers"
    sed 's/^/# /' "$out"
    fail=1
fi
exit $fail
