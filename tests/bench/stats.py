"""Summaries of timings: median and 95th percentile, in milliseconds or per second."""

from __future__ import annotations

import statistics


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(seconds: list[float]) -> dict[str, float]:
    """n, median and p95 in seconds (the table shows them)."""
    return {
        "n": len(seconds),
        "median_s": round(statistics.median(seconds), 4) if seconds else float("nan"),
        "p95_s": round(percentile(seconds, 95), 4),
    }


def ratio(twinhub: float, baseline: float) -> float:
    return round(twinhub / baseline, 2) if baseline else float("nan")
