"""Load with ``wrk`` (a C load generator from Debian), so the client does not eat the cores.

The Python (httpx + asyncio) client of the first benchmarks spent more CPU per request than
the registry itself: at 50 clients it set the pace, not the server. ``wrk`` spends a few
microseconds per request; it runs with one thread, pinned with ``taskset`` to the last core
when the machine has more than one, and reports its numbers through a Lua ``done`` hook as
one JSON line (requests, errors, latency percentiles in microseconds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPORT = r"""
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx_3xx": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


class WrkMissing(RuntimeError):
    """``wrk`` is not installed (``scripts/ensure-system-packages.sh test`` installs it)."""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if not path:
        raise WrkMissing(
            "wrk is not installed: run `scripts/ensure-system-packages.sh test` (as root) or "
            "`apt-get install wrk`"
        )
    return path


def load(url: str, clients: int, seconds: float, headers: dict[str, str] | None = None) -> dict:
    """``clients`` keep-alive connections doing GET ``url`` for ``seconds``: req/s and latency."""
    with tempfile.TemporaryDirectory(prefix="twinhub-wrk-") as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(REPORT)
        cmd = [wrk_path(), "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "-s", str(script)]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        cpus = os.cpu_count() or 1
        if cpus > 1 and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpus - 1), *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    raw = json.loads(line[4:])
    elapsed = raw["duration_us"] / 1e6
    return {
        "req_per_s": round(raw["requests"] / elapsed, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p95_ms": round(raw["p95_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "requests": raw["requests"],
        "errors": raw["errors"],
        "non_2xx_3xx": raw["non_2xx_3xx"],
    }
