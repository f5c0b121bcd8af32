"""The gwnoise twin's model: simulate a stretch, clean it, whiten it, find its glitches.

``run(inputs, params)`` is a pure function returning an ``xr.Dataset``: spectra on
``frequency``, the time-frequency map on (``map_frequency``, ``map_time``), injected and found
glitches on ``glitch``/``trigger``, and the lazily evaluated (Dask) time series on ``time``.
Work is chunked (``chunk_seconds``) and computed with ``dask.compute``, i.e. on the active
distributed client when there is one; every draw is seeded per chunk, so the numbers are the
same on a cluster as in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from ..manifest import MANIFEST_FILE, load_manifest
from .analysis import (
    BINS_PER_SECOND,
    find_glitches,
    map_rows,
    match_triggers,
    q_map,
    spectra,
    whitening_kernel,
    wiener_kernel,
)
from .curves import CURVES, asd_on
from .filters import apply_fir
from .simulate import FIR_SECONDS, simulate

MANIFEST = load_manifest(Path(__file__).with_name(MANIFEST_FILE))
BAND = (20.0, 1000.0)  # Hz: where the design curves are meaningful and tests look
COUPLING_BAND = (40.0, 200.0)  # Hz: where the witness couples


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and validated against ``twin.yaml``; errors name the parameter."""
    return MANIFEST.check_parameters(dict(params))


def _band_power(freq: np.ndarray, psd: np.ndarray, band: tuple[float, float]) -> float:
    sel = (freq >= band[0]) & (freq <= band[1])
    return float(np.trapezoid(psd[sel], freq[sel]))


def run(inputs: xr.Dataset | None, params: Mapping[str, Any]) -> xr.Dataset:
    """Simulate and analyse one stretch of detector data (see the module docstring)."""
    if inputs is not None and len(getattr(inputs, "data_vars", {})) > 0:
        raise ValueError("parameter 'inputs': the gwnoise twin simulates its data; pass None")
    p = check_params(params)
    fs = float(p["sample_rate"])
    n_taps = int(FIR_SECONDS * fs)
    sim = simulate(p)
    strain, witness = sim["strain"], sim["witness"]

    # pass 1: witness -> strain coupling, and the raw strain spectrum
    coupling, raw = dask.compute(
        spectra(witness, fs, n_taps, y=strain), spectra(strain, fs, n_taps, median=True)
    )
    freq = coupling["frequency"]
    cleaned = strain - apply_fir(
        witness, wiener_kernel(freq, coupling["psd"], coupling["csd"], n_taps, fs)
    )
    # pass 2: the cleaned spectrum sets the whitening filter
    (clean,) = dask.compute(spectra(cleaned, fs, n_taps, median=True))
    whitened = apply_fir(cleaned, whitening_kernel(freq, clean["psd"], fs, n_taps))
    residual = cleaned - (strain - sim["coupled_noise"])  # coupled noise left after subtraction
    rows = map_rows()
    # pass 3: what the whitened data look like, the map, and what subtraction left behind
    white, resid, coupled, energy = dask.compute(
        spectra(whitened, fs, n_taps, median=True),
        spectra(residual, fs, n_taps),
        spectra(sim["coupled_noise"], fs, n_taps),
        q_map(whitened, fs, rows),
    )
    triggers = find_glitches(energy, rows, p["threshold"])
    injected = sim["glitches"]
    matched = match_triggers(triggers, injected)
    gain = (
        10
        * np.log10(
            _band_power(freq, coupled["psd"], COUPLING_BAND)
            / _band_power(freq, resid["psd"], COUPLING_BAND)
        )
        if p["witness_coupling"] > 0
        else np.nan
    )

    n_time = strain.shape[0]
    ds = xr.Dataset(
        {
            "asd": ("frequency", np.sqrt(raw["psd"])),
            "asd_cleaned": ("frequency", np.sqrt(clean["psd"])),
            "asd_whitened": ("frequency", np.sqrt(white["psd"] * fs / 2.0)),
            "asd_design": ("frequency", asd_on(freq, p["curve"])),
            "q_energy": (("map_frequency", "map_time"), energy),
            "glitch_time": ("glitch", injected["time"].to_numpy()),
            "glitch_kind": ("glitch", injected["kind"].to_numpy(dtype=str)),
            "glitch_frequency": ("glitch", injected["frequency"].to_numpy()),
            "glitch_found": ("glitch", matched["found"]),
            "trigger_time": ("trigger", triggers["time"].to_numpy(dtype=float)),
            "trigger_frequency": ("trigger", triggers["frequency"].to_numpy(dtype=float)),
            "trigger_snr": ("trigger", triggers["snr"].to_numpy(dtype=float)),
            "trigger_false": ("trigger", matched["false"]),
            "subtraction_gain": ((), gain),
            "strain": ("time", strain),
            "witness": ("time", witness),
            "strain_cleaned": ("time", cleaned),
            "strain_whitened": ("time", whitened),
        },
        coords={
            "frequency": freq,
            "map_frequency": rows,
            "map_time": (np.arange(energy.shape[1]) + 0.5) / BINS_PER_SECOND,
            "time": np.arange(n_time) / fs,
        },
    )
    return _annotate(ds, p)


_ATTRS = {
    "asd": ("strain ASD, Welch (4 s Hann, median average)", "1/sqrt(Hz)"),
    "asd_cleaned": ("strain ASD after Wiener subtraction of the witness", "1/sqrt(Hz)"),
    "asd_whitened": ("ASD of the whitened strain, normalised to 1 for white noise", "1"),
    "asd_design": ("design ASD of the chosen curve", "1/sqrt(Hz)"),
    "q_energy": ("normalised tile energy (1 = Gaussian noise mean), max over Q", "1"),
    "glitch_time": ("centre time of each injected glitch", "s"),
    "glitch_kind": ("injected glitch model", "1"),
    "glitch_frequency": ("central frequency of each injected glitch", "Hz"),
    "glitch_found": ("whether a trigger lies within 0.1 s of the injection", "1"),
    "trigger_time": ("time of the loudest tile of each trigger", "s"),
    "trigger_frequency": ("frequency of the loudest tile of each trigger", "Hz"),
    "trigger_snr": ("SNR estimate sqrt(2 (E - 1)) of each trigger", "1"),
    "trigger_false": ("trigger with no injection within 0.1 s (false alarm)", "1"),
    "subtraction_gain": ("coupled noise over residual after Wiener subtraction, 40-200 Hz", "dB"),
    "strain": ("simulated strain h(t): noise + witness coupling + glitches", "1"),
    "witness": ("witness (auxiliary) channel", "arbitrary units"),
    "strain_cleaned": ("strain after Wiener subtraction of the witness coupling", "1"),
    "strain_whitened": ("whitened cleaned strain (unit variance in band)", "1"),
    "frequency": ("frequency", "Hz"),
    "map_frequency": ("centre frequency of the map tiles", "Hz"),
    "map_time": ("time of the map bins (1/32 s)", "s"),
    "time": ("time since the start of the stretch", "s"),
}


def _annotate(ds: xr.Dataset, p: Mapping[str, Any]) -> xr.Dataset:
    for name, (long_name, units) in _ATTRS.items():
        ds[name].attrs = {"long_name": long_name, "units": units}
    ds.attrs = {
        "title": "Simulated gravitational-wave detector noise and its characterisation",
        **{k: v for k, v in p.items()},
        "design_curve_source": CURVES[p["curve"]][1],
        "data_source": "design ASD files of the bilby package (bilby/gw/detector/noise_curves)",
        "licence": "MIT (bilby noise curves)",
    }
    return ds
