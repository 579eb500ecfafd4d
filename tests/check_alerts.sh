#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The shipped alert rules (docs/prometheus-alerts.yml) are valid Prometheus
# rules and fire as their unit tests say (docs/prometheus-alerts.test.yml):
# Debian's promtool (package prometheus). Without promtool the check is
# skipped (TAP "1..0 # SKIP"), unless OBO_REQUIRE_PROMTOOL=1 (CI) makes that a failure.
# Which metrics exist is checked against a running server by
# t/78_status_gauges.t.
set -u
top=${srcdir:-$(dirname "$0")/..}
cd "$top/docs" || exit 1
if ! command -v promtool >/dev/null 2>&1; then
    if [ "${OBO_REQUIRE_PROMTOOL:-0}" = 1 ]; then
        echo "1..1"
        echo "not ok 1 - promtool not found (apt-get install prometheus)"
        exit 1
    fi
    echo "1..0 # SKIP promtool not found (apt-get install prometheus)"
    exit 0
fi
echo "1..2"
if out=$(promtool check rules prometheus-alerts.yml 2>&1); then
    echo "ok 1 - promtool check rules prometheus-alerts.yml"
else
    echo "not ok 1 - promtool check rules prometheus-alerts.yml"
    echo "$out" | sed 's/^/# /'
fi
if out=$(promtool test rules prometheus-alerts.test.yml 2>&1); then
    echo "ok 2 - promtool test rules prometheus-alerts.test.yml"
else
    echo "not ok 2 - promtool test rules prometheus-alerts.test.yml"
    echo "$out" | sed 's/^/# /'
fi
