#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build mod_auth_obo and run all of its tests:
#   1. installs the build and test dependencies (Debian 12, when root and missing)
#   2. autogen + out-of-tree configure --enable-werror + make
#   3. unit tests: make check (TAP)
#   4. the Apache::Test suite (t/): as an unprivileged user, from a copy of t/;
#      the whole suite as OBO_TEST_JOBS runs side by side, each with its own
#      copy ($OBO_TEST_RUN_DIR-k), ports and servers (TEST.PL options such as
#      -httpd go to each); named files run in one run
#
# Usage: scripts/test.sh [t/TEST.PL arguments, e.g. -v t/01_basic.t]
#        scripts/test.sh --build-only     (packages + build; used by scripts/demo.sh)
# Environment:
#   OBO_BUILD_DIR       build directory          (default /tmp/mod_auth_obo-build)
#   OBO_TEST_RUN_DIR    where t/ is copied/run   (default /tmp/mod_auth_obo-test)
#   OBO_TEST_USER       unprivileged user         (default obotest; created if root)
#   OBO_SKIP_APT=1      never call apt-get
#   OBO_SKIP_UNIT=1     skip make check
#   OBO_SKIP_BUILD=1    reuse the existing build (needs OBO_BUILD_DIR/mod_auth_obo.so)
#   OBO_TEST_REQUIRE_MODULE=1  (default) fail instead of skipping module tests when the
#                       built module is still a placeholder without directives
#   OBO_TEST_IDP_PORT / OBO_TEST_MEMCACHED_PORT / OBO_TEST_BACKEND_PORT
#   OBO_TEST_ENV        extra NAME=VALUE words (space-separated) for the suite's
#                       environment, e.g. "APACHE_TEST_HTTPD=... ASAN_OPTIONS=..."
#                       (scripts/asan.sh); the test user does not inherit ours
#   OBO_TEST_MPM        prefork | worker | event: MPM of the run (default: the
#                       machine's; scripts/mpm.sh runs the suite under another)
#   OBO_TEST_JOBS       runs side by side for the whole suite (default 4; 1: one
#                       run, as with named files). Run k uses the IdP, backend
#                       and memcached ports + k and APACHE_TEST_PORT + 200 k.
# Exit status is non-zero if anything fails, also if httpd crashed or a
# sanitizer reported during the run although every test passed (crash scan:
# core files in the run directory; "Segmentation fault", "exit signal",
# sanitizer reports in any httpd error log; t/lib/OBOTest/Crashes.pm).
set -euo pipefail
# The module implements every directive the suite probes for: by default a
# probe that fails is an error, never a silently skipped test file.
export OBO_TEST_REQUIRE_MODULE=${OBO_TEST_REQUIRE_MODULE:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${OBO_BUILD_DIR:-/tmp/mod_auth_obo-build}
RUN_DIR=${OBO_TEST_RUN_DIR:-/tmp/mod_auth_obo-test}
TEST_USER=${OBO_TEST_USER:-obotest}
SUITE_TIMEOUT=${OBO_TEST_SUITE_TIMEOUT:-1500}
BUILD_ONLY=0
if [[ ${1:-} == --build-only ]]; then BUILD_ONLY=1; shift; fi

say() { printf '\n==> %s\n' "$*"; }

# ------------------------------------------------------------ dependencies
DEPS=(autoconf automake libtool pkg-config make gcc
      apache2 apache2-dev libapr1-dev libaprutil1-dev
      libcurl4-openssl-dev libjansson-dev libssl-dev libmemcached-dev memcached
      openssl curl rsync
      libapache2-mod-perl2 libcrypt-jwt-perl libjson-perl libjson-xs-perl libwww-perl
      liblwp-protocol-https-perl libhttp-daemon-perl libio-socket-ssl-perl
      libcache-memcached-perl valgrind prometheus chromium)

missing=()
for p in "${DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ ${OBO_SKIP_APT:-0} != 1 && $(id -u) == 0 ]]; then
        say "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "warning: missing packages (not installing): ${missing[*]}" >&2
    fi
fi

# ------------------------------------------------------------------- build
if [[ ${OBO_SKIP_BUILD:-0} != 1 ]]; then
    say "build ($BUILD_DIR)"
    (cd "$ROOT" && ./autogen.sh >/dev/null 2>&1) || { echo "autogen.sh failed" >&2; (cd "$ROOT" && ./autogen.sh); exit 1; }
    # a build directory configured for another source tree is thrown away
    if [[ -d $BUILD_DIR && "$(cat "$BUILD_DIR/.obo-srcdir" 2>/dev/null)" != "$ROOT" ]]; then
        rm -rf "$BUILD_DIR"
    fi
    mkdir -p "$BUILD_DIR"
    echo "$ROOT" > "$BUILD_DIR/.obo-srcdir"
    cd "$BUILD_DIR"
    if [[ ! -f Makefile || "$ROOT/configure" -nt Makefile ]]; then
        "$ROOT/configure" --enable-werror >configure.out 2>&1 || { cat configure.out; exit 1; }
    fi
    make -j"$(nproc)"
fi
SO="$BUILD_DIR/mod_auth_obo.so"
[[ -f $SO ]] || { echo "error: $SO was not built" >&2; exit 1; }
((BUILD_ONLY)) && exit 0

# -------------------------------------------------------------- unit tests
if [[ ${OBO_SKIP_UNIT:-0} != 1 ]]; then
    say "unit tests (make check)"
    cd "$BUILD_DIR"
    if ! make -j"$(nproc)" check; then
        find "$BUILD_DIR/tests" -name '*.log' -exec sh -c 'echo "--- $1"; cat "$1"' _ {} \; 2>/dev/null | tail -200
        echo "error: unit tests failed" >&2
        exit 1
    fi
fi

# -------------------------------------------------- Apache::Test suite ---
runner=()
if [[ $(id -u) == 0 ]]; then
    # Apache::Test refuses to run as root
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir "$RUN_DIR" --no-create-home \
                --shell /usr/sbin/nologin "$TEST_USER"
    fi
    runner=(runuser -u "$TEST_USER" --)
fi
read -r -a extra_env <<< "${OBO_TEST_ENV:-}"
# the Apache::Test port the caller chose (OBO_TEST_ENV), else its default
APACHE_PORT=8529
for w in "${extra_env[@]}"; do
    [[ $w == APACHE_TEST_PORT=* ]] && APACHE_PORT=${w#APACHE_TEST_PORT=}
done

# One run of t/TEST.PL in its own directory (a copy of t/) with its own
# ports: run_suite DIR SLOT CONSOLE [TEST.PL arguments]. Slot k moves every
# port by k (the IdP, backend, memcached) or 200 k (Apache::Test's vhosts),
# so that runs beside each other never meet. CONSOLE 1: output to the
# terminal too. Writes DIR/suite.out and DIR/rc.
run_suite() {
    local dir=$1 slot=$2 console=$3 rc=0
    shift 3
    # daemons a previous, interrupted run may have left (only our own pid files)
    for pidf in "$dir"/t/run/*.pid "$dir"/t/logs/httpd.pid; do
        [[ -f $pidf ]] || continue
        pid=$(head -c 20 "$pidf" | tr -dc 0-9)
        [[ -n $pid ]] && grep -qs "$dir" "/proc/$pid/cmdline" && kill -TERM "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
    mkdir -p "$dir"
    rsync -a --exclude logs --exclude run --exclude pki --exclude state \
          --exclude conf/httpd.conf --exclude conf/extra.conf --exclude conf/apache_test_config.pm \
          --exclude conf/obo_features.conf "$ROOT/t/" "$dir/t/"
    # what tests compare with the running module (docs/prometheus-alerts.yml)
    rsync -a "$ROOT/docs/" "$dir/docs/"
    install -m 0755 "$SO" "$dir/mod_auth_obo.so"
    ((${#runner[@]})) && chown -R "$TEST_USER:" "$dir"
    local idp=${OBO_TEST_IDP_PORT:-19443} mc=${OBO_TEST_MEMCACHED_PORT:-19211}
    local be=${OBO_TEST_BACKEND_PORT:-19080}
    (
        cd "$dir"
        "${runner[@]}" env HOME="$dir" OBO_MODULE_PATH="$dir/mod_auth_obo.so" \
            ${OBO_TEST_REQUIRE_MODULE:+OBO_TEST_REQUIRE_MODULE=$OBO_TEST_REQUIRE_MODULE} \
            OBO_TEST_IDP_PORT=$((idp + slot)) OBO_TEST_MEMCACHED_PORT=$((mc + slot)) \
            OBO_TEST_BACKEND_PORT=$((be + slot)) \
            ${OBO_TEST_MPM:+OBO_TEST_MPM=$OBO_TEST_MPM} \
            ${OBO_TEST_CRASH_SELFTEST:+OBO_TEST_CRASH_SELFTEST=$OBO_TEST_CRASH_SELFTEST} \
            ${OBO_REQUIRE_CHROMIUM:+OBO_REQUIRE_CHROMIUM=$OBO_REQUIRE_CHROMIUM} \
            "${extra_env[@]}" APACHE_TEST_PORT=$((APACHE_PORT + 200 * slot)) HARNESS_TIMER=1 \
            timeout -k 30 "$SUITE_TIMEOUT" perl t/TEST.PL "$@" >"$dir/suite.out" 2>&1
    ) &
    local job=$!
    if ((console)); then
        tail -n +1 -F --pid=$job "$dir/suite.out" 2>/dev/null &
    fi
    wait $job || rc=$?
    ((console)) && sleep 0.3
    echo "$rc" > "$dir/rc"
}

# The files of a whole-suite run, dealt out to JOBS runs side by side:
# longest first (t/timings: seconds per file, from an earlier run; 10 for a
# file it does not know), each to the run with the least work so far. Most
# of a file's time is spent waiting (refresh intervals, restarts, a second
# httpd starting), so runs side by side overlap their waits.
deal_files() {
    local jobs=$1
    perl -e '
        my ($jobs, $tf, @files) = @ARGV;
        my %t;
        if (open my $fh, "<", $tf) { while (<$fh>) { $t{$2} = $1 if /^\s*([\d.]+)\s+(\S+)/ } }
        my @load = (0) x $jobs; my @out = map { [] } 1 .. $jobs;
        for my $f (sort { ($t{$b} // 10) <=> ($t{$a} // 10) || $a cmp $b } @files) {
            my ($k) = sort { $load[$a] <=> $load[$b] || $a <=> $b } 0 .. $jobs - 1;
            push @{ $out[$k] }, $f; $load[$k] += $t{$f} // 10;
        }
        print join(" ", sort @$_), "\n" for @out;
    ' "$jobs" "$ROOT/t/timings" $(cd "$ROOT" && ls t/*.t)
}

JOBS=${OBO_TEST_JOBS:-4}
dirs=()
named=0
for a in "$@"; do [[ $a == *.t ]] && named=1; done
if ((!named && JOBS > 1)); then
    say "Apache::Test suite: $JOBS runs side by side (${RUN_DIR}-1 .. ${RUN_DIR}-$JOBS)"
    mapfile -t shares < <(deal_files "$JOBS")
    k=0
    for share in "${shares[@]}"; do
        k=$((k + 1))
        [[ -n $share ]] || continue
        read -r -a files <<< "$share"
        echo "  run $k: ${files[*]}"
        dirs+=("${RUN_DIR}-$k")
        run_suite "${RUN_DIR}-$k" "$k" 0 "$@" "${files[@]}" &
    done
    wait
else
    say "Apache::Test suite ($RUN_DIR)"
    dirs=("$RUN_DIR")
    run_suite "$RUN_DIR" 0 1 "$@"
fi

rc=0
files=0
tests=0
for d in "${dirs[@]}"; do
    r=$(cat "$d/rc" 2>/dev/null || echo 1)
    if ((${#dirs[@]} > 1)); then
        say "run $d: exit $r"
        # the harness's verdicts and summary; the whole output is in suite.out
        grep -E '^(\[[0-9:]+\] )?t/\S+\.t \.+ |^Failed|^Files=|^Result|^t/\S+\.t +\(|Dubious|not ok' \
            "$d/suite.out" || true
    fi
    ((r != 0 && rc == 0)) && rc=$r
    read -r nf nt < <(sed -n 's/^Files=\([0-9]*\), Tests=\([0-9]*\).*/\1 \2/p' "$d/suite.out" |
                      tail -n 1; echo)
    files=$((files + ${nf:-0}))
    tests=$((tests + ${nt:-0}))
done
if ((${#dirs[@]} > 1)); then
    say "all runs: Files=$files, Tests=$tests, exit $rc"
fi

# A file that failed beside three other runs is run once more, alone: a
# few files measure time (a memcached stopped for 2 s, a lock held for a
# while) and a machine busy with four runs can stretch it. The suite then
# passes only if each such file passes alone, and the log names them; a
# crash in any run still fails it (below).
if ((${#dirs[@]} > 1 && rc != 0)); then
    mapfile -t again < <(for d in "${dirs[@]}"; do
        sed -n 's/^\(t\/[^ ]*\.t\) *(Wstat.*/\1/p' "$d/suite.out"; done | sort -u)
    if ((${#again[@]})); then
        say "failed beside the other runs, run again alone: ${again[*]}"
        dirs+=("${RUN_DIR}-again")
        run_suite "${RUN_DIR}-again" 0 1 "$@" "${again[@]}"
        rc=$(cat "${RUN_DIR}-again/rc" 2>/dev/null || echo 1)
        ((rc == 0)) && say "passed alone: ${again[*]} (timing-sensitive beside other runs)"
    fi
fi

# where the time goes: the ten slowest files (HARNESS_TIMER's "NNN ms")
say "slowest files"
for d in "${dirs[@]}"; do
    perl -ne 'print "$2 $1\n" if m{^(?:\[[\d:]+\]\s+)?(t/\S+\.t)\s.*?\b(\d+) ms}' "$d/suite.out"
done | sort -rn | head -n 10 | awk '{ printf "  %7.1f s  %s\n", $1 / 1000, $2 }'

# crash scan of each run directory (t/TEST.PL scans too; this one also
# holds when TEST.PL arguments skipped its scan): a crash fails the run
crash=0
for d in "${dirs[@]}"; do
    env "${extra_env[@]}" perl -I"$d/t/lib" -MOBOTest::Crashes \
        -e 'exit OBOTest::Crashes::main(@ARGV)' "$d" --all || crash=1
done
if ((crash && rc == 0)); then rc=1; fi

# keep the logs next to the sources for inspection (t/logs is git-ignored)
rm -rf "$ROOT/t/logs"
mkdir -p "$ROOT/t/logs"
for d in "${dirs[@]}"; do
    dest="$ROOT/t/logs"
    ((${#dirs[@]} > 1)) && dest="$ROOT/t/logs/${d##*-}" && mkdir -p "$dest"
    cp -a "$d/t/logs/." "$dest/" 2>/dev/null || true
done

# the times of this run in t/timings' form, for deal_files
if ((${#dirs[@]} > 1)); then
    {
        sed -n '1,3p' "$ROOT/t/timings" 2>/dev/null
        for d in "${dirs[@]}"; do
            perl -ne 'printf "%6.1f %s\n", $2 / 1000, $1
                          if m{^(?:\[[\d:]+\]\s+)?(t/\S+\.t)\s.*?\b(\d+) ms}' "$d/suite.out"
        done | sort -k2
    } > "$ROOT/t/logs/timings"
fi

if ((rc != 0)); then
    echo
    echo "error: Apache::Test suite failed (exit $rc); logs in $ROOT/t/logs" >&2
    for d in "${dirs[@]}"; do
        [[ $(cat "$d/rc" 2>/dev/null) == 0 ]] && continue
        for f in error_log idp.log idp.out backend.out memcached.out; do
            [[ -s $d/t/logs/$f ]] || continue
            echo "--- tail of $d/t/logs/$f"
            tail -n 40 "$d/t/logs/$f" | cut -c1-400
        done
    done
    exit "$rc"
fi
say "all tests passed"
