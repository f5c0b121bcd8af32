"""The lattice twin's model: Monte Carlo of 2-D phi^4 / Ising, replicas spread over Dask.

``run(inputs, params)`` follows the twin convention (pure function returning an
``xr.Dataset``): one task per (lattice size, temperature, replica), each seeded from
(seed, size, temperature, replica) alone, so the result does not depend on where or in which
order the tasks ran: in-process threads and a Dask cluster give identical numbers.
``dask.compute`` uses the active distributed client when there is one (the twinhub kernel's
``cluster()``), else local threads (the kernels release the GIL). When someone listens
(:mod:`twinhub.twins.progress`, e.g. the dashboard) each temperature is reported as soon as it
is finished; the numbers are the same either way.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from .. import progress
from ..manifest import MANIFEST_FILE, load_manifest
from .observables import block_means, integrated_autocorrelation_time, jackknife
from .updates import ISING, Stream

T_CRITICAL = 2.0 / np.log1p(np.sqrt(2.0))  # Onsager: 2/ln(1+sqrt 2) = 2.269185...
N_BLOCKS = 10  # jackknife blocks per replica

MANIFEST = load_manifest(Path(__file__).with_name(MANIFEST_FILE))
DEFAULTS: dict[str, Any] = MANIFEST.default_parameters()

# what each variable means, for the Dataset attrs (and the dashboard's axis labels)
VARIABLES: dict[str, tuple[str, str]] = {
    "abs_magnetisation": ("<|m|>, mean absolute magnetisation per site", "1"),
    "energy": ("<e>, bond energy per site -sum_<xy> phi_x phi_y / N", "J"),
    "susceptibility": ("chi = beta N (<m^2> - <|m|>^2), finite-size susceptibility", "1/J"),
    "specific_heat": ("C = beta^2 N (<e^2> - <e>^2), bond-energy specific heat", "k_B"),
    "binder": ("U4 = 1 - <m^4> / (3 <m^2>^2), Binder cumulant", "1"),
    "phi_squared": ("<phi^2>, mean squared field per site (1 in the Ising limit)", "1"),
}


CHUNK_SITE_SWEEPS = 2**17
"""Work of one Dask task of a chain, in site updates (sweeps x sites): about 20-40 ms of one
core (size 32: 128 sweeps). A chain is cut into tasks this short so that a thread of the shared
cluster is free again soon: Dask never preempts a running task, so a newcomer's small run, ahead
by priority, waits at most one piece of someone else's long run for each thread it needs."""
MAX_PIECES = 512
"""At most this many tasks per phase of a chain: the largest runs the API allows (up to
10^6 sweeps at L = 256) get longer pieces rather than graphs of millions of tasks."""


