"""Dashboard of the extremes twin: ``create_app()`` returns a Panel template.

Serve it with ``panel serve twins/extremes/app.py`` (or through the hub's dashboard service).
A :class:`ExtremesDashboard` (param.Parameterized) holds the choices; a change runs the model
(a twin run with its provenance record; the bootstrap ensemble goes to the Dask client when one
is given) in a worker thread while the page shows a loading indicator.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
import xarray as xr
from twinhub.twins.extremes.indicators import INDICATORS
from twinhub.twins.publish import failure_message
from twinhub.twins.runs import RunRecord
from twinhub.twins.twin import load_twin

log = logging.getLogger(__name__)
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extremes-app")

THRESHOLD_OF = {"hot_days": "hot_threshold", "heat_wave_frequency": "heatwave_tmax",
                "heat_wave_max_length": "heatwave_tmax"}  # fmt: skip
"""Which model parameter the dashboard's threshold sets, per indicator (others have none)."""


@dataclass
class Outcome:
    result: xr.Dataset
    record: RunRecord
    indicator: str


def gringorten(maxima: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical return periods of sorted annual maxima (Gringorten plotting positions)."""
    x = np.sort(maxima[np.isfinite(maxima)])
    n = x.size
    p = (np.arange(1, n + 1) - 0.44) / (n + 0.12)
    return 1 / (1 - p), x


class ExtremesDashboard(param.Parameterized):
    """What the user chose (parameters) and what was computed from it (``outcome``)."""

    dataset = param.Selector(default="champion_daily", objects=["champion_daily", "fulda_daily"])
    indicator = param.Selector(default="hot_days", objects=list(INDICATORS), label="Indicator")
    threshold = param.Number(30.0, bounds=(-10.0, 45.0), step=1.0, label="Threshold (°C)")
    gev_indicator = param.Selector(
        default="rx1day", objects=["rx1day", "rx5day", "txx"], label="Return levels of"
    )
    bootstrap = param.Integer(100, bounds=(0, 1000), label="Bootstrap members")
    outcome = param.Parameter(default=None, precedence=-1)
    error = param.String(default="", precedence=-1)
    busy = param.Boolean(default=False, precedence=-1)

    def __init__(self, client: Any = None, **params):
        super().__init__(**params)
        self._client = client
        self._twin = load_twin("extremes")

    def run_parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"gev_indicator": self.gev_indicator, "bootstrap": self.bootstrap}
        if self.indicator in THRESHOLD_OF:
            params[THRESHOLD_OF[self.indicator]] = self.threshold
        return params

    def compute(self) -> Outcome:
        result, record = self._twin.run(
            self.run_parameters(), entry=self.dataset, client=self._client
        )
        return Outcome(result, record, self.indicator)

    @param.depends("dataset", "indicator", "threshold", "gev_indicator", "bootstrap", watch=True)
    async def refresh(self) -> None:
        self.busy = True
        try:
            loop = asyncio.get_running_loop()
            self.outcome = await loop.run_in_executor(_EXECUTOR, self.compute)
            self.error = ""
        except Exception as e:  # shown to the user, who can fix the input
            log.warning("%s run failed", type(self).__name__, exc_info=True)
            self.error = failure_message(e)  # a run the cluster broke is recorded first
        finally:
            self.busy = False

    # --- views ---------------------------------------------------------------------------
    @param.depends("outcome")
    def yearly_plot(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("Computing the indicators…")
        series = out.result[out.indicator]
        years = series.year.values.astype(float)
        slope, intercept = np.polyfit(years, series.values, 1)
        units = series.attrs["units"]
        plot = (
            hv.Curve((years, series.values), "year", "value", label=out.indicator).opts(
                color="#08519c", line_width=2, tools=["hover"]
            )
            * hv.Scatter((years, series.values), "year", "value").opts(color="#08519c", size=5)
            * hv.Curve((years, intercept + slope * years), "year", "value",
                       label=f"trend {10 * slope:+.2f} {units}/decade").opts(
                color="#cb181d", line_dash="dashed")
        )  # fmt: skip
        return pn.pane.HoloViews(
            plot.opts(responsive=True, height=330, ylabel=f"{out.indicator} ({units})",
                      title=INDICATORS[out.indicator][1], legend_position="top_left"),
            sizing_mode="stretch_width", name="yearly-plot",
        )  # fmt: skip

    @param.depends("outcome")
    def return_level_plot(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("")
        ds = out.result
        periods = ds.period.values
        axis = "return period (years)"
        plot = hv.Curve((periods, ds.return_level.values), axis, "level", label="GEV fit").opts(
            color="black", line_width=2, tools=["hover"]
        )
        if "return_level_band" in ds:
            band = ds.return_level_band
            plot = hv.Area(
                (periods, band.isel(bound=0).values, band.isel(bound=1).values),
                "return period (years)", ["low", "high"],
                label=f"{ds.attrs['confidence']:.0%} bootstrap interval",
            ).opts(color="#9ecae1", alpha=0.6, line_alpha=0) * plot  # fmt: skip
        t, x = gringorten(ds.annual_maximum.values)
        plot = plot * hv.Scatter((t, x), "return period (years)", "level", label="annual maxima")
        units = ds.return_level.attrs.get("units", "")
        return pn.pane.HoloViews(
            plot.opts(responsive=True, height=330, logx=True,
                      ylabel=f"{ds.attrs['gev_indicator']} ({units})",
                      title="Return levels", legend_position="top_left"),
            sizing_mode="stretch_width", name="return-level-plot",
        )  # fmt: skip

    @param.depends("outcome", "error")
    def indicators(self):
        if self.error:
            return pn.pane.Alert(self.error, alert_type="danger")
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("")
        series = out.result[out.indicator]
        level100 = out.result.return_level.sel(period=out.result.period.max())
        trend = float(out.result[f"{out.indicator}_trend"])
        card = {"format": "{value}", "font_size": "22pt", "title_size": "11pt"}
        return pn.Row(
            pn.indicators.Number(name=f"Mean {out.indicator} per year",
                                 value=round(float(series.mean()), 2),
                                 css_classes=["indicator-mean"], **card),
            pn.indicators.Number(name="Trend per decade",
                                 value=round(trend, 2), **card),
            pn.indicators.Number(name=f"{float(level100.period):.0f}-year level",
                                 value=round(float(level100), 1), **card),
            pn.indicators.Number(name="Unusual days flagged",
                                 value=int(out.result.unusual.sum()), **card),
        )  # fmt: skip

    def netcdf(self) -> io.BytesIO:
        return io.BytesIO(self.outcome.result.drop_vars("unusual").to_netcdf())

    def provenance(self) -> io.BytesIO:
        return io.BytesIO(json.dumps(self.outcome.record.provenance(), indent=1).encode())


def create_app(client: Any = None) -> pn.template.FastListTemplate:
    """The dashboard: controls in the sidebar, yearly series with trend, return levels."""
    pn.extension(notifications=True)
    hv.extension("bokeh")
    state = ExtremesDashboard(client=client)
    controls = pn.Param(
        state,
        parameters=["dataset", "indicator", "threshold", "gev_indicator", "bootstrap"],
        widgets={"threshold": {"type": pn.widgets.FloatInput, "step": 1.0}},
        show_name=False,
    )
    downloads = pn.Column(
        pn.widgets.FileDownload(callback=state.netcdf, filename="extremes.nc",
                                label="Download results (netCDF)", button_type="primary"),
        pn.widgets.FileDownload(callback=state.provenance, filename="extremes-run.prov.json",
                                label="Download provenance (PROV-JSON)"),
    )  # fmt: skip
    note = pn.pane.Markdown(
        "The threshold sets the hot-day limit (hot days) or the daily maximum of heat-wave days "
        "(heat waves); frost days use 0 °C, the warm-spell index the 90th percentile."
    )
    main = pn.Column(
        state.indicators, state.yearly_plot, state.return_level_plot, sizing_mode="stretch_width"
    )
    state.param.watch(lambda event: setattr(main, "loading", event.new), "busy")
    main.loading = state.busy
    # the first run starts once the page is shown (immediately outside a server)
    pn.state.onload(state.refresh)
    return pn.template.FastListTemplate(
        title="Climate extremes twin: indicators and return levels",
        sidebar=[controls, note, "### Downloads", downloads],
        main=[main],
        sidebar_width=320,
    )


if __name__.startswith("bokeh"):
    create_app().servable()
