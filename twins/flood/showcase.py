"""Front-page figure of the flood twin: the calibrated HBV model against observed discharge.

The best parameter set of the calibration the twin ships (``calibrated.json``, calibrated on
1980-1984: member 0 of a default run, and of the dashboard's runs), scored on the held-out years
1985-1988 against the observed discharge of the Fulda at Grebenau.
"""

from __future__ import annotations

from twinhub.twins.flood import calibrate, calibrated, model
from twinhub.twins.flood.calibrate import VALIDATION
from twinhub.twins.showcase import Showcase, Skill
from twinhub.twins.twin import load_twin

OBSERVED = "observed daily discharge of the Fulda at Grebenau, held-out years 1985-1988"


def showcase() -> Showcase:
    import matplotlib.pyplot as plt

    best = {name: values[0] for name, values in calibrated.parameter_sets().items()}
    inputs = load_twin("flood").inputs(calibrated.ENTRY).load()
    simulated = model.run(inputs, best)
    skill = calibrate.skill(inputs, simulated)
    obs = inputs.discharge.sel(time=VALIDATION)
    sim = simulated.discharge.sel(time=VALIDATION)
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    ax.plot(obs.time.values, obs.values, color="black", lw=0.7, label="observed")
    ax.plot(sim.time.values, sim.values, color="#2c7fb8", lw=0.7, label="HBV (calibrated)")
    ax.set(ylabel="discharge (m³/s)", title="Fulda at Grebenau, validation")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return Showcase(
        figure=fig,
        caption="Discharge on the validation years (not used in calibration)",
        skills=[
            Skill("NSE, validation 1985-1988", skill["validation"]["nse"], OBSERVED),
            Skill("KGE, validation 1985-1988", skill["validation"]["kge"], OBSERVED),
        ],
    )
