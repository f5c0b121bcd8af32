"""Published detector design sensitivities, read from the files that ``bilby`` ships.

No download at run time: the curves are package data of bilby (MIT licence), read with
``importlib.resources`` so they work from a wheel, an editable install or a zip.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import xarray as xr

# dashboard label -> (bilby file, where the curve was published)
CURVES: dict[str, tuple[str, str]] = {
    "AdV": ("AdV_asd.txt", "Advanced Virgo design, LIGO-P1200087-v42"),
    "aLIGO": ("aLIGO_ZERO_DET_high_P_asd.txt", "aLIGO design (zero detuning, high power)"),
    "aLIGO_O4": ("aLIGO_O4_high_asd.txt", "aLIGO O4 high sensitivity, LIGO-T2000012"),
}


def design_asd(curve: str) -> xr.DataArray:
    """The amplitude spectral density of ``curve`` on its published frequency grid."""
    if curve not in CURVES:
        raise ValueError(f"parameter 'curve' must be one of {sorted(CURVES)}, got {curve!r}")
    filename, source = CURVES[curve]
    table = np.loadtxt(files("bilby.gw.detector") / "noise_curves" / filename)
    return xr.DataArray(
        table[:, 1],
        dims="frequency",
        coords={"frequency": ("frequency", table[:, 0], {"units": "Hz"})},
        name="design_asd",
        attrs={
            "long_name": f"design amplitude spectral density ({curve})",
            "units": "1/sqrt(Hz)",
            "source": f"{source}; file bilby/gw/detector/noise_curves/{filename}",
            "licence": "MIT (bilby)",
        },
    )


def asd_on(frequencies: np.ndarray, curve: str) -> np.ndarray:
    """The design ASD interpolated (log-log) onto ``frequencies``, held flat beyond its ends.

    Below the curve's first frequency (about 10 Hz, the seismic wall) the value is held: the
    band of interest starts at 20 Hz and whitening removes whatever is below.
    """
    asd = design_asd(curve)
    f = asd.frequency.values
    safe = np.clip(frequencies, f[0], f[-1])
    return np.exp(np.interp(np.log(safe), np.log(f), np.log(asd.values)))
