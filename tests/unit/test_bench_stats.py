"""The bench's statistics against independent references (numpy and scipy's bootstrap)."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tests.bench.stats import bootstrap_ratio_interval, compare, paired, percentile


@pytest.mark.parametrize("q", [0, 5, 37.5, 50, 95, 100])
def test_percentile_is_numpys_linear_interpolation(q: float) -> None:
    values = [random.Random(3).lognormvariate(1, 0.5) for _ in range(23)]
    assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_bootstrap_interval_of_a_ratio_agrees_with_scipy() -> None:
    rng = random.Random(1)
    twinhub = [rng.lognormvariate(1.6, 0.25) for _ in range(40)]
    baseline = [rng.lognormvariate(1.5, 0.25) for _ in range(40)]
    ours = bootstrap_ratio_interval(twinhub, baseline, resamples=8000)
    theirs = scipy_stats.bootstrap(
        (np.array(twinhub), np.array(baseline)),
        lambda a, b, axis=-1: np.median(a, axis=axis) / np.median(b, axis=axis),
        n_resamples=8000,
        method="percentile",
        paired=False,
        random_state=np.random.default_rng(0),
    ).confidence_interval
    # two independent Monte Carlo estimates of the same interval
    assert ours[0] == pytest.approx(theirs.low, abs=0.03)
    assert ours[1] == pytest.approx(theirs.high, abs=0.03)
    point = statistics.median(twinhub) / statistics.median(baseline)
    assert ours[0] < point < ours[1]


def test_the_interval_narrows_with_more_samples_and_covers_the_true_ratio() -> None:
    rng = random.Random(2)
    draw = lambda mu, n: [rng.lognormvariate(mu, 0.3) for _ in range(n)]  # noqa: E731
    small = compare(draw(0.1, 8), draw(0.0, 8))
    large = compare(draw(0.1, 200), draw(0.0, 200))
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(large["median_ci95"]) < width(small["median_ci95"]) / 2
    true_ratio = float(np.exp(0.1))  # lognormal medians are exp(mu)
    assert large["median_ci95"][0] < true_ratio < large["median_ci95"][1]
    assert large["n"] == [200, 200]


def test_paired_ratio_is_the_median_of_the_pairs_with_scipys_interval() -> None:
    """Each pair shares its repetition's load: the ratio is taken pair by pair."""
    rng = random.Random(7)
    load = [rng.uniform(0.5, 2.0) for _ in range(15)]  # drift that hits both sides of a pair
    direct = [1000 / x * rng.uniform(0.97, 1.03) for x in load]
    through = [0.8 * d * rng.uniform(0.97, 1.03) for d in direct]
    result = paired(through, direct)
    ratios = np.array(through) / np.array(direct)
    assert result["n"] == 15
    assert result["median"] == pytest.approx(np.median(ratios), abs=1e-3)
    theirs = scipy_stats.bootstrap(
        (ratios,), np.median, n_resamples=8000, method="percentile", random_state=0
    ).confidence_interval
    assert result["median_ci95"][0] == pytest.approx(theirs.low, abs=0.01)
    assert result["median_ci95"][1] == pytest.approx(theirs.high, abs=0.01)
    # the two samples on their own hide the 0.8 behind the drift
    unpaired = compare(through, direct)["median_ci95"]
    assert unpaired[1] - unpaired[0] > 5 * (result["median_ci95"][1] - result["median_ci95"][0])
