"""Dashboard of the drought twin: ``create_app()`` returns a Panel template.

Serve it with ``panel serve twins/drought/app.py`` (or through the hub's dashboard service). The
state lives in a :class:`DroughtDashboard` (param.Parameterized): widgets edit its parameters, a
change runs the model (baseline and what-if, each a twin run with its provenance record) in a
worker thread while the page shows a loading indicator, and the views redraw from the result.
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
import pandas as pd
import panel as pn
import param
import xarray as xr
from twinhub.twins.drought.events import event_table, events_per_decade
from twinhub.twins.publish import failure_message
from twinhub.twins.runs import RunRecord
from twinhub.twins.twin import load_twin

log = logging.getLogger(__name__)
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drought-app")

CLASSES = [  # McKee et al. (1993) drought classes of SPI (and SPEI)
    ("extreme", -np.inf, -2.0, "#67000d"),
    ("severe", -2.0, -1.5, "#cb181d"),
    ("moderate", -1.5, -1.0, "#fb6a4a"),
    ("mild", -1.0, 0.0, "#fcbba1"),
    ("wet", 0.0, np.inf, "#6baed6"),
]


def drought_class(values: np.ndarray) -> np.ndarray:
    """The class name of each index value (McKee: mild 0..-1, moderate, severe, extreme <= -2)."""
    out = np.full(values.shape, "none", dtype=object)
    for name, low, high, _ in CLASSES:
        out[(values > low) & (values <= high)] = name
    out[values <= -2.0] = "extreme"
    return out


@dataclass
class Outcome:
    baseline: xr.Dataset
    scenario: xr.Dataset
    record: RunRecord
    index: str
    scale: int
    threshold: float

    def series(self, which: str = "scenario") -> xr.DataArray:
        ds = self.baseline if which == "baseline" else self.scenario
        return ds[self.index].sel(scale=self.scale)

    def events(self) -> pd.DataFrame:
        return event_table(self.series(), self.scenario.event_id, self.threshold)

    def frequency(self, which: str) -> float:
        ds = self.baseline if which == "baseline" else self.scenario
        return events_per_decade(ds.event_id)


class DroughtDashboard(param.Parameterized):
    """What the user chose (parameters) and what was computed from it (``outcome``)."""

    dataset = param.Selector(default="champion_daily", objects=["champion_daily", "fulda_daily"])
    index = param.Selector(default="spi", objects=["spi", "spei"], label="Index")
    scale = param.Selector(default=3, objects=[1, 3, 6, 12], label="Accumulation (months)")
    threshold = param.Number(-1.0, bounds=(-3.0, 0.0), step=0.1, label="Drought threshold")
    precip_change = param.Number(
        0.0, bounds=(-50.0, 50.0), step=5.0, label="Precipitation change (%)"
    )
    outcome = param.Parameter(default=None, precedence=-1)
    error = param.String(default="", precedence=-1)
    busy = param.Boolean(default=False, precedence=-1)

    def __init__(self, client: Any = None, **params):
        super().__init__(**params)
        self._client = client
        self._twin = load_twin("drought")

    def run_parameters(self, precip_scale: float) -> dict[str, Any]:
        return {
            "index": self.index, "event_scale": int(self.scale), "threshold": self.threshold,
            "precip_scale": precip_scale,
        }  # fmt: skip

    def compute(self) -> Outcome:
        """Baseline and what-if runs (each with its provenance record): runs in a thread."""
        run = self._twin.run
        baseline, _ = run(self.run_parameters(1.0), entry=self.dataset, client=self._client)
        scale = 1.0 + self.precip_change / 100.0
        scenario, record = run(self.run_parameters(scale), entry=self.dataset, client=self._client)
        return Outcome(baseline, scenario, record, self.index, int(self.scale), self.threshold)

    @param.depends("dataset", "index", "scale", "threshold", "precip_change", watch=True)
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
    def index_plot(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("Computing the indices…")
        series = out.series()
        frame = pd.DataFrame({"month": series.month.values, "drought_index": series.values})
        frame["class"] = drought_class(frame["drought_index"].to_numpy())
        colours = {name: colour for name, _, _, colour in CLASSES}
        spikes = hv.Spikes(frame.dropna(), "month", ["drought_index", "class"]).opts(
            color="class", cmap=colours, line_width=3, tools=["hover"], show_legend=True
        )
        base = out.series("baseline")
        plot = spikes * hv.HLine(out.threshold).opts(color="black", line_dash="dashed")
        if out.scenario.attrs["precip_scale"] != 1.0:
            plot = plot * hv.Curve(
                (base.month.values, base.values),
                "month",
                "observed_index",
                label="observed climate",
            ).opts(color="grey", alpha=0.7)
        title = f"{out.index.upper()}-{out.scale} ({self.dataset}), drought classes coloured"
        return pn.pane.HoloViews(
            plot.opts(responsive=True, height=380, ylabel=out.index.upper(), xlabel="",
                      title=title, ylim=(-4, 4), legend_position="right"),
            sizing_mode="stretch_width", name="index-plot",
        )  # fmt: skip

    @param.depends("outcome", "error")
    def indicators(self):
        if self.error:
            return pn.pane.Alert(self.error, alert_type="danger")
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("")
        base, scen = out.frequency("baseline"), out.frequency("scenario")
        card = {"format": "{value}", "font_size": "24pt", "title_size": "11pt"}
        return pn.Row(
            pn.indicators.Number(name="Events per decade (observed)", value=round(base, 2),
                                 css_classes=["events-baseline"], **card),
            pn.indicators.Number(name=f"Events per decade ({self.precip_change:+.0f} % rain)",
                                 value=round(scen, 2), css_classes=["events-scenario"], **card),
            pn.indicators.Number(name="Months in drought (what-if)",
                                 value=int((out.scenario.event_id > 0).sum()), **card),
        )  # fmt: skip

    @param.depends("outcome")
    def events_view(self):
        if self.outcome is None:
            return pn.pane.Markdown("")
        table = self.outcome.events().round(2)
        return pn.Column(
            f"### Drought events (run theory, {self.outcome.index.upper()}-{self.outcome.scale} "
            f"< {self.outcome.threshold})",
            pn.widgets.Tabulator(table, disabled=True, show_index=False, height=300),
        )

    def csv(self) -> io.BytesIO:
        return io.BytesIO(self.outcome.events().to_csv(index=False).encode())

    def provenance(self) -> io.BytesIO:
        return io.BytesIO(json.dumps(self.outcome.record.provenance(), indent=1).encode())


def create_app(client: Any = None) -> pn.template.FastListTemplate:
    """The dashboard: controls in the sidebar, index series, event frequency, event table."""
    pn.extension("tabulator", notifications=True)
    hv.extension("bokeh")
    state = DroughtDashboard(client=client)
    controls = pn.Param(
        state,
        parameters=["dataset", "index", "scale", "threshold", "precip_change"],
        widgets={
            "precip_change": {"type": pn.widgets.FloatInput, "step": 5.0},
            "threshold": {"type": pn.widgets.FloatSlider, "name": "Drought threshold"},
        },
        show_name=False,
    )
    downloads = pn.Column(
        pn.widgets.FileDownload(callback=state.csv, filename="drought-events.csv",
                                label="Download events (CSV)", button_type="primary"),
        pn.widgets.FileDownload(callback=state.provenance, filename="drought-run.prov.json",
                                label="Download provenance (PROV-JSON)"),
    )  # fmt: skip
    main = pn.Column(
        state.indicators, state.index_plot, state.events_view, sizing_mode="stretch_width"
    )
    state.param.watch(lambda event: setattr(main, "loading", event.new), "busy")
    main.loading = state.busy
    # the first run starts once the page is shown (immediately outside a server)
    pn.state.onload(state.refresh)
    return pn.template.FastListTemplate(
        title="Drought twin: SPI, SPEI and what-if rainfall",
        sidebar=[controls, "### Downloads", downloads],
        main=[main],
        sidebar_width=320,
    )


if __name__.startswith("bokeh"):
    create_app().servable()
