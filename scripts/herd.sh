#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 9's herd: USERS users (default 1000) x 10 concurrent first requests
# spread over two servers (2 processes each) sharing memcached, the test IdP
# answering after SLOW seconds (default 1). Prints the IdP token calls; the
# target is exactly one per user. Runs t/95_herd.t's first case through
# scripts/test.sh (same environment variables for directories and ports), e.g.
#   OBO_BUILD_DIR=/tmp/b OBO_TEST_RUN_DIR=/tmp/r scripts/herd.sh 1000
# Slow on a small machine: each user's 10 requests hold 10 httpd workers while
# they wait for the one IdP call (100 workers in all).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
users=${1:-${USERS:-1000}}
slow=${SLOW:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export OBO_SKIP_UNIT=1
export OBO_TEST_ENV="${OBO_TEST_ENV:-} OBO_TEST_HERD_USERS=$users OBO_TEST_HERD_SLOW=$slow OBO_TEST_HERD_ONLY=1"
status=0
"$ROOT/scripts/test.sh" -v t/95_herd.t >"$log" 2>&1 || status=$?
grep -E '^ *(not )?ok |HERD:' "$log" || tail -40 "$log"
exit "$status"
