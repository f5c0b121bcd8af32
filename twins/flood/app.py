"""Dashboard of the flood twin: ``create_app()`` returns a Panel template.

Serve it with ``panel serve twins/flood/app.py`` (or through the hub's dashboard service). The
state lives in a :class:`FloodDashboard` (param.Parameterized): widgets edit its parameters, a
change schedules the ensemble in a worker thread (the page stays responsive and shows a loading
indicator), and the views redraw from the finished :class:`Outcome`.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param
from twinhub.twins.dashboard import Progress, TwinDashboard
from twinhub.twins.flood.scenario import Outcome, calibrated, run_scenario

FIRST, LAST = date(1980, 1, 1), date(1988, 12, 31)


class FloodDashboard(TwinDashboard):
    """What the user chose (parameters) and what was computed from it (``outcome``)."""

    twin_name = "flood"
    run_inputs = ("start", "end", "precip_scale", "storm_mm", "storm_day", "ensemble_size",
                  "precip_sigma")  # fmt: skip

    start = param.CalendarDate(default=date(1986, 1, 1), bounds=(FIRST, LAST))
    end = param.CalendarDate(default=date(1986, 12, 31), bounds=(FIRST, LAST))
    precip_scale = param.Number(1.0, bounds=(0.0, 3.0), step=0.05, label="Precipitation scale")
    storm_mm = param.Number(0.0, bounds=(0.0, 300.0), step=10.0, label="Synthetic storm (mm)")
    storm_day = param.CalendarDate(default=date(1986, 6, 15), bounds=(FIRST, LAST))
    ensemble_size = param.Integer(20, bounds=(1, 100), label="Ensemble size")
    precip_sigma = param.Number(0.2, bounds=(0.0, 1.0), step=0.05, label="Rainfall uncertainty")
    # a view setting: redraws the last ensemble, starts no model run
    show_observed = param.Boolean(True, label="Show observed discharge")

    def run_parameters(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "precip_scale": self.precip_scale, "storm_mm": self.storm_mm,
            "storm_day": self.storm_day.isoformat() if self.storm_mm else None,
            "ensemble_size": self.ensemble_size, "precip_sigma": self.precip_sigma,
        }  # fmt: skip

    def compute(self, progress: Progress) -> Outcome:
        """The blocking part (calibration once, then the ensemble): runs in a worker thread."""
        if self.end < self.start:
            raise ValueError("end: the period must end after it starts")
        cal, skill = calibrated()
        return run_scenario(self._twin, cal, skill, self.run_parameters(), client=self.client)

    # --- views ---------------------------------------------------------------------------
    @param.depends("outcome")
    def hydrograph(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("Calibrating the model and running the ensemble…")
        band = out.summary.band
        t = band.time.values
        q = {float(k): band.sel(quantile=k).values for k in band["quantile"].values}
        plot = (
            hv.Area((t, q[0.05], q[0.95]), "time", ["lo", "hi"], label="5–95 %").opts(
                color="#9ecae1", line_alpha=0, alpha=0.6
            )
            * hv.Area((t, q[0.25], q[0.75]), "time", ["lo", "hi"], label="25–75 %").opts(
                color="#4292c6", line_alpha=0, alpha=0.6
            )
            * hv.Curve((t, q[0.5]), "time", "discharge", label="median").opts(
                color="#08306b", line_width=2, tools=["hover"]
            )
        )
        # the checkbox shows or hides this curve in the drawn figure (bound option, updated in
        # place): no new figure, no model run, so the redraw is one property change
        plot = plot * hv.Curve(
            (t, out.observed.values), "time", "discharge", label="observed"
        ).opts(color="black", line_dash="dotted").apply.opts(visible=self.param.show_observed)
        for period, level in out.levels.items():
            plot = plot * hv.HLine(level).opts(color="#cb181d" if period == 10 else "#fd8d3c")
        return pn.pane.HoloViews(
            plot.opts(
                responsive=True, height=420, ylabel="discharge (m³/s)", xlabel="",
                ylim=(0, 1.08 * max(max(out.levels.values()), float(q[0.95].max()),
                                    float(out.observed.max()))),
                legend_position="top_left", title="Fulda at Grebenau: ensemble forecast",
            ),
            sizing_mode="stretch_width", name="hydrograph",
        )  # fmt: skip

    @param.depends("outcome")
    def indicators(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("")
        cards = [
            pn.indicators.Number(
                name="Peak of the median (m³/s)", value=round(out.peak_median, 1),
                format="{value}", font_size="24pt", title_size="11pt",
                css_classes=["peak-median"],
            )
        ]  # fmt: skip
        for period, level in out.levels.items():
            p = float(out.summary[f"p_exceed_{period}y"])
            cards.append(
                pn.indicators.Number(
                    name=f"P(exceed {period}-year flood, {level:.0f} m³/s)",
                    value=round(100 * p), format="{value} %", font_size="24pt", title_size="11pt",
                    colors=[(33, "green"), (66, "orange"), (100, "red")],
                )
            )  # fmt: skip
        return pn.Row(*cards)

    @param.depends("outcome")
    def skill_table(self):
        if self.outcome is None:
            return pn.pane.Markdown("")
        rows = [
            {
                "period": f"{name} ({s['start'][:4]}–{s['end'][:4]})",
                "NSE": s["nse"],
                "KGE": s["kge"],
            }
            for name, s in self.outcome.skill.items()
        ]
        return pn.Column(
            "### Skill of the calibrated model (best parameter set, ensemble member 0)",
            pn.widgets.Tabulator(pd.DataFrame(rows).round(3), disabled=True, show_index=False),
        )

    # --- downloads -----------------------------------------------------------------------
    def csv(self) -> io.BytesIO:
        return io.BytesIO(self.outcome.table().to_dataframe().to_csv().encode())

    def netcdf(self) -> io.BytesIO:
        return io.BytesIO(self.outcome.ensemble.to_netcdf())


def create_app(client: Any = None) -> pn.template.FastListTemplate:
    """The dashboard: controls in the sidebar, hydrograph, probabilities, skill and downloads."""
    state = FloodDashboard(client=client)
    return state.template(
        "Flood twin: Fulda at Grebenau",
        [state.indicators, state.hydrograph, state.skill_table],
        widgets={
            "storm_mm": {"type": pn.widgets.FloatInput, "step": 10.0},
            "precip_scale": {"type": pn.widgets.FloatSlider, "name": "Precipitation scale"},
            "ensemble_size": {"type": pn.widgets.IntSlider, "name": "Ensemble size"},
        },
        downloads=[
            pn.widgets.FileDownload(callback=state.csv, filename="flood-forecast.csv",
                                    label="Download bands (CSV)", button_type="primary"),
            pn.widgets.FileDownload(callback=state.netcdf, filename="flood-ensemble.nc",
                                    label="Download ensemble (netCDF)"),
        ],
        sidebar_width=330,
        extensions=["tabulator"],
    )  # fmt: skip


if __name__.startswith("bokeh"):
    create_app().servable()
