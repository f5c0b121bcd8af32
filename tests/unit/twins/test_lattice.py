"""The lattice twin against exact results: Onsager/Yang, T_c, exhaustive enumeration, AR(1).

References are computed here, independently of the twin's code: the closed-form Ising
solution, a brute-force sum over all 2^16 states of a 4x4 lattice, and the analytic
autocorrelation time of an AR(1) process.
"""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pytest
from distributed import Client, LocalCluster
from nbclient import NotebookClient
from twinhub.twins.lattice.model import run
from twinhub.twins.lattice.observables import integrated_autocorrelation_time, jackknife
from twinhub.twins.manifest import TWINS_DIR, ManifestError, entry_point_errors, load_manifest

T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))


def onsager_m(temperature: float) -> float:
    """Yang (1952): M = (1 - sinh(2/T)^-4)^(1/8) for T < T_c (J = k_B = 1)."""
    return (1.0 - math.sinh(2.0 / temperature) ** -4) ** 0.125


def exact_4x4(temperature: float) -> dict[str, float]:
    """<|m|>, <e>, U4 of the periodic 4x4 Ising model by summing all 65536 states."""
    n = 16
    states = np.arange(2**n)[:, None] >> np.arange(n) & 1
    s = (2 * states - 1).reshape(-1, 4, 4).astype(float)
    e = -(s * np.roll(s, 1, axis=1) + s * np.roll(s, 1, axis=2)).sum(axis=(1, 2)) / n
    m = s.mean(axis=(1, 2))
    w = np.exp(-n * (e - e.min()) / temperature)
    w /= w.sum()
    m2, m4 = (w * m**2).sum(), (w * m**4).sum()
    return {
        "abs_magnetisation": (w * np.abs(m)).sum(),
        "energy": (w * e).sum(),
        "binder": 1 - m4 / (3 * m2**2),
    }


def test_manifest_validates_and_entry_points_import() -> None:
    manifest = load_manifest(TWINS_DIR / "lattice" / "twin.yaml")
    assert manifest.domain == "physics"
    assert entry_point_errors(manifest) == []
    assert (TWINS_DIR / "lattice" / manifest.notebook).is_file()


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"sizes": [1]}, "sizes"),
        ({"temperatures": [-1.0]}, "temperatures"),
        ({"algorithm": "heatbath"}, "algorithm"),
        ({"temprature": [2.0]}, "temprature"),
    ],
)
def test_bad_parameter_is_named(params: dict, name: str) -> None:
    with pytest.raises(ManifestError, match=name):
        run(None, params)


@pytest.mark.parametrize("algorithm", ["wolff", "metropolis"])
def test_4x4_ising_matches_exhaustive_enumeration(algorithm: str) -> None:
    temperature = 2.5
    exact = exact_4x4(temperature)
    ds = run(
        None,
        {"sizes": [4], "temperatures": [temperature], "sweeps": 20000, "algorithm": algorithm},
    ).sel(size=4, temperature=temperature)
    for name, value in exact.items():
        error = float(ds[name + "_error"])
        assert abs(float(ds[name]) - value) < 4 * error, (name, float(ds[name]), value, error)
        assert error < 0.01  # the check above has teeth


def test_free_field_limit_matches_exact_gaussian_integrals() -> None:
    """lam = 0: S = phi.A.phi / 2 with A = 2 - beta * (lattice adjacency), solved by Fourier.

    <phi^2> = (1/N) sum_k 1/a(k), <e> = -(1/N) sum_k c(k)/a(k), with c(k) = cos k1 + cos k2
    and a(k) = 2 - 2 beta c(k). This exercises the phi^4 Metropolis and the embedded Wolff
    (both active here) on a theory with continuous field values.
    """
    size, temperature = 8, 3.0
    beta = 1.0 / temperature
    k = 2 * np.pi * np.arange(size) / size
    c = (np.cos(k)[:, None] + np.cos(k)[None, :]).ravel()
    a = 2.0 - 2.0 * beta * c
    exact = {"phi_squared": np.mean(1.0 / a), "energy": -np.mean(c / a)}
    params = {"theory": "phi4", "quartic_coupling": 0.0, "sizes": [size], "sweeps": 8000}
    ds = run(None, {**params, "temperatures": [temperature]}).sel(size=size)
    for name, value in exact.items():
        got, error = float(ds[name].item()), float(ds[name + "_error"].item())
        assert abs(got - value) < 4 * error, (name, got, value, error)
        assert error < 0.01 * abs(value)


def test_spontaneous_magnetisation_matches_onsager() -> None:
    temps = [1.8, 2.0, 2.1]
    ds = run(None, {"sizes": [64], "temperatures": temps, "sweeps": 2000, "replicas": 4})
    for t in temps:
        point = ds.sel(size=64, temperature=t)
        m, err = float(point.abs_magnetisation), float(point.abs_magnetisation_error)
        assert err < 1e-3
        assert abs(m - onsager_m(t)) < 3 * err, (t, m, onsager_m(t), err)


