"""Turn a checked source table into a CF-style dataset: the one conversion every demo set shares.

Each shipped record (Fulda from spotpy, Champion from aquacrop) is a daily table whose columns
map one-to-one onto dataset variables with CF units, long names and standard names. Describing
that mapping as data (:class:`SourceVariable`) keeps each builder down to its source-specific
checks and attributes, and guarantees every store carries the same kind of metadata.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import xarray as xr


@dataclass(frozen=True)
class SourceVariable:
    """One column of a source table and the dataset variable it becomes."""

    source: str
    """Column name in the source table."""
    name: str
    units: str
    long_name: str
    standard_name: str | None = None
    source_unit: str | None = None
    """Unit the source declares (checked on read where the source has a units row)."""

    def attrs(self) -> dict[str, str]:
        """The variable's CF attributes."""
        attrs = {"units": self.units, "long_name": self.long_name}
        if self.standard_name:
            attrs["standard_name"] = self.standard_name
        return attrs


def daily_dataset(
    table: pd.DataFrame, variables: Iterable[SourceVariable], time_long_name: str
) -> xr.Dataset:
    """A dataset over the table's (datetime) index, one float64 variable per source column."""
    return xr.Dataset(
        {
            var.name: ("time", table[var.source].to_numpy(dtype="float64"), var.attrs())
            for var in variables
        },
        coords={"time": ("time", table.index.to_numpy(), {"long_name": time_long_name})},
    )
