#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build mod_auth_obo and run all of its tests:
#   1. installs the build and test dependencies (Debian 12, when root and missing)
#   2. autogen + out-of-tree configure --enable-werror + make
#   3. unit tests: make check (TAP)
#   4. the Apache::Test suite (t/): as an unprivileged user, from a copy of t/
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
      libcache-memcached-perl valgrind)

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
say "Apache::Test suite ($RUN_DIR)"
# daemons a previous, interrupted run may have left (only our own pid files)
for pidf in "$RUN_DIR"/t/run/*.pid "$RUN_DIR"/t/logs/httpd.pid; do
    [[ -f $pidf ]] || continue
    pid=$(head -c 20 "$pidf" | tr -dc 0-9)
    [[ -n $pid ]] && grep -qs "$RUN_DIR" "/proc/$pid/cmdline" && kill -TERM "$pid" 2>/dev/null || true
done
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
rsync -a --exclude logs --exclude run --exclude pki --exclude state \
      --exclude conf/httpd.conf --exclude conf/extra.conf --exclude conf/apache_test_config.pm \
      --exclude conf/obo_features.conf "$ROOT/t/" "$RUN_DIR/t/"
install -m 0755 "$SO" "$RUN_DIR/mod_auth_obo.so"

runner=()
if [[ $(id -u) == 0 ]]; then
    # Apache::Test refuses to run as root
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir "$RUN_DIR" --no-create-home \
                --shell /usr/sbin/nologin "$TEST_USER"
    fi
    chown -R "$TEST_USER:" "$RUN_DIR"
    runner=(runuser -u "$TEST_USER" --)
fi

export OBO_MODULE_PATH="$RUN_DIR/mod_auth_obo.so"
read -r -a extra_env <<< "${OBO_TEST_ENV:-}"
rc=0
cd "$RUN_DIR"
"${runner[@]}" env HOME="$RUN_DIR" OBO_MODULE_PATH="$OBO_MODULE_PATH" \
    ${OBO_TEST_REQUIRE_MODULE:+OBO_TEST_REQUIRE_MODULE=$OBO_TEST_REQUIRE_MODULE} \
    ${OBO_TEST_IDP_PORT:+OBO_TEST_IDP_PORT=$OBO_TEST_IDP_PORT} \
    ${OBO_TEST_MEMCACHED_PORT:+OBO_TEST_MEMCACHED_PORT=$OBO_TEST_MEMCACHED_PORT} \
    ${OBO_TEST_BACKEND_PORT:+OBO_TEST_BACKEND_PORT=$OBO_TEST_BACKEND_PORT} \
    ${OBO_TEST_MPM:+OBO_TEST_MPM=$OBO_TEST_MPM} \
    ${OBO_TEST_CRASH_SELFTEST:+OBO_TEST_CRASH_SELFTEST=$OBO_TEST_CRASH_SELFTEST} \
    "${extra_env[@]}" HARNESS_TIMER=1 \
    timeout -k 30 "$SUITE_TIMEOUT" perl t/TEST.PL "$@" 2>&1 | tee "$RUN_DIR/suite.out" ||
    rc=${PIPESTATUS[0]}

# where the time goes: the ten slowest files (HARNESS_TIMER's "NNN ms")
say "slowest files"
perl -ne 'print "$2 $1\n" if m{^(?:\[[\d:]+\]\s+)?(t/\S+\.t)\s.*?\b(\d+) ms}' \
    "$RUN_DIR/suite.out" | sort -rn | head -n 10 |
    awk '{ printf "  %7.1f s  %s\n", $1 / 1000, $2 }'

# crash scan of the whole run directory (t/TEST.PL scans too; this one also
# holds when TEST.PL arguments skipped its scan): a crash fails the run
crash=0
env "${extra_env[@]}" perl -I"$RUN_DIR/t/lib" -MOBOTest::Crashes \
    -e 'exit OBOTest::Crashes::main(@ARGV)' "$RUN_DIR" --all || crash=1
if ((crash && rc == 0)); then rc=1; fi

# keep the logs next to the sources for inspection (t/logs is git-ignored)
mkdir -p "$ROOT/t/logs"
cp -a "$RUN_DIR/t/logs/." "$ROOT/t/logs/" 2>/dev/null || true

if ((rc != 0)); then
    echo
    echo "error: Apache::Test suite failed (exit $rc); logs in $ROOT/t/logs" >&2
    for f in error_log idp.log idp.out backend.out memcached.out; do
        [[ -s $RUN_DIR/t/logs/$f ]] || continue
        echo "--- tail of t/logs/$f"
        tail -n 40 "$RUN_DIR/t/logs/$f" | cut -c1-400
    done
    exit "$rc"
fi
say "all tests passed"
