"""Dashboard of the lattice twin: temperature scans whose curves build up as points finish.

A :class:`LatticeDashboard` holds the UI state; a change runs the whole scan as one twin run
(``Twin.run``: one provenance record for the sweep, under the signed-in user) in a worker
thread. The model reports each finished temperature (:mod:`twinhub.twins.progress`), and the
plots grow with their error bars while the scan goes on. Changing a setting restarts the scan;
the older one stops at its next temperature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import xarray as xr
from twinhub.twins.dashboard import Progress, TwinDashboard
from twinhub.twins.progress import reporting
from twinhub.twins.runs import RunRecord

from .model import T_CRITICAL, onsager_magnetisation

hv.extension("bokeh", logo=False)

PANELS = {
    "abs_magnetisation": "<|m|>",
    "susceptibility": "susceptibility chi",
    "binder": "Binder cumulant U4",
    "energy": "energy per site",
}


@dataclass
class Outcome:
    result: xr.Dataset
    record: RunRecord


def points_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per temperature of the (single) lattice size: what the plots draw."""
    return ds.isel(size=0).to_dataframe().reset_index()


class LatticeDashboard(TwinDashboard):
    """UI state of a temperature scan at one lattice size."""

    twin_name = "lattice"
    run_inputs = ("theory", "quartic_coupling", "size", "t_min", "t_max", "n_temperatures",
                  "sweeps", "algorithm")  # fmt: skip
    run_threads = 2

    theory = param.Selector(objects=["ising", "phi4"], default="ising", doc="lam -> inf or phi^4")
    quartic_coupling = param.Number(1.0, bounds=(0.0, 100.0), doc="lam of the phi^4 action")
    size = param.Selector(objects=[8, 16, 32, 64], default=16, doc="linear lattice size L")
    t_min = param.Number(1.8, bounds=(0.2, 10.0), doc="lowest temperature T = 1/beta")
    t_max = param.Number(3.0, bounds=(0.2, 10.0), doc="highest temperature")
    n_temperatures = param.Integer(9, bounds=(3, 25), doc="points in the scan")
    sweeps = param.Integer(1000, bounds=(100, 20000), doc="measured sweeps per replica")
    algorithm = param.Selector(objects=["wolff", "metropolis"], default="wolff")
    results = param.DataFrame(default=pd.DataFrame(), precedence=-1)

    def temperatures(self) -> list[float]:
        low, high = sorted((self.t_min, self.t_max))
        return [float(t) for t in np.linspace(low, high, self.n_temperatures)]

    def run_parameters(self) -> dict[str, Any]:
        """The model's parameters for the whole scan (what the run record keeps)."""
        return {
            "theory": self.theory, "quartic_coupling": float(self.quartic_coupling),
            "sizes": [int(self.size)], "temperatures": self.temperatures(),
            "sweeps": int(self.sweeps), "algorithm": self.algorithm,
        }  # fmt: skip

    def compute(self, progress: Progress) -> Outcome:
        with reporting(progress):
            result, record = self._twin.run(self.run_parameters(), client=self.client)
        return Outcome(result, record)

    async def refresh(self) -> None:
        self.results = pd.DataFrame()  # a new scan starts from empty curves
        await super().refresh()

    def on_progress(self, partial: xr.Dataset) -> None:
        self.results = points_table(partial)

    @param.depends("outcome", watch=True)
    def _show_outcome(self) -> None:
        if self.outcome is not None:
            self.results = points_table(self.outcome.result)

    @param.depends("results")
    def plots(self) -> hv.Layout:
        panels = []
        data = self.results.sort_values("temperature") if len(self.results) else None
        for name, label in PANELS.items():
            if data is None:
                curve = hv.Curve([], "temperature", label)
                bars = hv.ErrorBars([], "temperature", [label, "error"])
            else:
                curve = hv.Curve(data, "temperature", (name, label))
                bars = hv.ErrorBars(data, "temperature", [(name, label), name + "_error"])
            overlay = curve * bars * hv.VLine(T_CRITICAL).opts(color="grey", line_dash="dashed")
            if name == "abs_magnetisation" and self.theory == "ising":
                t = np.linspace(*sorted((self.t_min, self.t_max)), 200)
                exact = hv.Curve((t, onsager_magnetisation(t)), "temperature", label)
                overlay = overlay * exact.opts(color="black", line_dash="dotted")
            panels.append(overlay.opts(title=label, width=420, height=280, framewise=True))
        return hv.Layout(panels).cols(2)

    @param.depends("results", "busy")
    def status(self) -> str:
        state = "running" if self.busy else "done"
        return (
            f"**L = {self.size}**, {self.theory}, {self.algorithm}: "
            f"{len(self.results)}/{self.n_temperatures} temperatures {state}. "
            "Dashed: exact T_c = 2/ln(1+sqrt 2); dotted: Onsager's M(T)."
        )


def create_app(client: Any = None, **settings: Any) -> pn.template.FastListTemplate:
    """One dashboard per browser session (no state shared between users)."""
    state = LatticeDashboard(client=client, **settings)
    spinner = pn.indicators.LoadingSpinner(value=state.param.busy, width=30, height=30)
    return state.template(
        "Lattice field theory: 2-D phi^4 / Ising",
        [
            pn.pane.Markdown(state.status, name="status"),
            pn.pane.HoloViews(state.plots, name="plots", linked_axes=False),
        ],
        widgets={"size": pn.widgets.RadioButtonGroup},
        sidebar=[spinner],
        loading_overlay=False,
    )


if __name__.startswith("bokeh"):
    create_app().servable()
