"""Dashboard of the extremes -> flood pipeline: ``create_app()`` returns a Panel template.

One run is the whole pipeline (:func:`twinhub.twins.pipeline.run_pipeline`: one Dask graph, one
PROV document): the GEV's 100-year daily rainfall on the Fulda record, that rainfall as a storm
on the chosen day in the flood ensemble, and the probabilities of exceeding the 2- and 10-year
floods. The provenance download is the pipeline's document, with the chain across the twins.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from prov.model import ProvDocument
from twinhub.twins.dashboard import Progress, TwinDashboard
from twinhub.twins.pipeline import PIPELINE_FILE, PipelineOutputs, load_pipeline, run_pipeline
from twinhub.twins.publish import RegistryError, publish

PIPELINE = Path(__file__).resolve().parent / PIPELINE_FILE


@dataclass
class Outcome:
    outputs: PipelineOutputs
    document: ProvDocument


class PipelineDashboard(TwinDashboard):
    """The flood step's choices; the extremes step and the binding are the pipeline's."""

    twin_name = "extremes_flood"
    run_inputs = ("storm_day", "ensemble_size", "seed")

    storm_day = param.CalendarDate(
        default=np.datetime64("1987-06-15").astype(object),
        bounds=(np.datetime64("1985-01-01").astype(object),
                np.datetime64("1988-12-31").astype(object)),
        label="Day of the 100-year storm",
    )  # fmt: skip
    ensemble_size = param.Integer(20, bounds=(1, 100), label="Ensemble size")
    seed = param.Integer(0, bounds=(0, 10_000), label="Seed of the perturbations")

    def run_inputs_of_flood(self) -> dict[str, Any]:
        return {
            "storm_day": self.storm_day.isoformat(),
            "ensemble_size": self.ensemble_size,
            "seed": self.seed,
        }

    def compute(self, progress: Progress) -> Outcome:
        spec = load_pipeline(PIPELINE)
        outputs, document = run_pipeline(spec, {"flood": self.run_inputs_of_flood()}, self.client)
        return Outcome(outputs, document)

    # --- the pipeline's record ------------------------------------------------------------
    def provenance(self) -> io.BytesIO:
        if self.outcome is None:
            raise RuntimeError("no run has finished yet: wait for the plots, then download")
        text = self.outcome.document.serialize(format="json")
        return io.BytesIO(json.dumps(json.loads(text), indent=1).encode())

    def save_run(self, _event: Any = None) -> str:
        """Record each step's run in the registry, under its twin (or in files)."""
        if self.outcome is None:
            return "no finished run to record yet"
        places = []
        for step, record in self.outcome.outputs.records.items():
            try:
                where = publish(record)
            except RegistryError as e:
                return f"step {step} not recorded in the registry: {e}"
            places.append(f"{step}: {where.url or where.path}")
        return "saved " + "; ".join(places)

    # --- views ---------------------------------------------------------------------------
    @param.depends("outcome")
    def indicators(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("Running the pipeline…")
        values = out.outputs
        cards = [
            pn.indicators.Number(
                name="100-year daily rainfall (GEV, mm)", value=round(values["rain_100y"], 1),
                format="{value}", font_size="24pt", title_size="11pt", css_classes=["rain-100y"],
            )
        ]  # fmt: skip
        for period in (2, 10):
            cards.append(
                pn.indicators.Number(
                    name=f"P(exceed {period}-year flood)",
                    value=round(100 * values[f"p_exceed_{period}y"]), format="{value} %",
                    font_size="24pt", title_size="11pt", css_classes=[f"p-exceed-{period}y"],
                    colors=[(33, "green"), (66, "orange"), (100, "red")],
                )
            )  # fmt: skip
        return pn.Row(*cards)

    @param.depends("outcome")
    def return_levels(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("")
        ds = out.outputs.steps["extremes"]
        maxima = np.sort(ds.annual_maximum.values)
        n = maxima.size
        periods = 1 / (1 - (np.arange(1, n + 1) - 0.44) / (n + 0.12))
        curve = hv.Curve((ds.period.values, ds.return_level.values), "return period", "rainfall")
        plot = curve.opts(logx=True, color="#08519c") * hv.Scatter((periods, maxima)).opts(
            color="black", size=6
        )
        return pn.pane.HoloViews(
            plot.opts(responsive=True, height=300, xlabel="return period (years)",
                      ylabel="daily rainfall (mm)", title="Extremes step: GEV fit, Fulda Rx1day"),
            sizing_mode="stretch_width", name="return-levels",
        )  # fmt: skip

    @param.depends("outcome")
    def hydrograph(self):
        out = self.outcome
        if out is None:
            return pn.pane.Markdown("")
        ds = out.outputs.steps["flood"]
        q = ds.discharge.quantile([0.05, 0.5, 0.95], dim="member")
        t = ds.time.values
        plot = hv.Area((t, q.sel(quantile=0.05), q.sel(quantile=0.95)), "time", ["q05", "q95"],
                       label="5–95 %").opts(alpha=0.3, color="#6baed6")  # fmt: skip
        plot = plot * hv.Curve((t, q.sel(quantile=0.5)), "time", "discharge", label="median")
        for period, level in zip(ds.period.values, ds.flood_level.values, strict=True):
            plot = plot * hv.HLine(float(level)).opts(
                color="#cb181d" if period == 10 else "#fd8d3c"
            )
        return pn.pane.HoloViews(
            plot.opts(responsive=True, height=380, ylabel="discharge (m³/s)", xlabel="",
                      legend_position="top_left", title="Flood step: ensemble with the storm"),
            sizing_mode="stretch_width", name="hydrograph",
        )  # fmt: skip


def create_app(client: Any = None) -> pn.template.FastListTemplate:
    """The dashboard: the flood step's choices, the key numbers and both steps' figures."""
    state = PipelineDashboard(client=client)
    return state.template(
        "Pipeline: the 100-year storm through the flood ensemble",
        [state.indicators, state.return_levels, state.hydrograph],
        widgets={"ensemble_size": {"type": pn.widgets.IntSlider, "name": "Ensemble size"}},
    )


if __name__.startswith("bokeh"):
    create_app().servable()
