#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run the whole suite (scripts/test.sh: build, make check, Apache::Test) under
# one MPM. CI (.ci/run) runs the MPM the machine enables (Debian: event); this
# runs the others:
#
#   scripts/mpm.sh prefork [t/TEST.PL arguments]
#   scripts/mpm.sh worker
#   scripts/mpm.sh event
#   scripts/mpm.sh all        (prefork, worker, event one after the other)
#
# How: OBO_TEST_MPM makes t/TEST.PL hand Apache::Test an inherited config
# (t/run/inherit.conf, its -httpd_conf) with the machine's modules and that
# MPM; every httpd of the run (the main test server, the second httpd of
# OBOTest::Httpd2, the configurations checked by OBOTest::Config) then loads
# it; t/run/features.json records it ("mpm"), and the suite prints
# "using Apache/2.4.x (prefork MPM)". Under prefork the main server has up to
# 4 child processes (t/conf/extra.conf.in), under worker/event one child.
# Environment: as scripts/test.sh (OBO_BUILD_DIR, OBO_TEST_RUN_DIR, ports).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mpm=${1:-}
case $mpm in
    prefork|worker|event) shift ;;
    all)
        shift
        rc=0
        for m in prefork worker event; do
            echo "==> scripts/mpm.sh $m"
            "$0" "$m" "$@" || { rc=1; echo "==> $m: FAILED"; }
        done
        exit $rc ;;
    *) echo "usage: $0 prefork|worker|event|all [t/TEST.PL arguments]" >&2; exit 2 ;;
esac
export OBO_TEST_MPM=$mpm
exec "$ROOT/scripts/test.sh" "$@"
