"""FIR filters from frequency responses, applied chunk-wise so long stretches run on Dask.

Colouring, whitening and the Wiener witness filter are all "multiply the spectrum by R(f)".
Doing it as a finite, zero-phase-centred FIR lets each Dask chunk be filtered with only a
kernel's half-length of overlap from its neighbours (``dask.array.map_overlap``), so the
chunked result equals filtering the whole series at once (up to round-off).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from scipy import signal


def fir_from_response(response: np.ndarray, n_taps: int) -> np.ndarray:
    """Kernel of odd length ``n_taps + 1`` whose centre is lag 0, from R on the rfft grid.

    ``response`` is sampled at ``np.fft.rfftfreq(n_taps, 1/fs)`` (complex allowed, e.g. a
    Wiener transfer function); the impulse response is windowed (Hann) to limit leakage.
    """
    if response.shape != (n_taps // 2 + 1,):
        raise ValueError(f"response needs {n_taps // 2 + 1} samples, got {response.shape}")
    impulse = np.roll(np.fft.irfft(response, n_taps), n_taps // 2)
    kernel = np.append(impulse, 0.0)  # odd length: lag 0 sits exactly at the centre
    return kernel * signal.get_window("hann", n_taps + 1, fftbins=False)


def _convolve(block: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return signal.fftconvolve(block, kernel, mode="same")


def apply_fir(series: da.Array | np.ndarray, kernel: np.ndarray) -> da.Array | np.ndarray:
    """Circular filtering with ``kernel``: chunk-wise when given a Dask array.

    The series is treated as periodic, so a simulated stretch is stationary to its very ends
    (no zero-padding transients for the whitening or the glitch finder to trip over).
    """
    depth = kernel.size // 2 + 1
    if not isinstance(series, da.Array):
        wrapped = np.concatenate([series[-depth:], series, series[:depth]])
        return _convolve(wrapped, kernel)[depth:-depth]
    if min(series.chunks[0]) < depth:
        raise ValueError(
            f"parameter 'chunk_seconds' too short: chunks need >= {depth} samples for this filter"
        )
    return da.map_overlap(
        _convolve, series, depth=depth, boundary="periodic", dtype=float, kernel=kernel
    )


def response_grid(n_taps: int, sample_rate: float) -> np.ndarray:
    """The frequencies at which ``fir_from_response`` expects its response."""
    return np.fft.rfftfreq(n_taps, 1.0 / sample_rate)
