"""The benchmark report: each row shows the load it was measured at, once."""

from __future__ import annotations

import pytest

from tests.bench.__main__ import arguments
from tests.bench.report import _with_load, sections, table


def _stat(median: float) -> dict:
    return {"n": 3, "median_s": median, "p95_s": median * 2, "p5_s": median / 2}


CLUSTERS = {
    "baseline": {k: _stat(1.0) for k in ("scheduler", "two_workers", "scale_to_four")},
    "twinhub": {k: _stat(2.0) for k in ("scheduler", "two_workers", "scale_to_four")},
    "ratio": {"scheduler": 2.0, "two_workers": 2.0, "scale_to_four": 2.0},
    "load_1min": {"min": 0.5, "median": 1.25, "max": 3.0},
    "elapsed_s": 61.2,
}


def test_rows_without_a_load_of_their_own_get_the_benchmarks() -> None:
    rows = [("a (s)", "1", "2", "2.0", ""), ("b (s; load 4.0-5.0)", "1", "2", "2.0", "")]
    out = _with_load(rows, {"load_1min": {"min": 0.5, "median": 1, "max": 3.04}})
    assert [row[0] for row in out] == ["a (s) (load 0.5-3.0)", "b (s; load 4.0-5.0)"]
    assert _with_load(rows, {}) == rows


def test_a_section_per_benchmark_with_its_columns_time_and_load() -> None:
    results = {"machine": {"when": "2026-12-07T07:00:00Z", "cpus": 2, "python": "3.11.7"},
               "clusters": CLUSTERS}  # fmt: skip
    text = sections(results)
    assert "started 2026-12-07T07:00:00Z, 2 cores" in text
    assert "`clusters` (61 s; load 0.5-1.2-3.0 (min-median-max))" in text
    assert "| benchmark | LocalCluster | Dask Gateway through the hub | ratio | goal |" in text
    assert (
        "Dask: usable scheduler (s), LocalCluster vs Gateway (median / p95) (load 0.5-3.0)" in text
    )
    assert text.count("(load 0.5-3.0)") == 3 == table(results).count("(load 0.5-3.0)")


def test_make_bench_without_arguments_runs_every_benchmark() -> None:
    assert arguments([]).which == []  # argparse refused this with `choices` (3.11)
    assert arguments(["spawn", "users", "--users", "100"]).which == ["spawn", "users"]
    with pytest.raises(SystemExit):
        arguments(["nope"])
