#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The source layout's arrows (README, "Source layout"): the httpd glue
# (src/httpd/) calls the pipeline (src/), which calls idp/, which uses
# cache/, which uses telemetry/ and jose/; jose/ uses nothing of ours. An
# include against these arrows is one TAP failure naming it; so is an
# httpd header in the portable core, and a glue header including another
# glue header that includes it back (a circle). Within the glue, units call
# one way too (README, "Source layout"): a unit that uses another's header,
# directly or through the headers it includes, while that unit uses its
# header back (fixups.c including session.h and session.c including
# fixups.h) is one TAP failure naming the two.
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
echo "1..3"
echo "ok 1 - $i files of src/ read"
if [ "$n" -eq 0 ]; then
    echo "ok 2 - every include runs httpd -> pipeline -> idp -> cache -> telemetry -> jose"
else
    echo "not ok 2 - $n include(s) against the layers"
    sed 's/^/# /' "$out"
    fail=1
fi

# ---- glue units that use each other ------------------------------------------

# the glue headers f includes directly
glue_includes() {
    sed -n -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"(mod_auth_obo[^"]*\.h)".*/\1/p' "$1"
}

# the glue headers f includes, directly or through other glue headers
glue_closure() {
    todo=$(glue_includes "$1")
    seen=" "
    while [ -n "$todo" ]; do
        next=""
        for h in $todo; do
            case $seen in *" $h "*) continue ;; esac
            seen="$seen$h "
            if [ -f "$src/httpd/$h" ]; then
                next="$next $(glue_includes "$src/httpd/$h")"
            fi
        done
        todo=$next
    done
    echo "$seen"
}

: >"$out"
for f in "$src/httpd"/*.c; do
    [ -f "$f" ] || continue
    u=$(basename "$f" .c)
    for h in $(glue_closure "$f"); do
        v=${h%.h}
        if [ "$v" = "$u" ] || [ ! -f "$src/httpd/$v.c" ] || [ ! -f "$src/httpd/$u.h" ]; then
            continue
        fi
        case $(glue_closure "$src/httpd/$v.c") in
        *" $u.h "*)
            # the pair once, in name order, whichever unit found it
            a=$(printf '%s\n%s\n' "$u" "$v" | sort | head -n 1)
            b=$(printf '%s\n%s\n' "$u" "$v" | sort | tail -n 1)
            echo "src/httpd/$a.c and src/httpd/$b.c use each other's header" >>"$out"
            ;;
        esac
    done
done
sort -u "$out" -o "$out"
n=$(wc -l <"$out")
if [ "$n" -eq 0 ]; then
    echo "ok 3 - no two glue units of src/httpd/ use each other"
else
    echo "not ok 3 - $n pair(s) of glue units use each other"
    sed 's/^/# /' "$out"
    fail=1
fi
exit $fail
