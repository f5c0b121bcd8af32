"""Drought events by run theory (Yevjevich 1967): a run of consecutive months below a threshold.

An event starts (onset) in the first month the index falls below ``threshold`` and lasts while
it stays below; its duration is the number of months, its severity the accumulated deficit
``sum(threshold - index)``, its intensity severity/duration and its peak the lowest index.
Runs shorter than ``min_duration`` months are not events. Months without an index (the first
``scale - 1`` months) end a run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def label_runs(index: np.ndarray, threshold: float, min_duration: int = 1) -> np.ndarray:
    """Event number (1, 2, ...) of each month in a drought run, 0 elsewhere; last axis is time."""
    index = np.asarray(index, dtype="float64")
    labels = np.zeros(index.shape, dtype="int64")
    for lead in np.ndindex(index.shape[:-1]):
        below = index[lead] < threshold  # NaN compares False: a gap ends a run
        count, start = 0, None
        for i, flag in enumerate([*below, False]):
            if flag and start is None:
                start = i
            elif not flag and start is not None:
                if i - start >= min_duration:
                    count += 1
                    labels[lead][start:i] = count
                start = None
    return labels


def event_table(index: xr.DataArray, labels: xr.DataArray, threshold: float) -> pd.DataFrame:
    """One row per event: onset, end (last month), duration, severity, intensity, peak."""
    values, ids = index.values, labels.values
    months = pd.DatetimeIndex(index["month"].values)
    rows = []
    for event in range(1, int(ids.max(initial=0)) + 1):
        where = np.flatnonzero(ids == event)
        deficit = threshold - values[where]
        rows.append(
            {
                "event": event,
                "onset": months[where[0]].strftime("%Y-%m"),
                "end": months[where[-1]].strftime("%Y-%m"),
                "duration_months": int(where.size),
                "severity": float(deficit.sum()),
                "intensity": float(deficit.mean()),
                "peak": float(values[where].min()),
            }
        )
    columns = ["event", "onset", "end", "duration_months", "severity", "intensity", "peak"]
    return pd.DataFrame(rows, columns=columns)


def events_per_decade(labels: xr.DataArray) -> float:
    """How many events start per ten years of record."""
    years = labels.sizes["month"] / 12.0
    return 10.0 * int(labels.values.max(initial=0)) / years
