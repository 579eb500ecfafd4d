#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the multi-threaded unit test (two caches and two providers sharing
# one pool, hammered by several threads) under valgrind's helgrind and fails
# on any reported race or lock-order problem. `make check` runs the same test
# without valgrind; this run is what proves the absence of races.
#
# Usage: scripts/helgrind.sh [test program names, default: test_threads]
# Environment: OBO_BUILD_DIR (default /tmp/mod_auth_obo-build); the build is
# made with scripts/test.sh --build-only if it is missing. Needs valgrind
# (Debian package valgrind; installed by scripts/test.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${OBO_BUILD_DIR:-/tmp/mod_auth_obo-build}
TESTS=("${@:-test_threads}")

command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
[[ -f $BUILD_DIR/Makefile ]] || OBO_BUILD_DIR=$BUILD_DIR "$ROOT/scripts/test.sh" --build-only
for t in "${TESTS[@]}"; do
    make -C "$BUILD_DIR" -s "tests/unit/$t"
    echo "==> helgrind: $t"
    # The unit tests link the core statically (libtool convenience library),
    # so the program itself is what valgrind runs.
    valgrind --tool=helgrind --error-exitcode=1 --suppressions="$ROOT/scripts/helgrind.supp" \
        "$BUILD_DIR/tests/unit/$t"
done
echo "==> helgrind: no errors"
