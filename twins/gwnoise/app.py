"""Dashboard of the gwnoise twin: spectra, the glitch map and the subtraction gain.

A :class:`NoiseDashboard` holds the settings; each change runs the twin (``Twin.run``: a run
with its provenance record, under the signed-in user) in a worker thread while the plots show
Panel's loading indicator, and the views redraw from the finished run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
import xarray as xr
from twinhub.twins.dashboard import Progress, TwinDashboard
from twinhub.twins.runs import RunRecord

from .curves import CURVES
from .model import BAND

hv.extension("bokeh", logo=False)
TICKS = [10, 20, 50, 100, 200, 500, 1000]  # Hz, labelled on the log axes (2000 would crowd 1000)
TIME_SERIES = ["strain", "witness", "strain_cleaned", "strain_whitened", "time"]
SPECTRUM_HEIGHT, MAP_HEIGHT = 330, 380
"""Plots take the page's width (two spectra side by side, the map below): they fit a 1400-px
window beside the sidebar instead of overflowing it at fixed widths."""
MAP_AXES = {
    "logy": True,
    "yticks": TICKS,
    "ylim": BAND,
    "ylabel": "frequency [Hz]",
    "framewise": True,
}
"""The Q-transform's frequency axis: log, the map's band, labelled like the spectra's."""


def frequency_axes(plot: hv.Overlay, title: str, logy: bool, **curve: Any) -> hv.Overlay:
    """The spectrum panels' shared look: log frequency axis with labelled ticks, one size."""
    return plot.opts(
        hv.opts.Curve(logx=True, logy=logy, xticks=TICKS, **curve),
        hv.opts.Overlay(
            logx=True, logy=logy, xlabel="frequency [Hz]", title=title,
            responsive=True, height=SPECTRUM_HEIGHT, min_width=300,
        ),
    )  # fmt: skip


def q_map(
    times: np.ndarray, freqs: np.ndarray, energy: np.ndarray,
    glitch_time: np.ndarray, glitch_frequency: np.ndarray,
    trigger_time: np.ndarray, trigger_frequency: np.ndarray, trigger_false: np.ndarray,
) -> hv.Overlay:  # fmt: skip
    """The Q-transform map with the injected glitches and the triggers (found, false)."""
    mesh = hv.QuadMesh((times, freqs, energy), ["time", "frequency"], "energy").opts(
        cmap="viridis", clim=(0, 25), colorbar=True, **MAP_AXES
    )
    injected = hv.Points((glitch_time, glitch_frequency), label="injected").opts(
        marker="triangle", size=9, color="white", line_color="black"
    )
    real = ~trigger_false
    found = hv.Points((trigger_time[real], trigger_frequency[real]), label="detected").opts(
        marker="circle", size=16, fill_alpha=0, line_color="red", line_width=2
    )
    false = hv.Points((trigger_time[~real], trigger_frequency[~real]), label="false alarm").opts(
        marker="x", size=14, color="orange", line_width=2
    )
    return (mesh * injected * found * false).opts(
        title="Q-transform of the whitened, cleaned strain (normalised energy)",
        xlabel="time [s]",
        legend_position="top_left",
        responsive=True,
        height=MAP_HEIGHT,
        **MAP_AXES,
    )


@dataclass
class Outcome:
    result: xr.Dataset
    """The run's spectra, map and glitches (the long time series are left out of the page)."""
    record: RunRecord


