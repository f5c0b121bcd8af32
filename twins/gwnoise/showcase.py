"""Front-page figure of the gwnoise twin: the estimated strain ASD against the design curve.

A real 64 s simulation with the manifest's defaults; the skill figures are how closely the
noise estimated after witness subtraction follows the published Advanced Virgo design ASD
(shipped by bilby), and the share of injected glitches the excess-power finder recovers.
"""

from __future__ import annotations

import numpy as np
from twinhub.twins.gwnoise.model import run
from twinhub.twins.showcase import Showcase, Skill

BAND = (20.0, 1000.0)
BAND_WIDTH = 10.0


def band_ratio(freq: np.ndarray, asd: np.ndarray, design: np.ndarray) -> np.ndarray:
    """sqrt of mean PSD over mean design PSD in 10 Hz bands (a per-bin ratio is too noisy)."""
    edges = np.arange(BAND[0], BAND[1] + 1, BAND_WIDTH)
    out = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (freq >= low) & (freq < high)
        out.append(np.sqrt((asd[inside] ** 2).mean() / (design[inside] ** 2).mean()))
    return np.array(out)


def showcase() -> Showcase:
    import matplotlib.pyplot as plt

    ds = run(None, {"curve": "AdV", "duration": 64, "chunk_seconds": 16})
    freq = ds.frequency.values
    ratio = band_ratio(freq, ds.asd_cleaned.values, ds.asd_design.values)
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    shown = (freq >= 10) & (freq <= 2000)
    ax.loglog(freq[shown], ds.asd_cleaned.values[shown], lw=0.8, label="estimated (cleaned)")
    ax.loglog(freq[shown], ds.asd_design.values[shown], "k--", lw=1, label="AdV design")
    ax.set(xlabel="frequency (Hz)", ylabel="ASD (1/√Hz)", title="Strain noise")
    ax.legend(fontsize=8)
    return Showcase(
        figure=fig,
        caption="Strain ASD after witness subtraction against the design sensitivity",
        skills=[
            Skill("largest ASD deviation from design, 20-1000 Hz",
                  float(np.abs(ratio - 1).max()) * 100,
                  "Advanced Virgo design sensitivity curve (published, shipped by bilby)", "%", 1),
            Skill("glitches recovered", float(ds.glitch_found.mean()) * 100,
                  "the injected glitches of the run (known times)", "%", 0),
        ],
    )  # fmt: skip
