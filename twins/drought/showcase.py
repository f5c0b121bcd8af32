"""Front-page figure of the drought twin: SPI-3 at Champion, Nebraska, 1982-2018.

The twin's own run on the catalog's Champion record; the skill figures check the index against
its definition (McKee et al. 1993; WMO 2012): over the calibration period an SPI is standard
normal, so its mean is 0 and its standard deviation 1.
"""

from __future__ import annotations

from twinhub.twins.showcase import Showcase, Skill
from twinhub.twins.twin import load_twin

ENTRY = "champion_daily"
DEFINITION = "the SPI's definition: standard normal, mean 0 and sd 1 (McKee et al. 1993; WMO 2012)"


def showcase() -> Showcase:
    import matplotlib.pyplot as plt

    result, _record = load_twin("drought").run({"index": "spi", "event_scale": 3}, entry=ENTRY)
    spi3 = result.spi.sel(scale=3).load()
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    months = spi3.month.values
    ax.fill_between(months, spi3.values, 0, where=spi3.values < 0, color="#d95f0e", lw=0)
    ax.fill_between(months, spi3.values, 0, where=spi3.values >= 0, color="#2c7fb8", lw=0)
    ax.axhline(-1, color="red", ls="--", lw=0.8)
    ax.set(xlabel="month", ylabel="SPI-3", title="Champion, Nebraska: SPI-3")
    return Showcase(
        figure=fig,
        caption="3-month Standardized Precipitation Index; below -1 is drought",
        skills=[
            Skill("SPI-3 mean", float(spi3.mean()), DEFINITION, "", 3),
            Skill("SPI-3 standard deviation", float(spi3.std()), DEFINITION, "", 3),
        ],
    )