class NoiseDashboard(TwinDashboard):
    """UI state: which detector, how glitchy, how strongly the witness couples."""

    twin_name = "gwnoise"
    run_inputs = ("curve", "glitch_rate", "glitch_snr", "witness_coupling", "duration", "seed")
    run_threads = 2

    curve = param.Selector(objects=list(CURVES), default="AdV", doc="design sensitivity")
    glitch_rate = param.Number(0.2, bounds=(0.0, 2.0), step=0.05, doc="glitches per second")
    glitch_snr = param.Number(12.0, bounds=(4.0, 50.0), step=1.0, doc="SNR of each glitch")
    witness_coupling = param.Number(3.0, bounds=(0.0, 20.0), step=0.5, doc="coupled/design ASD")
    duration = param.Selector(objects=[32, 64, 128], default=64, doc="seconds simulated")
    seed = param.Integer(0, bounds=(0, None), doc="random seed")

    def run_parameters(self) -> dict[str, Any]:
        """The model's parameters (what the run record keeps)."""
        return {
            "curve": self.curve,
            "glitch_rate": float(self.glitch_rate),
            "glitch_snr": float(self.glitch_snr),
            "witness_coupling": float(self.witness_coupling),
            "duration": int(self.duration),
            "seed": int(self.seed),
        }

    def compute(self, progress: Progress) -> Outcome:
        result, record = self._twin.run(self.run_parameters(), client=self.client)
        return Outcome(result.drop_vars(TIME_SERIES), record)

    @property
    def result(self) -> xr.Dataset | None:
        return None if self.outcome is None else self.outcome.result

    def _from_10_hz(self) -> xr.Dataset | None:
        return None if self.result is None else self.result.sel(frequency=slice(10, None))

    @param.depends("outcome")
    def spectra(self) -> hv.Overlay:
        sel = self._from_10_hz()
        if sel is None:
            return hv.Curve([], "frequency", "ASD").opts(responsive=True, height=SPECTRUM_HEIGHT)
        f = sel.frequency.values
        curves = [
            hv.Curve((f, sel.asd.values), "frequency", "ASD", label="raw strain"),
            hv.Curve((f, sel.asd_cleaned.values), "frequency", "ASD", label="after subtraction"),
            hv.Curve((f, sel.asd_design.values), "frequency", "ASD", label=f"design {self.curve}"),
        ]
        title = "Amplitude spectral density [1/sqrt(Hz)]"
        return frequency_axes(hv.Overlay(curves), title, logy=True, line_width=1.5).opts(
            legend_position="top_right"
        )

    @param.depends("outcome")
    def whitened(self) -> hv.Overlay:
        sel = self._from_10_hz()
        if sel is None:
            empty = hv.Curve([], "frequency", "whitened ASD")
            return empty.opts(responsive=True, height=SPECTRUM_HEIGHT)
        curve = hv.Curve(
            (sel.frequency.values, sel.asd_whitened.values), "frequency", "whitened ASD"
        )
        band = hv.VSpan(*BAND).opts(color="green", alpha=0.08)
        plot = curve * band * hv.HLine(1.0).opts(color="black", line_dash="dashed")
        title = "Whitened ASD (1 = white); shaded: 20-1000 Hz"
        return frequency_axes(plot, title, logy=False, ylim=(0, 2)).opts(ylabel="whitened ASD")

    @param.depends("outcome")
    def spectrogram(self) -> hv.Overlay:
        ds = self.result
        if ds is None:  # the same plot, empty: its axes are the final ones from the start
            nothing = np.array([])
            return q_map(np.array([0.0, 1.0]), np.array(BAND), np.full((2, 2), np.nan),
                         *(4 * [nothing]), trigger_false=nothing.astype(bool))  # fmt: skip
        return q_map(
            ds.map_time.values, ds.map_frequency.values, ds.q_energy.values,
            ds.glitch_time.values, ds.glitch_frequency.values,
            ds.trigger_time.values, ds.trigger_frequency.values,
            trigger_false=ds.trigger_false.values,
        )  # fmt: skip

    @param.depends("outcome", "busy")
    def summary(self) -> str:
        ds = self.result
        if ds is None:
            return "**computing...**"
        minutes = float(ds.attrs["duration"]) / 60.0
        gain = float(ds.subtraction_gain)
        gain_text = f"{gain:.1f} dB" if np.isfinite(gain) else "n/a (no coupling)"
        recall = float(ds.glitch_found.mean()) if ds.sizes["glitch"] else float("nan")
        return (
            f"**{ds.attrs['curve']}**, {ds.sizes['glitch']} glitches injected at SNR "
            f"{ds.attrs['glitch_snr']:g}: recall **{recall:.2f}**, "
            f"false alarms **{int(ds.trigger_false.sum()) / minutes:.2f}/min**; "
            f"witness subtraction gain **{gain_text}**" + (" (updating...)" if self.busy else "")
        )


def create_app(client: Any = None, **settings: Any) -> pn.template.FastListTemplate:
    """One dashboard per browser session."""
    state = NoiseDashboard(client=client, **settings)
    return state.template(
        "Gravitational-wave detector noise",
        [
            pn.pane.Markdown(state.summary),
            pn.Row(
                pn.pane.HoloViews(state.spectra, name="spectra", sizing_mode="stretch_width"),
                pn.pane.HoloViews(state.whitened, name="whitened", sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            # not linked to the spectra: their frequency is the x axis (to 2 kHz, linear while
            # empty), the map's is a log y axis on its band; a shared range broke its ticks
            pn.pane.HoloViews(
                state.spectrogram,
                name="spectrogram",
                sizing_mode="stretch_width",
                linked_axes=False,
            ),
        ],
        widgets={"duration": pn.widgets.RadioButtonGroup},
    )


if __name__.startswith("bokeh"):
    create_app().servable()
