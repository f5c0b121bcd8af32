"""Summaries of timings and ratios a reader can trust from one run.

A ratio of two medians from a handful of samples says little when single samples vary 2x (spawns
take 3.5-9 s on either hub): every ratio the benches report comes with n, the spread of each side
(p5-p95), a bootstrap confidence interval and the load average it was measured at.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Callable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(seconds: Sequence[float]) -> dict[str, float]:
    """n, median, p95 and the p5-p95 spread in seconds (the table shows them)."""
    return {
        "n": len(seconds),
        "median_s": round(statistics.median(seconds), 4) if seconds else float("nan"),
        "p95_s": round(percentile(seconds, 95), 4),
        "p5_s": round(percentile(seconds, 5), 4),
    }


def ratio(twinhub: float, baseline: float) -> float:
    return round(twinhub / baseline, 2) if baseline else float("nan")


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


def bootstrap_ratio_interval(
    twinhub: Sequence[float],
    baseline: Sequence[float],
    stat: Callable[[Sequence[float]], float] = statistics.median,
    confidence: float = 0.95,
    resamples: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``stat(twinhub) / stat(baseline)``.

    Both samples are resampled independently (they are independent spawns of two hubs), with a
    fixed seed so that the same timings always give the same interval.
    """
    if not twinhub or not baseline:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        a = stat(rng.choices(twinhub, k=len(twinhub)))
        b = stat(rng.choices(baseline, k=len(baseline)))
        ratios.append(a / b if b else float("inf"))
    tail = (1 - confidence) / 2 * 100
    return (round(percentile(ratios, tail), 3), round(percentile(ratios, 100 - tail), 3))


def compare(twinhub: Sequence[float], baseline: Sequence[float]) -> dict:
    """Ratios of median and p95 with their 95 % bootstrap intervals and the samples' sizes."""
    return {
        "n": [len(twinhub), len(baseline)],
        "median": ratio(statistics.median(twinhub), statistics.median(baseline)),
        "median_ci95": list(bootstrap_ratio_interval(twinhub, baseline)),
        "p95": ratio(p95(twinhub), p95(baseline)),
        "p95_ci95": list(bootstrap_ratio_interval(twinhub, baseline, stat=p95)),
    }


def paired(through: Sequence[float], direct: Sequence[float], seed: int = 0) -> dict:
    """Ratios of pairs measured back to back (through a proxy, then directly, in each
    repetition): the median of the per-pair ratios with the percentile-bootstrap 95 % interval
    of that median. A machine whose load drifts between repetitions moves both sides of a
    pair alike, so the pairs' ratios vary less than the two samples do."""
    ratios = [a / b for a, b in zip(through, direct, strict=True) if b]
    if not ratios:
        return {"n": 0, "median": float("nan"), "median_ci95": [float("nan")] * 2}
    rng = random.Random(seed)
    medians = [statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(4000)]
    return {
        "n": len(ratios),
        "median": round(statistics.median(ratios), 3),
        "median_ci95": [round(percentile(medians, 2.5), 3), round(percentile(medians, 97.5), 3)],
        "ratios": [round(r, 3) for r in ratios],
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, kept beside every measurement."""
    return [round(x, 2) for x in os.getloadavg()]
