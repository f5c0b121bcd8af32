#!/usr/bin/env bash
# `make test`: the suite in two lanes that run side by side and share the 2 cores instead of
# taking turns. Most end-to-end tests wait on processes and sockets (a hub starting, a spawn,
# Chromium), the unit tests mostly compute, so two lanes of about equal length finish sooner
# than one after the other. Which test goes in which lane: tests/conftest.py (lane_of; about
# unit, faults and browser tests in lane 1, the rest in lane 2). Lane 1 runs in the background
# and its report is printed after lane 2's. Each lane is a pytest session of its own: its own
# gateway, unix-account prefix and temporary folders (tests/conftest.py), and its own
# artifacts folder. The run fails if either lane fails.
# usage: scripts/test-lanes.sh PYTHON [pytest args...]
set -uo pipefail
python=$1
shift
artifacts=${TWINHUB_TEST_ARTIFACTS:-$PWD/tests/ui/artifacts}
lane1_log=$(mktemp -t twinhub-lane1.XXXXXX)
TWINHUB_TEST_LANE=1 TWINHUB_TEST_ARTIFACTS=$artifacts/lane1 "$python" -m pytest "$@" \
    >"$lane1_log" 2>&1 &
first=$!
trap 'kill -INT $first 2>/dev/null; wait $first; rm -f "$lane1_log"' INT TERM
TWINHUB_TEST_LANE=2 TWINHUB_TEST_ARTIFACTS=$artifacts/lane2 "$python" -m pytest "$@"
second=$?
wait $first
first_status=$?
echo "================ lane 1 (run beside lane 2) ================"
cat "$lane1_log"
rm -f "$lane1_log"
echo "lanes: lane 1 exit $first_status, lane 2 exit $second"
[ "$first_status" -eq 0 ] && [ "$second" -eq 0 ]
