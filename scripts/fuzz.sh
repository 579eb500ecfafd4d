#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs each libFuzzer target for a set time:
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Targets (fuzz/fuzz_<name>.c): jws jwks exchange discovery cache introspect bearer (default:
# all), 120 s each by default. Each is built with clang and
# -fsanitize=fuzzer,address,undefined into $OBO_FUZZ_DIR (default
# /tmp/obo-fuzz), starts from a copy of its seed corpus fuzz/corpus/<name>
# (new inputs stay in $OBO_FUZZ_DIR/<name>/corpus, never in the tree) and
# runs niced, one job. Crash inputs land in $OBO_FUZZ_DIR/<name>/ as
# crash-*/leak-*/timeout-*; add a fixed one to fuzz/corpus/<name>/ so that
# `make check` replays it. Prints executions per target; exits 1 if any
# target found something.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-120}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(jws jwks exchange discovery cache introspect bearer)
OUT=${OBO_FUZZ_DIR:-/tmp/obo-fuzz}
CC=${CLANG:-clang}
PKGS="apr-1 apr-util-1 jansson libcrypto libssl libcurl libmemcached"
# The whole core: the targets call into each other's parsers (a token
# endpoint answer is serialised for the cache, and so on).
CORE=$(ls "$ROOT"/src/obo_*.c "$ROOT"/src/{jose,idp,cache,telemetry}/obo_*.c)

mkdir -p "$OUT"
status=0
summary=""
for t in "${TARGETS[@]}"; do
    src="$ROOT/fuzz/fuzz_$t.c"
    [[ -f $src ]] || { echo "no target $t ($src)" >&2; exit 2; }
    dir="$OUT/$t"
    mkdir -p "$dir/corpus"
    echo "==> building fuzz_$t"
    # shellcheck disable=SC2086
    nice -n 19 "$CC" -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I"$ROOT/src" -I"$ROOT/src/idp" -I"$ROOT/src/cache" \
        -I"$ROOT/src/telemetry" -I"$ROOT/src/jose" $(pkg-config --cflags $PKGS) \
        "$src" $CORE $(pkg-config --libs $PKGS) -o "$dir/fuzz_$t" || exit 2
    cp -n "$ROOT/fuzz/corpus/$t"/* "$dir/corpus/" 2>/dev/null
    echo "==> fuzz_$t for $SECS s"
    (cd "$dir" && nice -n 19 "./fuzz_$t" -max_total_time="$SECS" -max_len=20000 -jobs=1 \
        -workers=1 -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 \
        corpus "$ROOT/fuzz/corpus/$t" >"$dir/run.log" 2>&1)
    rc=$?
    # -jobs writes the worker's output to fuzz-0.log
    log="$dir/run.log"
    [[ -f $dir/fuzz-0.log ]] && log="$dir/fuzz-0.log"
    execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    found=$(ls "$dir" | grep -cE '^(crash|leak|timeout|oom)-' || true)
    line="fuzz_$t: ${execs:-?} executions in $SECS s, exit $rc, $found finding(s)"
    [[ $rc -ne 0 || $found -ne 0 ]] && status=1
    echo "$line"
    summary+="$line"$'\n'
done
echo
echo "==> summary ($OUT)"
printf '%s' "$summary"
exit $status
