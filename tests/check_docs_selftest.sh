#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/check_docs.pl must pass on the documentation as it is and FAIL on a
# copy of it with one planted mistake of each kind it claims to catch: a
# wrong default, context or range, a wrong or missing message level or id, a
# table broken by a blank line, a directive missing from the topic index, a
# link that leads nowhere. One TAP test per plant; run by `make check`.
set -u
top=${srcdir:-$(dirname "$0")/..}
check="$top/tests/check_docs.pl"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_docs.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
i=0

fresh_copy() {
    rm -rf "$tmp/copy" && mkdir "$tmp/copy" &&
        cp "$top/README.md" "$tmp/copy/" && cp -R "$top/docs" "$tmp/copy/"
}

# plant NAME FILE PERL-SUBSTITUTION EXPECTED-FAILURE-REGEX
plant() {
    i=$((i + 1))
    fresh_copy || { echo "not ok $i - $1: cannot copy the docs"; return; }
    perl -0pi -e "$3" "$tmp/copy/$2"
    if cmp -s "$top/$2" "$tmp/copy/$2"; then
        echo "not ok $i - $1: the plant did not change $2 (update this test)"
        return
    fi
    srcdir=$top perl "$check" "$tmp/copy" >"$tmp/out" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && grep -Eq "^not ok [0-9]+ - .*$4" "$tmp/out"; then
        echo "ok $i - $1: caught ($(grep -E "^not ok [0-9]+ - .*$4" "$tmp/out" | head -n 1 |
            cut -c1-120))"
    else
        echo "not ok $i - $1: check_docs.pl exited $rc without a failure matching /$4/"
        sed 's/^/# /' "$tmp/out" | grep '^# not ok' | head -n 5
    fi
}

echo "1..18"

i=$((i + 1))
if fresh_copy && srcdir=$top perl "$check" "$tmp/copy" >"$tmp/out" 2>&1; then
    echo "ok $i - an unchanged copy of the docs passes"
else
    echo "not ok $i - an unchanged copy of the docs fails:"
    sed 's/^/# /' "$tmp/out" | grep '^# not ok' | head -n 10
fi

plant "wrong numeric default" docs/directives.md \
    's/(\| Default \| `OBOClockSkew )60`/${1}61`/' 'OBOClockSkew: default 60'
plant "wrong default in milliseconds written as seconds" docs/directives.md \
    's/(\| Default \| `OBOTimeout 3 )10`/${1}20`/' 'OBOTimeout: default 10000'
plant "wrong keyword default" docs/directives.md \
    's/(\| Default \| `OBOCache )shm`/${1}none`/' 'OBOCache: default shm'
plant "wrong on/off default" docs/directives.md \
    's/(\| Default \| `OBOLongRunning )off`/${1}on`/' 'OBOLongRunning: default off'
plant "wrong string default" docs/directives.md \
    's/(\| Default \| `OBORemoteUserClaim )sub`/${1}oid`/' 'OBORemoteUserClaim: default "sub"'
plant "wrong context" docs/directives.md \
    's/(## OBOCacheMargin\n.*?\| Context \| server config, virtual host)/$1, directory/s' \
    'OBOCacheMargin: Context'
plant "wrong range" docs/directives.md \
    's/(## OBONegativeCacheTime\n.*?)0 to 86400/${1}0 to 3600/s' \
    'OBONegativeCacheTime: the code accepts 0 to 86400'
plant "wrong range with units" docs/directives.md \
    's/(## OBOSessionLifetime\n.*?)366 d/${1}365 d/s' 'OBOSessionLifetime: the code accepts'
plant "wrong message level" docs/troubleshooting.md \
    's/^\| OBO330 \| warn \|/| OBO330 | info |/m' 'OBO330: logged at .warn.'
plant "undocumented message id" docs/troubleshooting.md \
    's/^\| OBO331 \|[^\n]*\n//m' 'OBO331 is logged by src/ but has no row'
plant "table broken by a blank line" docs/troubleshooting.md \
    's/\n(\| OBO131 \|)/\n\n$1/' 'a table row outside a table'
plant "directive missing from the topic index" docs/directives.md \
    's/\[OBOClockSkew\]\(#oboclockskew\),\s*//' \
    'OBOClockSkew: listed in .Directives by topic.'
plant "a URL directive said to accept http" docs/directives.md \
    's/(## OBOJWKSURL\n.*?)It must be an `https` URL/${1}It must be an `http` or `https` URL/s' \
    'OBOJWKSURL: the code accepts https URLs only'
plant "a wrong unknown-kid refetch window" docs/directives.md \
    's/at most once per 10 seconds per provider/at most once per 60 seconds per provider/' \
    'unknown-kid refetch: at most once per 10 s'
plant "a CGI recipe aliased into Debian's public cgi-bin" docs/cgi-backend.md \
    's{/usr/lib/reports-api/cgi-bin/report$}{/usr/lib/cgi-bin/report}m' \
    'ScriptAlias into /usr/lib/cgi-bin'
plant "link to a missing file" README.md \
    's/\]\(docs\/directives\.md\)/](docs\/directive.md)/' 'link docs/directive.md: .* does not exist'
plant "link to a missing heading" docs/directives.md \
    's/proxy-backend\.md#what-the-backend-receives/proxy-backend.md#what-the-backend-gets/' \
    'has a heading #what-the-backend-gets'
