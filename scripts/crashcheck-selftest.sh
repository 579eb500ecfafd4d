#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Self-test of the suite's crash scan (t/lib/OBOTest/Crashes.pm): runs a short
# suite (t/00_infra.t) once clean, which must pass, and once per kind of
# finding, each of which must make scripts/test.sh fail with a CRASH SCAN
# message naming it:
#   segv   a real crash: SIGSEGV to a child of the main httpd (core file in t/,
#          "exit signal Segmentation fault" in t/logs/error_log)
#   core   a core file in the test tree (t/run/selftest/core)
#   asan   an AddressSanitizer report in an extra httpd's log (t/logs/httpd2_*)
#   ubsan  a "runtime error:" line in t/logs/cfgcheck_error_log
#   exit   an AH00052 "exit signal" line in an error_log under t/run
#
# Usage: scripts/crashcheck-selftest.sh [mode ...]     (default: all of them)
# Environment: as scripts/test.sh (OBO_BUILD_DIR, OBO_TEST_RUN_DIR, ports, ...);
# the module must be built (scripts/test.sh --build-only).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
modes=("$@")
((${#modes[@]})) || modes=(none segv core asan ubsan exit)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bad=0
for m in "${modes[@]}"; do
    log=$out/$m.log
    OBO_SKIP_BUILD=1 OBO_SKIP_UNIT=1 OBO_TEST_CRASH_SELFTEST=$([[ $m == none ]] || echo "$m") \
        "$ROOT/scripts/test.sh" t/00_infra.t >"$log" 2>&1
    rc=$?
    if [[ $m == none ]]; then
        if ((rc == 0)) && ! grep -q 'CRASH SCAN' "$log"; then
            echo "ok   - clean run passes (exit 0)"
        else
            echo "FAIL - clean run: exit $rc"; tail -30 "$log"; bad=1
        fi
        continue
    fi
    if ((rc != 0)) && grep -q 'CRASH SCAN' "$log" && grep -q 'planted\|core file\|Segmentation' "$log"; then
        echo "ok   - $m: the suite fails (exit $rc):"
        grep -A4 'CRASH SCAN' "$log" | grep '^\*\*\*   ' | sort -u | head -4 | sed 's/^/         /'
    else
        echo "FAIL - $m: exit $rc, no crash-scan failure"; tail -30 "$log"; bad=1
    fi
done
exit $bad
