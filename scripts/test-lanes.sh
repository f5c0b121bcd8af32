#!/usr/bin/env bash
# `make test`: the unit lane (in-process, mostly CPU-bound science) runs beside the rest of the
# suite (real hub, proxy, gateway, Slurm and Chromium: mostly waiting on processes and sockets),
# so that the two share the 2 cores instead of taking turns. The unit lane's report follows the
# rest's; the run fails if either lane fails.
# usage: scripts/test-lanes.sh PYTHON [pytest args...]
set -uo pipefail
python=$1
shift
unit_log=$(mktemp -t twinhub-unit-lane.XXXXXX)
"$python" -m pytest tests/unit "$@" >"$unit_log" 2>&1 &
unit=$!
trap 'kill -INT $unit 2>/dev/null; wait $unit; rm -f "$unit_log"' INT TERM
"$python" -m pytest --ignore=tests/unit "$@"
rest=$?
wait $unit
unit_status=$?
echo "================ unit lane (tests/unit, run beside the rest) ================"
cat "$unit_log"
rm -f "$unit_log"
echo "lanes: rest exit $rest, unit exit $unit_status"
[ "$rest" -eq 0 ] && [ "$unit_status" -eq 0 ]
