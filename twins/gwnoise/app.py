"""Dashboard of the gwnoise twin: spectra, the glitch map and the subtraction gain.

A ``NoiseExplorer`` (param.Parameterized) holds the settings; each change runs the model in
a worker thread while the plots show Panel's loading indicator, and a periodic callback on
the session's event loop swaps the new result in.
"""

from __future__ import annotations

import threading

import holoviews as hv
import numpy as np
import panel as pn
import param
import xarray as xr

from .curves import CURVES
from .model import BAND, run

hv.extension("bokeh", logo=False)
TICKS = [10, 20, 50, 100, 200, 500, 1000, 2000]  # Hz, labelled on the log axes


class NoiseExplorer(param.Parameterized):
    """UI state: which detector, how glitchy, how strongly the witness couples."""

    curve = param.Selector(objects=list(CURVES), default="AdV", doc="design sensitivity")
    glitch_rate = param.Number(0.2, bounds=(0.0, 2.0), step=0.05, doc="glitches per second")
    glitch_snr = param.Number(12.0, bounds=(4.0, 50.0), step=1.0, doc="SNR of each glitch")
    witness_coupling = param.Number(3.0, bounds=(0.0, 20.0), step=0.5, doc="coupled/design ASD")
    duration = param.Selector(objects=[32, 64, 128], default=64, doc="seconds simulated")
    seed = param.Integer(0, bounds=(0, None), doc="random seed")
    result = param.ClassSelector(class_=xr.Dataset, precedence=-1)
    running = param.Boolean(False, precedence=-1)

    def __init__(self, **params):
        super().__init__(**params)
        self._lock = threading.Lock()
        self._latest: xr.Dataset | None = None
        self._generation = 0

    def settings(self) -> dict:
        return {
            "curve": self.curve,
            "glitch_rate": self.glitch_rate,
            "glitch_snr": self.glitch_snr,
            "witness_coupling": self.witness_coupling,
            "duration": int(self.duration),
            "seed": self.seed,
        }

    @param.depends(
        "curve", "glitch_rate", "glitch_snr", "witness_coupling", "duration", "seed", watch=True
    )
    def start(self) -> None:
        """Run the model in a worker thread; a newer run supersedes an older one."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        self.running = True
        threading.Thread(target=self._work, args=(generation, self.settings()), daemon=True).start()

    def _work(self, generation: int, settings: dict) -> None:
        ds = run(None, settings)
        keep = ds.drop_vars(["strain", "witness", "strain_cleaned", "strain_whitened", "time"])
        with self._lock:
            if generation == self._generation:
                self._latest = keep

    def poll(self) -> None:
        """Publish a finished run (called on the session's event loop)."""
        with self._lock:
            ds, self._latest = self._latest, None
        if ds is not None:
            self.result = ds
            self.running = False

    @param.depends("result")
    def spectra(self) -> hv.Overlay:
        ds = self.result
        if ds is None:
            return hv.Curve([], "frequency", "ASD").opts(width=520, height=330)
        sel = ds.sel(frequency=slice(10, None))
        f = sel.frequency.values
        curves = [
            hv.Curve((f, sel.asd.values), "frequency", "ASD", label="raw strain"),
            hv.Curve((f, sel.asd_cleaned.values), "frequency", "ASD", label="after subtraction"),
            hv.Curve((f, sel.asd_design.values), "frequency", "ASD", label=f"design {self.curve}"),
        ]
        return hv.Overlay(curves).opts(
            hv.opts.Curve(
                logx=True, logy=True, width=520, height=330, line_width=1.5, xticks=TICKS
            ),
            hv.opts.Overlay(
                logx=True,
                logy=True,
                xlabel="frequency [Hz]",
                title="Amplitude spectral density [1/sqrt(Hz)]",
                legend_position="top_right",
            ),
        )

    @param.depends("result")
    def whitened(self) -> hv.Overlay:
        ds = self.result
        if ds is None:
            return hv.Curve([], "frequency", "whitened ASD").opts(width=520, height=330)
        sel = ds.sel(frequency=slice(10, None))
        curve = hv.Curve(
            (sel.frequency.values, sel.asd_whitened.values), "frequency", "whitened ASD"
        )
        band = hv.VSpan(*BAND).opts(color="green", alpha=0.08)
        return (curve * band * hv.HLine(1.0).opts(color="black", line_dash="dashed")).opts(
            hv.opts.Curve(logx=True, ylim=(0, 2), width=520, height=330, xticks=TICKS),
            hv.opts.Overlay(
                logx=True,
                xlabel="frequency [Hz]",
                ylabel="whitened ASD",
                title="Whitened ASD (1 = white); shaded: 20-1000 Hz",
            ),
        )

    @param.depends("result")
    def spectrogram(self) -> hv.Overlay:
        ds = self.result
        if ds is None:
            return hv.QuadMesh([], ["time", "frequency"]).opts(width=1060, height=380)
        mesh = hv.QuadMesh(
            (ds.map_time.values, ds.map_frequency.values, ds.q_energy.values),
            ["time", "frequency"],
            "energy",
        ).opts(cmap="viridis", clim=(0, 25), logy=True, colorbar=True, width=1060, height=380)
        injected = hv.Points(
            (ds.glitch_time.values, ds.glitch_frequency.values), label="injected"
        ).opts(marker="triangle", size=9, color="white", line_color="black")
        real = ~ds.trigger_false.values
        found = hv.Points(
            (ds.trigger_time.values[real], ds.trigger_frequency.values[real]), label="detected"
        ).opts(marker="circle", size=16, fill_alpha=0, line_color="red", line_width=2)
        false = hv.Points(
            (ds.trigger_time.values[~real], ds.trigger_frequency.values[~real]),
            label="false alarm",
        ).opts(marker="x", size=14, color="orange", line_width=2)
        return (mesh * injected * found * false).opts(
            title="Q-transform of the whitened, cleaned strain (normalised energy)",
            xlabel="time [s]",
            ylabel="frequency [Hz]",
            legend_position="top_left",
        )

    @param.depends("result", "running")
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
            f"witness subtraction gain **{gain_text}**" + (" (updating...)" if self.running else "")
        )


def create_app(**settings) -> pn.template.FastListTemplate:
    """One dashboard per browser session."""
    explorer = NoiseExplorer(**settings)
    plots = [
        pn.pane.HoloViews(explorer.spectra, name="spectra"),
        pn.pane.HoloViews(explorer.whitened, name="whitened"),
        pn.pane.HoloViews(explorer.spectrogram, name="spectrogram"),
    ]

    def show_loading(event: param.parameterized.Event) -> None:
        for pane in plots:
            pane.loading = event.new

    explorer.param.watch(show_loading, "running")
    controls = pn.Param(
        explorer,
        parameters=["curve", "glitch_rate", "glitch_snr", "witness_coupling", "duration", "seed"],
        widgets={"duration": pn.widgets.RadioButtonGroup},
        show_name=False,
    )
    template = pn.template.FastListTemplate(
        title="Gravitational-wave detector noise",
        sidebar=[controls],
        main=[pn.pane.Markdown(explorer.summary), pn.Row(plots[0], plots[1]), plots[2]],
    )
    pn.state.onload(explorer.start)
    pn.state.add_periodic_callback(explorer.poll, period=300)
    template.explorer = explorer
    return template
