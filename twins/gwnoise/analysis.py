"""Detector-characterisation analysis: Welch spectra, whitening, Wiener subtraction, Q-map.

Every step works chunk by chunk on Dask arrays (spectra are per-chunk estimates averaged with
segment-count weights; filters and the time-frequency map use overlapping chunks), so a long
stretch never has to sit in one worker's memory.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pandas as pd
from scipy import ndimage, signal

from .filters import fir_from_response, response_grid

BINS_PER_SECOND = 32  # time resolution of the stored time-frequency map
Q_VALUES = (4.0, 8.0, 16.0, 32.0)
MAP_PAD_S = 2.0  # map overlap: 8 sigma of the longest tile (Q=32 at 20 Hz, sigma_t = 0.25 s)


def _block_spectra(x: np.ndarray, y: np.ndarray | None, fs: float, n: int, median: bool):
    f, pxx = signal.welch(x, fs, nperseg=n, average="median" if median else "mean")
    pxy = signal.csd(x, y, fs, nperseg=n)[1] if y is not None else None
    return f, pxx, pxy, x.size


def spectra(
    x: da.Array, fs: float, n: int, y: da.Array | None = None, median: bool = False
) -> list:
    """Delayed Welch PSD of ``x`` (and CSD x->y) averaged over chunks.

    ``median=True`` takes the (bias-corrected) median over segments within each chunk: loud
    glitches then barely move the estimate, which the whitening filter relies on.
    """
    xs = x.to_delayed().ravel()
    ys = y.to_delayed().ravel() if y is not None else [None] * len(xs)
    blocks = [
        dask.delayed(_block_spectra)(a, b, fs, n, median) for a, b in zip(xs, ys, strict=True)
    ]
    return dask.delayed(_average)(blocks)


def _average(blocks: list) -> dict[str, np.ndarray]:
    weights = np.array([b[3] for b in blocks], dtype=float)
    weights /= weights.sum()
    out = {
        "frequency": blocks[0][0],
        "psd": sum(w * b[1] for w, b in zip(weights, blocks, strict=True)),
    }
    if blocks[0][2] is not None:
        out["csd"] = sum(w * b[2] for w, b in zip(weights, blocks, strict=True))
    return out


def band_taper(freqs: np.ndarray, fs: float, low: float = 12.0, high: float = 16.0) -> np.ndarray:
    """0 below ``low`` Hz, 1 above ``high`` Hz and up to 0.9 Nyquist, cosine ramps between."""
    up = np.clip((freqs - low) / (high - low), 0, 1)
    top = 0.45 * fs
    down = np.clip((0.5 * fs - freqs) / (0.5 * fs - top), 0, 1)
    return np.sin(0.5 * np.pi * up) ** 2 * np.sin(0.5 * np.pi * down) ** 2


def whitening_kernel(freq: np.ndarray, psd: np.ndarray, fs: float, n_taps: int) -> np.ndarray:
    """FIR that maps noise of one-sided PSD ``psd`` to unit-variance white (PSD 2/fs) in band."""
    grid = response_grid(n_taps, fs)
    psd_on_grid = np.interp(grid, freq, psd)
    response = np.sqrt(2.0 / fs / np.maximum(psd_on_grid, 1e-300)) * band_taper(grid, fs)
    return fir_from_response(response, n_taps)


def wiener_kernel(freq: np.ndarray, p_ww: np.ndarray, p_wh: np.ndarray, n_taps: int, fs: float):
    """Optimal linear witness->strain filter H = P_wh / P_ww (the frequency-domain Wiener)."""
    grid = response_grid(n_taps, fs)
    transfer = p_wh / np.maximum(p_ww, 1e-300)
    response = np.interp(grid, freq, transfer.real) + 1j * np.interp(grid, freq, transfer.imag)
    return fir_from_response(response, n_taps)


def map_rows(f_min: float = 20.0, f_max: float = 1000.0, n_rows: int = 48) -> np.ndarray:
    """Log-spaced centre frequencies of the time-frequency map."""
    return np.geomspace(f_min, f_max, n_rows)


def _decimation(f0: float, q: float, fs: float) -> int:
    """Largest power-of-two step (dividing a map bin) that still samples a tile without aliasing.

    A tile's band is f0 +- 6 f0/Q; sampling its complex envelope at fs/d >= twice that width
    keeps all of it. The step depends on the tile only, not on the block, so every chunking
    samples the same instants.
    """
    d = int(fs) // BINS_PER_SECOND
    while d > 1 and fs / d < 2.0 * 12.0 * f0 / q:
        d //= 2
    return d


def _qmap_block(block: np.ndarray, fs: float, pad: int, rows: np.ndarray) -> np.ndarray:
    n = block.size
    spectrum = np.fft.rfft(block)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    bin_len = int(fs) // BINS_PER_SECOND
    n_bins = (n - 2 * pad) // bin_len
    out = np.zeros((rows.size, n_bins))
    for r, f0 in enumerate(rows):
        for q in Q_VALUES:
            sigma = f0 / q
            lo = max(1, int(np.floor((f0 - 6 * sigma) * n / fs)))
            hi = min(n // 2, int(np.ceil((f0 + 6 * sigma) * n / fs)))
            window = np.exp(-0.5 * ((f[lo : hi + 1] - f0) / sigma) ** 2)
            # the analytic band-passed signal at every d-th sample: the band folds into an
            # m-point inverse FFT exactly, because it is narrower than m bins
            d = _decimation(f0, q, fs)
            m = n // d
            folded = np.zeros(m, dtype=complex)
            folded[np.arange(lo, hi + 1) % m] = 2.0 * window * spectrum[lo : hi + 1]
            z = np.fft.ifft(folded) * (m / n)
            # for unit white input E|z|^2 = 4/n sum|W|^2: energies are in units of that mean
            energy = np.abs(z) ** 2 / (4.0 / n * np.sum(window**2))
            inner = energy[pad // d : pad // d + n_bins * (bin_len // d)]
            out[r] = np.maximum(out[r], inner.reshape(n_bins, -1).max(axis=1))
    return out


def q_map(whitened: da.Array, fs: float, rows: np.ndarray) -> da.Array:
    """Normalised tile energy (mean 1 in Gaussian noise), max over Q and over 1/32 s bins.

    A Q-transform in the sense of Chatterji et al. (2004): Gaussian band-pass tiles of
    bandwidth f/Q, several Q, each normalised to its expected energy in white noise, so a
    sine-Gaussian of matched-filter SNR rho peaks near 1 + rho^2/2.
    """
    pad = int(MAP_PAD_S * fs)
    bin_len = int(fs) // BINS_PER_SECOND
    if any(c % bin_len for c in whitened.chunks[0]):
        raise ValueError(
            f"parameter 'chunk_seconds' must give chunks of whole 1/{BINS_PER_SECOND} s"
        )
    padded = da.overlap.overlap(whitened, depth={0: pad}, boundary={0: "periodic"})
    return padded.map_blocks(
        _qmap_block,
        fs,
        pad,
        rows,
        new_axis=0,
        chunks=((rows.size,), tuple(c // bin_len for c in whitened.chunks[0])),
        dtype=float,
    )


def find_glitches(energy: np.ndarray, rows: np.ndarray, threshold: float) -> pd.DataFrame:
    """Excess-power triggers: connected loud regions of the time-frequency map, one each.

    Tiles above ``threshold`` that touch in time or frequency (diagonals included) form one
    trigger, placed at its loudest tile, so two glitches close in time but apart in frequency
    stay two triggers. ``snr`` is sqrt(2 (E - 1)), the SNR that gives peak energy E in a
    matched tile.
    """
    labels, n = ndimage.label(energy > threshold, structure=np.ones((3, 3)))
    found = []
    for region in ndimage.find_objects(labels):
        sub = np.where(labels[region] > 0, energy[region], 0.0)
        r, c = np.unravel_index(np.argmax(sub), sub.shape)
        peak = sub[r, c]
        found.append(
            {
                "time": (region[1].start + c + 0.5) / BINS_PER_SECOND,
                "frequency": rows[region[0].start + r],
                "energy": peak,
                "snr": np.sqrt(2.0 * max(peak - 1.0, 0.0)),
            }
        )
    columns = ["time", "frequency", "energy", "snr"]
    return pd.DataFrame(found, columns=columns).sort_values("time", ignore_index=True)


def match_triggers(
    triggers: pd.DataFrame, injected: pd.DataFrame, tolerance: float = 0.1
) -> dict[str, float]:
    """Recall of injections (a trigger within ``tolerance`` s) and false alarms per minute."""
    t_trig = triggers["time"].to_numpy(dtype=float)
    t_inj = injected["time"].to_numpy(dtype=float)
    found = [np.any(np.abs(t_trig - t) <= tolerance) for t in t_inj]
    false = [not np.any(np.abs(t_inj - t) <= tolerance) for t in t_trig]
    return {"found": np.array(found, dtype=bool), "false": np.array(false, dtype=bool)}
