"""Ensembles: many model runs along a ``member`` dimension, computed blockwise on Dask.

A model following the framework convention (``run(inputs, params) -> Dataset``, built with
``xr.apply_ufunc(dask="parallelized")`` or other lazy xarray operations) accepts parameters that
are DataArrays along ``member``. Chunking those by ``block`` members turns the ensemble into one
task per block, which Dask spreads over the cluster. The blocks are fixed by ``block`` alone, so
the cluster computes exactly what the synchronous in-process scheduler computes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr
from twinhub.twins.params import ParameterError

Model = Callable[[xr.Dataset, Mapping[str, Any]], xr.Dataset]

DEFAULT_BLOCK = 8
"""Members per Dask task: big enough to amortise the time loop, small enough to spread."""


def member_parameters(
    sets: Mapping[str, Sequence[float] | np.ndarray], block: int = DEFAULT_BLOCK
) -> dict[str, xr.DataArray]:
    """Parameter sets (name -> one value per member) as Dask-chunked DataArrays along ``member``."""
    sizes = {name: len(values) for name, values in sets.items()}
    if len(set(sizes.values())) != 1:
        raise ParameterError(
            "parameter_sets", f"every parameter needs one value per member: {sizes}"
        )
    n = next(iter(sizes.values()))
    if n < 1:
        raise ParameterError("parameter_sets", "needs at least one member")
    return {
        name: xr.DataArray(
            np.asarray(values, dtype="float64"), dims="member", coords={"member": np.arange(n)}
        ).chunk({"member": block})
        for name, values in sets.items()
    }


def run_ensemble(
    model: Model,
    inputs: xr.Dataset,
    sets: Mapping[str, Sequence[float] | np.ndarray],
    fixed: Mapping[str, Any] | None = None,
    block: int = DEFAULT_BLOCK,
) -> xr.Dataset:
    """The lazy ensemble: ``model`` with each member's parameters (``fixed`` ones shared).

    Forcing that varies by member (e.g. perturbed precipitation) goes in ``inputs`` with a
    ``member`` dimension; it is chunked like the parameters. Compute the result with
    :func:`compute`.
    """
    params = member_parameters(sets, block)
    if "member" in inputs.dims:
        inputs = inputs.chunk({"member": block})
    result = model(inputs, {**(fixed or {}), **params})
    return result.assign_coords(member=np.arange(result.sizes["member"]))


def compute(ds: xr.Dataset, client: Any = None) -> xr.Dataset:
    """Compute on a Dask ``client`` (distributed or gateway), or in-process when None.

    A model that computed its result itself (e.g. the lattice twin, whose tasks run through
    ``dask.compute`` on the active client) returns plain numpy data: nothing left to submit.
    """
    if client is None:
        return ds.compute(scheduler="synchronous")
    if not dask.is_dask_collection(ds):
        return ds
    # unoptimised: distributed's graph optimisation of a whole Dataset whose variables share
    # chunks (the gwnoise time series: strain and strain - witness filter) drops dependencies
    # ("lost dependencies"); the tasks and the numbers are the same without it
    return client.compute(ds, optimize_graph=False).result()


def quantile_bands(
    da: xr.DataArray, quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)
) -> xr.DataArray:
    """Quantiles over ``member`` (the ensemble's uncertainty band)."""
    return da.quantile(list(quantiles), dim="member").assign_attrs(da.attrs)


def exceedance_probability(da: xr.DataArray, threshold: float, dim: str = "time") -> xr.DataArray:
    """Fraction of members whose series exceeds ``threshold`` at least once along ``dim``."""
    return (da > threshold).any(dim).mean("member").assign_attrs(units="1", threshold=threshold)