def test_binder_cumulant_crossing_is_at_exact_critical_temperature() -> None:
    temps = list(np.linspace(2.21, 2.33, 7))
    ds = run(None, {"sizes": [16, 32], "temperatures": temps, "sweeps": 3000, "replicas": 4})
    t = ds.temperature.values
    # a weighted quadratic through each U4(T), then the root of their difference in range
    fits = [
        np.polyfit(t, ds.binder.sel(size=size), 2, w=1 / ds.binder_error.sel(size=size))
        for size in (16, 32)
    ]
    roots = np.roots(np.polysub(*fits))
    crossing = [r.real for r in roots if abs(r.imag) < 1e-12 and t[0] <= r.real <= t[-1]]
    assert len(crossing) == 1, roots
    assert abs(crossing[0] - T_C) / T_C < 0.01, crossing[0]
    # U4 orders with L below T_c and reverses above it: the curves really cross
    assert (ds.binder.sel(size=32) - ds.binder.sel(size=16))[0] > 0
    assert (ds.binder.sel(size=32) - ds.binder.sel(size=16))[-1] < 0


def test_autocorrelation_time_of_ar1_process() -> None:
    rho = 0.9  # x_t = rho x_{t-1} + noise has tau_int = (1 + rho) / (2 (1 - rho)) = 9.5
    rng = np.random.default_rng(1)
    noise = rng.normal(size=200_000)
    x = np.empty_like(noise)
    x[0] = noise[0]
    for i in range(1, x.size):
        x[i] = rho * x[i - 1] + noise[i]
    assert integrated_autocorrelation_time(x) == pytest.approx(9.5, rel=0.1)


def test_jackknife_of_a_mean_equals_the_standard_error() -> None:
    values = np.random.default_rng(2).normal(size=400)
    estimate, error = jackknife(values[None, :], lambda q: q[0])
    assert estimate == pytest.approx(values.mean())
    assert error == pytest.approx(values.std(ddof=1) / math.sqrt(values.size))


def test_replicas_on_dask_cluster_equal_in_process_result() -> None:
    # L = 32: each chain is several tasks (model.pieces), which may run on either worker
    params = {"sizes": [8, 32], "temperatures": [2.0, 2.4], "sweeps": 300, "replicas": 3}
    local = run(None, params)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as client:
            distributed = run(None, params)
            assert len(client.scheduler_info()["workers"]) == 2
    assert local.identical(distributed)
    # a different seed is a different Markov chain (the equality above is not vacuous)
    assert not local.identical(run(None, {**params, "seed": 1}))


def test_notebook_executes_and_finds_t_c(tmp_path) -> None:
    notebook = nbformat.read(TWINS_DIR / "lattice" / "lattice.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    crossing = float(printed.split("U4 crossing (L=16, 32): T = ")[1].split(";")[0])
    assert abs(crossing - T_C) / T_C < 0.01
    assert "replayed bit for bit:" in printed  # the run left a PROV record that replays


@pytest.mark.parametrize(
    ("size", "theory", "algorithm", "sweeps", "thermalisation"),
    [(32, "ising", "wolff", 700, 150), (8, "phi4", "metropolis", 5000, 0)],
)
def test_a_chain_cut_into_short_tasks_is_bit_for_bit_the_chain_in_one_call(
    size: int, theory: str, algorithm: str, sweeps: int, thermalisation: int
) -> None:
    """Runs are cut into short Dask tasks (so other users' runs pass between them): the pieces
    carry the generator's state, so the numbers are exactly those of one uninterrupted
    ``run_chunk`` per phase (the kernel as it was before the cut), seeded the same way."""
    from twinhub.twins.lattice.model import pieces, replica_series
    from twinhub.twins.lattice.updates import ISING, run_chunk

    assert len(pieces(sweeps, size)) > 1  # really cut
    lam, beta, step = (ISING if theory == "ising" else 0.5), 1 / 2.269, 1.2
    seeds = np.random.SeedSequence([4, size, round(2.269e9), 1]).generate_state(2)
    phi, clusters = np.ones((size, size)), int(algorithm == "wolff")
    if thermalisation:
        _, _, mean = run_chunk(phi, beta, lam, thermalisation, int(seeds[0]), step, clusters)
        clusters = max(1, round(size * size / max(mean, 1.0))) if clusters else 0
    series, acceptance, cluster = run_chunk(phi, beta, lam, sweeps, int(seeds[1]), step, clusters)
    cut = replica_series(
        size, 2.269, sweeps=sweeps, thermalisation=thermalisation, theory=theory,
        quartic_coupling=0.5, algorithm=algorithm, metropolis_step=step, seed=4, replica=1,
    )  # fmt: skip
    assert np.array_equal(cut["series"], series)
    assert (cut["acceptance"], cut["cluster_size"]) == (acceptance, cluster)
