"""Front-page figure of the lattice twin: Monte Carlo |m|(T) of the Ising limit against Onsager.

A small real run (L = 16, a few hundred sweeps) of the model's own code; the skill figure is how
far the ordered-phase magnetisation lies from Yang's exact result, in standard errors.
"""

from __future__ import annotations

import numpy as np
from twinhub.twins.lattice.model import T_CRITICAL, onsager_magnetisation, run
from twinhub.twins.showcase import Showcase, Skill

TEMPERATURES = [1.6, 1.8, 2.0, 2.2, 2.269, 2.4, 2.6, 3.0]
ORDERED = [1.6, 1.8, 2.0]  # far enough below T_c for the finite lattice to match L = infinity


def showcase() -> Showcase:
    import matplotlib.pyplot as plt

    scan = run(None, {"sizes": [16], "temperatures": TEMPERATURES, "sweeps": 600, "replicas": 2})
    s = scan.sel(size=16)
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    t = np.linspace(1.5, 3.05, 300)
    ax.plot(t, onsager_magnetisation(t), "k--", lw=1, label="Onsager/Yang (exact, L = ∞)")
    ax.errorbar(TEMPERATURES, s.abs_magnetisation, s.abs_magnetisation_error, fmt="o",
                ms=4, color="#1f77b4", label="Monte Carlo, L = 16")  # fmt: skip
    ax.axvline(T_CRITICAL, color="grey", lw=0.7)
    ax.set(xlabel="temperature T", ylabel="<|m|>", title="2-D Ising magnetisation")
    ax.legend(fontsize=8, loc="lower left")
    below = s.sel(temperature=ORDERED)
    exact = onsager_magnetisation(below.temperature.values)
    z = (below.abs_magnetisation.values - exact) / below.abs_magnetisation_error.values
    relative = np.abs(below.abs_magnetisation.values - exact) / exact
    return Showcase(
        figure=fig,
        caption="Magnetisation of the Ising limit against the exact solution",
        skills=[
            Skill("largest |m − m_exact| / m_exact, T ≤ 2.0", float(relative.max()) * 100,
                  "Onsager (1944), Yang (1952) exact spontaneous magnetisation", "%", 2),
            Skill("largest deviation in standard errors, T ≤ 2.0", float(np.abs(z).max()),
                  "Onsager (1944), Yang (1952) exact spontaneous magnetisation", "σ", 1),
        ],
    )  # fmt: skip