def pieces(sweeps: int, size: int) -> list[int]:
    """The sweeps of each task a chain phase of ``sweeps`` sweeps is cut into (see
    :data:`CHUNK_SITE_SWEEPS`); the cut changes no number (:class:`Chain`)."""
    if sweeps <= 0:
        return []
    per_task = max(1, CHUNK_SITE_SWEEPS // (size * size), -(-sweeps // MAX_PIECES))
    full, rest = divmod(sweeps, per_task)
    return [per_task] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class Chain:
    """One replica's Markov chain between two of its tasks: the field, the generator's state
    (:class:`Stream`) and what was measured so far. Each task returns a new Chain (its input
    stays as it was, so Dask may run a task again after losing a worker); with the
    generator's state carried over, the chain in pieces draws the numbers of the chain in one
    call, whatever threads or workers the pieces ran on."""

    phi: np.ndarray
    stream: Stream
    beta: float
    lam: float
    step: float
    n_clusters: int
    measure_seed: int
    measured: tuple[np.ndarray, ...] = ()
    accepted: int = 0
    flipped: int = 0

    def advanced(self, n_sweeps: int) -> Chain:
        phi, stream = self.phi.copy(), copy.copy(self.stream)
        out, accepted, flipped = stream.advance(
            phi, self.beta, self.lam, n_sweeps, self.step, self.n_clusters
        )
        return replace(
            self, phi=phi, stream=stream, measured=(*self.measured, out),
            accepted=self.accepted + accepted, flipped=self.flipped + flipped,
        )  # fmt: skip

    def measuring(self) -> Chain:
        """Thermalisation done: the measuring phase's stream. With Wolff, the
        thermalisation's mean cluster size fixes the clusters per sweep (about one lattice
        volume of flipped sites, so cluster and local sweeps cost about the same)."""
        n_clusters = self.n_clusters
        sweeps = sum(len(m) for m in self.measured)
        if n_clusters and sweeps:
            cluster = self.flipped / (sweeps * n_clusters)
            n_clusters = max(1, int(round(self.phi.size / max(cluster, 1.0))))
        return replace(
            self, stream=Stream(self.measure_seed), n_clusters=n_clusters, measured=(),
            accepted=0, flipped=0,
        )  # fmt: skip

    def series(self) -> dict[str, Any]:
        series = np.concatenate(self.measured)
        clusters = len(series) * self.n_clusters
        return {
            "series": series,
            "acceptance": self.accepted / (len(series) * self.phi.size),
            "cluster_size": self.flipped / clusters if clusters > 0 else 0.0,
        }


def chain_start(
    size: int,
    temperature: float,
    *,
    theory: str,
    quartic_coupling: float,
    algorithm: str,
    metropolis_step: float,
    seed: int,
    replica: int,
) -> Chain:
    """A chain's ordered start (phi = 1), its streams seeded from (seed, size, temperature,
    replica) alone."""
    key = [int(seed), int(size), int(round(temperature * 1e9)), int(replica)]
    seed_thermal, seed_measure = np.random.SeedSequence(key).generate_state(2)
    return Chain(
        phi=np.ones((size, size)), stream=Stream(int(seed_thermal)), beta=1.0 / temperature,
        lam=ISING if theory == "ising" else float(quartic_coupling), step=metropolis_step,
        n_clusters=1 if algorithm == "wolff" else 0, measure_seed=int(seed_measure),
    )  # fmt: skip


def _advanced(chain: Chain, n_sweeps: int) -> Chain:
    return chain.advanced(n_sweeps)


def _measuring(chain: Chain) -> Chain:
    return chain.measuring()


def _series(chain: Chain) -> dict[str, Any]:
    return chain.series()


def replica_series(
    size: int, temperature: float, *, sweeps: int, thermalisation: int, **chain: Any
) -> dict[str, Any]:
    """One independent Markov chain, in one call: measurements (m, e, phi^2) after each sweep.

    The chain starts ordered (phi = 1), discards ``thermalisation`` sweeps, then measures
    ``sweeps``. :func:`replica_tasks` is the same chain as short Dask tasks.
    """
    state = chain_start(size, temperature, **chain)
    for n in pieces(thermalisation, size):
        state = state.advanced(n)
    state = state.measuring()
    for n in pieces(sweeps, size):
        state = state.advanced(n)
    return state.series()


def replica_tasks(
    size: int, temperature: float, *, sweeps: int, thermalisation: int, **chain: Any
) -> Any:
    """:func:`replica_series` as a Dask chain of short tasks (:func:`pieces`); a chain short
    enough for one piece is one task (a small run is not slowed by tasks of its own)."""
    if (thermalisation + sweeps) * size * size <= CHUNK_SITE_SWEEPS:
        return dask.delayed(replica_series, pure=True)(
            size, temperature, sweeps=sweeps, thermalisation=thermalisation, **chain
        )
    state = dask.delayed(chain_start, pure=True)(size, temperature, **chain)
    for n in pieces(thermalisation, size):
        state = dask.delayed(_advanced, pure=True)(state, n)
    state = dask.delayed(_measuring, pure=True)(state)
    for n in pieces(sweeps, size):
        state = dask.delayed(_advanced, pure=True)(state, n)
    return dask.delayed(_series, pure=True)(state)


def point_task(size: int, temperature: float, replicas: int, chain: Mapping[str, Any]) -> Any:
    """One point of the scan (its replicas and their analysis) as Dask work: a point small
    enough for one piece (:data:`CHUNK_SITE_SWEEPS`) is one task, so that a small run on a
    shared cluster waits for a free thread once, not once for its replicas and again for
    their analysis; a larger one is a task chain per replica (:func:`replica_tasks`)."""
    work = replicas * (chain["thermalisation"] + chain["sweeps"]) * size * size
    if work <= CHUNK_SITE_SWEEPS:
        return dask.delayed(_point_at_once, pure=True)(size, temperature, replicas, dict(chain))
    series = [replica_tasks(size, temperature, replica=r, **chain) for r in range(replicas)]
    return dask.delayed(_point)(series, size, temperature)


def _point_at_once(
    size: int, temperature: float, replicas: int, chain: dict[str, Any]
) -> dict[str, float]:
    series = [replica_series(size, temperature, replica=r, **chain) for r in range(replicas)]
    return _point(series, size, temperature)


def analyse(
    series: np.ndarray, size: int, temperature: float, n_blocks: int = N_BLOCKS
) -> dict[str, float]:
    """Observables and jackknife errors from replica series of shape (replica, sweep, 3)."""
    m, e, phi2 = series[..., 0], series[..., 1], series[..., 2]
    n_sites = size * size
    beta = 1.0 / temperature
    moments = np.stack([np.abs(m), m**2, m**4, e, e**2, phi2])  # (6, replica, sweep)
    blocks = block_means(moments, n_blocks).reshape(len(moments), -1)  # replicas pooled
    estimators = {
        "abs_magnetisation": lambda q: q[0],
        "energy": lambda q: q[3],
        "susceptibility": lambda q: beta * n_sites * (q[1] - q[0] ** 2),
        "specific_heat": lambda q: beta**2 * n_sites * (q[4] - q[3] ** 2),
        "binder": lambda q: 1.0 - q[2] / (3.0 * q[1] ** 2),
        "phi_squared": lambda q: q[5],
    }
    out: dict[str, float] = {}
    for name, estimator in estimators.items():
        out[name], out[name + "_error"] = jackknife(blocks, estimator)
    out["tau_abs_magnetisation"] = float(
        np.mean([integrated_autocorrelation_time(np.abs(r)) for r in m])
    )
    out["tau_energy"] = float(np.mean([integrated_autocorrelation_time(r) for r in e]))
    return out


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and checked against ``twin.yaml``'s schema.

    Raises ``ManifestError`` (a ``ValueError``) whose message names the parameter, the same
    check the registry applies, so a notebook call fails the way a queued run would.
    """
    return MANIFEST.check_parameters(dict(params))


def _point(series: Sequence[dict[str, Any]], size: int, temperature: float) -> dict[str, float]:
    result = analyse(np.stack([s["series"] for s in series]), size, temperature)
    result["acceptance"] = float(np.mean([s["acceptance"] for s in series]))
    result["cluster_size"] = float(np.mean([s["cluster_size"] for s in series]))
    return result


def run(inputs: xr.Dataset | None, params: Mapping[str, Any]) -> xr.Dataset:
    """Scan (lattice size x temperature); observables with errors, dims (size, temperature).

    The lattice twin reads no data, so ``inputs`` must be ``None`` or an empty Dataset.
    """
    if inputs is not None and len(getattr(inputs, "data_vars", {})) > 0:
        raise ValueError("parameter 'inputs': the lattice twin reads no data; pass None")
    p = check_params(params)
    sizes = [int(s) for s in p["sizes"]]
    temps = [float(t) for t in p["temperatures"]]
    chain = {
        k: p[k]
        for k in ("theory", "quartic_coupling", "sweeps", "thermalisation", "algorithm")
        + ("metropolis_step", "seed")
    }
    graphs = {
        (size, t): point_task(size, t, int(p["replicas"]), chain) for size in sizes for t in temps
    }
    if not progress.listening():
        return _scan_dataset(dask.compute(graphs)[0], sizes, temps, p)
    # watched (a dashboard): the scan grows from its first temperature, one more each time the
    # next one has all its sizes (points may finish in any order). Tasks are seeded per point,
    # so the numbers are the same either way.
    points: dict[tuple[int, float], dict[str, float]] = {}
    shown = 0
    for key, point in _as_finished(graphs):
        points[key] = point
        while shown < len(temps) and all((size, temps[shown]) in points for size in sizes):
            shown += 1
            progress.report(_scan_dataset(points, sizes, temps[:shown], p))
    return _scan_dataset(points, sizes, temps, p)


def _as_finished(graphs: Mapping[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """Each graph's result as soon as it is computed.

    On a distributed client every graph is submitted at once, so a run beside other users'
    work on a shared cluster waits once for threads to free, not once per temperature (the
    dashboard service's fair share, extensions/dashboards/cluster.py); if the caller stops
    listening (a newer run won: ``progress.report`` raised), the rest is cancelled. Without
    one, local threads compute one graph after the other.
    """
    try:
        from distributed import as_completed, default_client

        client = default_client()
    except (ImportError, ValueError):  # no distributed, or no client
        for key, graph in graphs.items():
            yield key, dask.compute(graph)[0]
        return
    futures = dict(zip(client.compute(list(graphs.values())), graphs, strict=True))
    try:
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.cancel(list(futures))


def _scan_dataset(
    points: Mapping[tuple[int, float], Mapping[str, float]],
    sizes: Sequence[int],
    temps: Sequence[float],
    p: Mapping[str, Any],
) -> xr.Dataset:
    """The (size, temperature) grid of observables from the finished points."""
    names = list(next(iter(points.values())))
    data = {
        name: (("size", "temperature"), [[points[(s, t)][name] for t in temps] for s in sizes])
        for name in names
    }
    ds = xr.Dataset(data, coords={"size": list(sizes), "temperature": list(temps)})
    return _annotate(ds, p)


def _annotate(ds: xr.Dataset, p: Mapping[str, Any]) -> xr.Dataset:
    for name, (long_name, units) in VARIABLES.items():
        ds[name].attrs = {"long_name": long_name, "units": units}
        ds[name + "_error"].attrs = {
            "long_name": f"jackknife standard error of {name} (blocks pooled over replicas)",
            "units": units,
        }
    for name in ("tau_abs_magnetisation", "tau_energy"):
        ds[name].attrs = {
            "long_name": f"integrated autocorrelation time of {name[4:]} (Sokal window c=6)",
            "units": "sweeps",
        }
    ds["acceptance"].attrs = {"long_name": "Metropolis acceptance rate", "units": "1"}
    ds["cluster_size"].attrs = {"long_name": "mean Wolff cluster size", "units": "sites"}
    ds["size"].attrs = {"long_name": "linear lattice size L (periodic L x L)", "units": "a"}
    ds["temperature"].attrs = {"long_name": "temperature T = 1/beta", "units": "J/k_B"}
    ds.attrs = {
        "title": "2-D lattice phi^4 / Ising Monte Carlo",
        "theory": p["theory"],
        "quartic_coupling": float(p["quartic_coupling"]) if p["theory"] == "phi4" else np.inf,
        "algorithm": p["algorithm"],
        "sweeps": int(p["sweeps"]),
        "thermalisation": int(p["thermalisation"]),
        "replicas": int(p["replicas"]),
        "seed": int(p["seed"]),
        "action": "S = sum_x [-beta sum_mu phi_x phi_x+mu + phi_x^2 + lam (phi_x^2 - 1)^2]",
        "reference": "Onsager (1944), Yang (1952): exact 2-D Ising solution; T_c = 2/ln(1+sqrt 2)",
    }
    return ds


def onsager_magnetisation(temperature: float | np.ndarray) -> np.ndarray:
    """Exact spontaneous magnetisation of the infinite 2-D Ising model (Yang 1952)."""
    t = np.asarray(temperature, dtype=float)
    inner = 1.0 - np.sinh(2.0 / np.minimum(t, T_CRITICAL)) ** -4.0
    return np.where(t < T_CRITICAL, np.clip(inner, 0, None) ** 0.125, 0.0)
