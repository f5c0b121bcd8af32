"""Simulated detector data: coloured Gaussian strain, glitches, and a witness channel.

strain(t) = colour(white)(t) + coupling(witness)(t) + sum of glitches(t)

* colour: an FIR whose gain is the design ASD (scaled so white unit-variance input gets the
  design one-sided PSD), so the noise is Gaussian with exactly the published spectrum;
* witness: an auxiliary sensor (think magnetometer), unit-variance white noise, coupled into
  the strain through a linear filter (a resonant band around 80 Hz with a 2 ms delay), the
  situation a Wiener filter is built for;
* glitches: sine-Gaussians (the standard burst model) and blips (short broadband Ricker
  pulses, like LIGO/Virgo "blip" glitches) at Poisson times, each scaled to a chosen optimal
  matched-filter SNR against the design PSD.

Every random draw is seeded from (seed, stream, second), so chunks are independent Dask
tasks and the series does not depend on where they ran.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd

from .curves import asd_on
from .filters import apply_fir, fir_from_response, response_grid

FIR_SECONDS = 4  # filter length: 0.25 Hz resolution, fine enough for the design curves
COUPLING_CENTRE_HZ = 80.0
COUPLING_DELAY_S = 0.002
GLITCH_MARGIN_S = 1.0  # no glitch centred this close to the ends of the stretch


def _rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, chunk]))


def coupling_response(freqs: np.ndarray, curve: str, coupling: float, fs: float) -> np.ndarray:
    """Witness -> strain transfer function: coupled ASD = coupling x design ASD at the peak."""
    bump = np.exp(-0.5 * (np.log(np.maximum(freqs, 1e-3) / COUPLING_CENTRE_HZ) / 0.35) ** 2)
    witness_asd = np.sqrt(2.0 / fs)  # unit-variance white noise, one-sided
    delay = np.exp(-2j * np.pi * freqs * COUPLING_DELAY_S)
    return coupling * asd_on(freqs, curve) * bump / witness_asd * delay


def glitch_waveform(kind: str, t: np.ndarray, frequency: float, q: float) -> np.ndarray:
    """Unit-amplitude glitch centred at t = 0."""
    if kind == "sine_gaussian":
        tau = q / (np.sqrt(2.0) * np.pi * frequency)
        return np.exp(-((t / tau) ** 2)) * np.sin(2.0 * np.pi * frequency * t)
    u = (np.pi * frequency * t) ** 2  # Ricker pulse peaking at `frequency`
    return (1.0 - 2.0 * u) * np.exp(-u)


def optimal_snr(kind: str, frequency: float, q: float, curve: str, fs: float) -> float:
    """Matched-filter SNR of the unit-amplitude glitch: rho^2 = 4 int |h(f)|^2 / S(f) df."""
    t = np.arange(-int(fs), int(fs)) / fs
    h = np.fft.rfft(glitch_waveform(kind, t, frequency, q)) / fs
    f = np.fft.rfftfreq(t.size, 1.0 / fs)
    df = f[1] - f[0]
    return float(np.sqrt(4.0 * np.sum(np.abs(h[1:]) ** 2 / asd_on(f[1:], curve) ** 2) * df))


def glitch_table(p: dict[str, Any]) -> pd.DataFrame:
    """Poisson glitch times, kinds, frequencies, Q and amplitudes giving SNR ``glitch_snr``."""
    rng = _rng(p["seed"], 2)
    span = p["duration"] - 2 * GLITCH_MARGIN_S
    n = rng.poisson(p["glitch_rate"] * span)
    times = np.sort(GLITCH_MARGIN_S + span * rng.random(n))
    blip = rng.random(n) < 0.3
    freq = np.where(blip, rng.uniform(80, 250, n), np.exp(rng.uniform(np.log(30), np.log(500), n)))
    q = np.where(blip, 1.0, rng.uniform(4, 20, n))
    kinds = np.where(blip, "blip", "sine_gaussian")
    amp = [
        p["glitch_snr"] / optimal_snr(k, f, qq, p["curve"], p["sample_rate"])
        for k, f, qq in zip(kinds, freq, q, strict=True)
    ]
    return pd.DataFrame({"time": times, "kind": kinds, "frequency": freq, "q": q, "amplitude": amp})


def _white(seed: int, stream: int, fs: int, chunk: int, index: int, n: int) -> np.ndarray:
    """Unit white noise, drawn second by second: the series does not depend on the chunking."""
    first = index * chunk // fs
    seconds = [_rng(seed, stream, first + k).standard_normal(fs) for k in range(-(-n // fs))]
    return np.concatenate(seconds)[:n]


def _glitches(table: pd.DataFrame, fs: float, chunk: int, index: int, n: int) -> np.ndarray:
    t = (index * chunk + np.arange(n)) / fs
    out = np.zeros(n)
    for row in table.itertuples():
        if t[0] - 1.0 < row.time < t[-1] + 1.0:
            out += row.amplitude * glitch_waveform(row.kind, t - row.time, row.frequency, row.q)
    return out


def _chunked(func, n_total: int, chunk: int, *args) -> da.Array:
    starts = range(0, n_total, chunk)
    parts = [
        da.from_delayed(
            dask.delayed(func, pure=True)(*args, i, min(chunk, n_total - s)),
            (min(chunk, n_total - s),),
            dtype=float,
        )
        for i, s in enumerate(starts)
    ]
    return da.concatenate(parts)


def simulate(p: dict[str, Any]) -> dict[str, Any]:
    """Lazy (Dask) strain, witness and coupled-noise series plus the glitch table."""
    fs = float(p["sample_rate"])
    n_total = int(round(p["duration"] * fs))
    chunk = int(round(p["chunk_seconds"] * fs))
    n_taps = int(FIR_SECONDS * fs)
    freqs = response_grid(n_taps, fs)
    colour = fir_from_response(asd_on(freqs, p["curve"]) / np.sqrt(2.0 / fs), n_taps)
    couple = fir_from_response(
        coupling_response(freqs, p["curve"], p["witness_coupling"], fs), n_taps
    )
    fs_int = int(p["sample_rate"])
    noise = apply_fir(_chunked(_white, n_total, chunk, p["seed"], 0, fs_int, chunk), colour)
    witness = _chunked(_white, n_total, chunk, p["seed"], 1, fs_int, chunk)
    coupled = apply_fir(witness, couple)
    table = glitch_table(p)
    glitches = _chunked(_glitches, n_total, chunk, table, fs, chunk)
    return {
        "strain": noise + coupled + glitches,
        "witness": witness,
        "coupled_noise": coupled,
        "glitches": table,
    }
