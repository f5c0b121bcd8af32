"""Dashboard of the lattice twin: temperature scans whose curves build up as points finish.

A ``LatticeExplorer`` (param.Parameterized) holds the UI state; a worker thread runs one
temperature at a time through the model (``model.run``) and a periodic callback on the
session's event loop moves finished points into the plots, so the page stays responsive and
the curves grow with their error bars. Changing a setting restarts the scan.
"""

from __future__ import annotations

import threading

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from .model import T_CRITICAL, onsager_magnetisation, run

hv.extension("bokeh", logo=False)

PANELS = {
    "abs_magnetisation": "<|m|>",
    "susceptibility": "susceptibility chi",
    "binder": "Binder cumulant U4",
    "energy": "energy per site",
}


class LatticeExplorer(param.Parameterized):
    """UI state of a temperature scan at one lattice size."""

    theory = param.Selector(objects=["ising", "phi4"], default="ising", doc="lam -> inf or phi^4")
    quartic_coupling = param.Number(1.0, bounds=(0.0, 100.0), doc="lam of the phi^4 action")
    size = param.Selector(objects=[8, 16, 32, 64], default=16, doc="linear lattice size L")
    t_min = param.Number(1.8, bounds=(0.2, 10.0), doc="lowest temperature T = 1/beta")
    t_max = param.Number(3.0, bounds=(0.2, 10.0), doc="highest temperature")
    n_temperatures = param.Integer(9, bounds=(3, 25), doc="points in the scan")
    sweeps = param.Integer(1000, bounds=(100, 20000), doc="measured sweeps per replica")
    algorithm = param.Selector(objects=["wolff", "metropolis"], default="wolff")
    results = param.DataFrame(default=pd.DataFrame(), precedence=-1)
    running = param.Boolean(False, precedence=-1)

    def __init__(self, **params):
        super().__init__(**params)
        self._lock = threading.Lock()
        self._pending: list[dict] = []
        self._generation = 0
        self._done = 0

    def temperatures(self) -> np.ndarray:
        low, high = sorted((self.t_min, self.t_max))
        return np.linspace(low, high, self.n_temperatures)

    @param.depends(
        "theory",
        "quartic_coupling",
        "size",
        "t_min",
        "t_max",
        "n_temperatures",
        "sweeps",
        "algorithm",
        watch=True,
    )
    def start(self) -> None:
        """Begin a new scan in a worker thread; any older scan stops at its next point."""
        with self._lock:
            self._generation += 1
            self._pending = []
            generation = self._generation
        self._done = 0
        self.results = pd.DataFrame()
        self.running = True
        settings = {
            "theory": self.theory,
            "quartic_coupling": self.quartic_coupling,
            "sizes": [int(self.size)],
            "sweeps": self.sweeps,
            "algorithm": self.algorithm,
        }
        temps = self.temperatures()
        threading.Thread(target=self._scan, args=(generation, settings, temps), daemon=True).start()

    def _scan(self, generation: int, settings: dict, temps: np.ndarray) -> None:
        for t in temps:
            if generation != self._generation:
                return
            ds = run(None, {**settings, "temperatures": [float(t)]})
            row = ds.isel(size=0, temperature=0).to_pandas().to_dict()
            row["temperature"] = float(t)
            with self._lock:
                if generation == self._generation:
                    self._pending.append(row)
        with self._lock:
            if generation == self._generation:
                self._pending.append({"finished": True})

    def poll(self) -> None:
        """Move finished points into ``results`` (runs on the session's event loop)."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return
        finished = any(r.get("finished") for r in rows)
        rows = [r for r in rows if not r.get("finished")]
        if rows:
            self._done += len(rows)
            self.results = pd.concat([self.results, pd.DataFrame(rows)], ignore_index=True)
        if finished:
            self.running = False

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

    @param.depends("results", "running")
    def status(self) -> str:
        state = "running" if self.running else "done"
        return (
            f"**L = {self.size}**, {self.theory}, {self.algorithm}: "
            f"{self._done}/{self.n_temperatures} temperatures {state}. "
            "Dashed: exact T_c = 2/ln(1+sqrt 2); dotted: Onsager's M(T)."
        )


def create_app(**settings) -> pn.template.FastListTemplate:
    """One dashboard per browser session (no state shared between users)."""
    explorer = LatticeExplorer(**settings)
    spinner = pn.indicators.LoadingSpinner(value=explorer.param.running, width=30, height=30)
    controls = pn.Param(
        explorer,
        parameters=[
            "theory",
            "quartic_coupling",
            "size",
            "t_min",
            "t_max",
            "n_temperatures",
            "sweeps",
            "algorithm",
        ],
        widgets={"size": pn.widgets.RadioButtonGroup},
        show_name=False,
    )
    template = pn.template.FastListTemplate(
        title="Lattice field theory: 2-D phi^4 / Ising",
        sidebar=[controls, spinner],
        main=[
            pn.pane.Markdown(explorer.status, name="status"),
            pn.pane.HoloViews(explorer.plots, name="plots", linked_axes=False),
        ],
    )
    pn.state.onload(explorer.start)
    pn.state.add_periodic_callback(explorer.poll, period=300)
    template.explorer = explorer  # for notebooks and tests that drive the model directly
    return template
