"""``python -m tests.bench [spawn clusters registry proxies hostile users fairness runs
scaling startup] [--users 10,50,100]`` (`make bench`).

Runs the chosen benchmarks (all by default), prints one table and writes
``bench-results.json`` in the current directory (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import clusters, fairness, hostile, proxies, registry, runs, scaling, spawns, startup, users
from .report import table

BENCHMARKS = {
    "spawn": spawns.run,
    "clusters": clusters.run,
    "registry": registry.run,
    "proxies": proxies.run,
    "hostile": hostile.run,
    "users": users.run,
    "fairness": fairness.run,
    "runs": runs.run,
    "scaling": scaling.run,
    "startup": startup.run,
}


@contextmanager
def load_sampled(into: dict, every: float = 5.0):
    """The 1-minute load average, sampled while a benchmark runs, as ``into["load_1min"]``
    (min, median, max): every row of the table shows the load its numbers were taken at."""
    samples = [os.getloadavg()[0]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        samples.append(os.getloadavg()[0])
        ordered = sorted(samples)
        into["load_1min"] = {
            "min": round(ordered[0], 2),
            "median": round(ordered[len(ordered) // 2], 2),
            "max": round(ordered[-1], 2),
        }


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``which`` empty means every benchmark."""
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    # no `choices`: argparse (3.11) checks the empty default list against them and refuses
    # a call without arguments, which is `make bench`'s
    parser.add_argument("which", nargs="*", metavar="|".join(BENCHMARKS), help="all if none")
    parser.add_argument("--users", default="10,50,100", help="sizes of the many-users rounds")
    parser.add_argument("--output", default="bench-results.json")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.which) - set(BENCHMARKS))
    if unknown:
        parser.error(
            f"unknown benchmark(s): {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    # the hubs run in sessions of their own: on SIGTERM (a timeout, CI) unwind so that each
    # benchmark's `finally` stops its hub instead of leaving it running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    }
    with tempfile.TemporaryDirectory(prefix="twinhub-bench-") as tmp:
        for name in args.which or list(BENCHMARKS):
            print(f"bench: {name} ...", flush=True)
            t = time.monotonic()
            kwargs = {}
            if name == "users":
                kwargs["sizes"] = tuple(int(n) for n in args.users.split(","))
            load: dict = {}
            with load_sampled(load):
                results[name] = BENCHMARKS[name](Path(tmp) / name, **kwargs)
            results[name].update(load, elapsed_s=round(time.monotonic() - t, 1))
            Path(args.output).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
