"""What every twin's dashboard shares, so a twin author writes only widgets and plots.

A dashboard is a :class:`TwinDashboard` subclass: its public parameters are the widgets, its
``compute`` runs the twin through :meth:`Twin.run <twinhub.twins.twin.Twin.run>` (so every run
leaves a provenance record naming the person, ``client.twinhub_user`` in the dashboard
service) and returns an outcome carrying that ``record``; its views are ``@param.depends``
methods. The base class runs ``compute`` in a worker thread whenever a parameter listed in
``run_inputs`` changes, keeps the page responsive (loading indicator, ``busy``), shows errors
as an alert instead of a traceback, lets a newer run supersede an older one, and hands partial
results (``progress``) to :meth:`TwinDashboard.on_progress` on the session's event loop so
curves can grow while a long run goes on. :meth:`TwinDashboard.template` lays the page out with
the controls, the downloads (always the run's PROV-JSON) and "Record run in registry".

Widget state in the URL and the warning for malformed links are the dashboard service's job
(``extensions/dashboards/urlstate.py``): it works on any app built here, keyed by widget label.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, ClassVar

import holoviews as hv
import panel as pn
import param
from twinhub.twins.plaintext import alert, escaped
from twinhub.twins.publish import RegistryError, failure_message, publish
from twinhub.twins.twin import Twin, load_twin

log = logging.getLogger(__name__)
Progress = Callable[[Any], None]
"""Called by ``compute`` (in the worker thread) with a partial result; raises
:class:`Superseded` once a newer run has started, which stops the old one there."""

_EXECUTORS: dict[str, ThreadPoolExecutor] = {}
_EXECUTORS_LOCK = threading.Lock()


class Superseded(Exception):
    """A newer run of the same dashboard started: this one stops at its next progress report."""


def _executor(name: str, workers: int) -> ThreadPoolExecutor:
    """One pool per twin, shared by its sessions (runs outside the dashboard service)."""
    with _EXECUTORS_LOCK:
        if name not in _EXECUTORS:
            _EXECUTORS[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"{name}-app")
        return _EXECUTORS[name]


def button_group_label(name: str) -> pn.pane.HTML:
    """The label Panel draws above other widgets, for a button group (which has none)."""
    return pn.pane.HTML(
        f'<label class="button-group-label">{escaped(name)}</label>', margin=(5, 10, 0, 10)
    )


class TwinDashboard(param.Parameterized):
    """UI state of one browser session of a twin's dashboard, and its runs.

    Subclasses set ``twin_name`` and ``run_inputs`` and implement :meth:`compute`; parameters
    with ``precedence=-1`` are state, the others become the sidebar's widgets.
    """

    twin_name: ClassVar[str] = ""
    run_inputs: ClassVar[Sequence[str]] = ()
    """Parameters whose change starts a new run (others only redraw, e.g. a display toggle)."""
    run_threads: ClassVar[int] = 1
    """Worker threads of this twin's pool, shared by its sessions when the client has no run
    queue of its own (in a notebook; the dashboard service queues runs per user instead)."""

    outcome = param.Parameter(default=None, precedence=-1, doc="last finished run's outcome")
    error = param.String(default="", precedence=-1, doc="why the last run failed, for the user")
    busy = param.Boolean(default=False, precedence=-1, doc="a run is going on")

    def __init__(self, client: Any = None, **params: Any):
        super().__init__(**params)
        self._client = client
        self._loaded: Twin | None = None
        self._generation = 0
        if self.run_inputs:
            self.param.watch(self._rerun, list(self.run_inputs))

    # --- what a twin implements ------------------------------------------------------------
    def compute(self, progress: Progress) -> Any:
        """Run the twin (blocking, in a worker thread); return an outcome with ``.record``."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute()")

    def on_progress(self, partial: Any) -> None:
        """A partial result reported by :meth:`compute` (on the session's event loop)."""

    @property
    def _twin(self) -> Twin:
        """The twin this dashboard runs (loaded on first use: a pipeline's dashboard has none)."""
        if self._loaded is None:
            self._loaded = load_twin(self.twin_name)
        return self._loaded

    # --- runs ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The Dask client the service gave this session (None: in-process)."""
        return self._client

    async def _rerun(self, *_events: param.parameterized.Event) -> None:
        await self.refresh()

    def _compute_in_share(self, progress: Progress) -> Any:
        """:meth:`compute` within the user's share of the service's cluster, if it has one
        (``client.run_slot``), so models that submit their own tasks are capped too."""
        hold = getattr(self.client, "run_slot", None)
        with hold() if hold is not None else nullcontext():
            return self.compute(progress)

    def _start(self, loop: asyncio.AbstractEventLoop, progress: Progress) -> asyncio.Future:
        """Start :meth:`compute` off the event loop: in the user's own run queue when the
        client has one (``client.submit_run``, the dashboard service: runs are queued per user,
        so nobody waits behind another person's runs), else in this twin's thread pool."""
        submit = getattr(self.client, "submit_run", None)
        if submit is not None:
            return asyncio.wrap_future(submit(self._compute_in_share, progress), loop=loop)
        pool = _executor(self.twin_name, self.run_threads)
        return loop.run_in_executor(pool, self._compute_in_share, progress)

    async def refresh(self) -> None:
        """Run :meth:`compute` off the event loop; the newest run's outcome wins."""
        self._generation += 1
        generation = self._generation
        loop = asyncio.get_running_loop()
        partials: asyncio.Queue = asyncio.Queue()

        def progress(partial: Any) -> None:
            if generation != self._generation:
                raise Superseded(f"{self.twin_name}: a newer run replaced this one")
            loop.call_soon_threadsafe(partials.put_nowait, partial)

        self.busy = True
        work = self._start(loop, progress)
        try:
            while not (work.done() and partials.empty()):
                waiter = asyncio.ensure_future(partials.get())
                await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                elif generation == self._generation:
                    self.on_progress(waiter.result())
            outcome = await work
            if generation == self._generation:
                self.outcome, self.error = outcome, ""
        except Superseded:
            pass
        except Exception as e:  # shown to the user, who can fix the input
            log.warning("%s run failed", type(self).__name__, exc_info=True)
            if generation == self._generation:
                # a run the cluster broke (RunFailed) is recorded first, with this viewer's token
                self.error = failure_message(e)
        finally:
            if generation == self._generation:
                self.busy = False

    # --- run record --------------------------------------------------------------------------
    def provenance(self) -> io.BytesIO:
        """The last run's W3C PROV-JSON (the download button's content)."""
        if self.outcome is None:
            raise RuntimeError("no run has finished yet: wait for the plots, then download")
        return io.BytesIO(json.dumps(self.outcome.record.provenance(), indent=1).encode())

    def save_run(self, _event: Any = None) -> str:
        """Send the last run's record to the registry as the signed-in person (or to a file)."""
        if self.outcome is None:
            return "no finished run to record yet"
        try:
            where = publish(self.outcome.record)
        except RegistryError as e:  # publish kept the record in a file and says where
            return f"not recorded in the registry: {e}"
        return f"saved to {where.url or where.path}"

    # --- views -------------------------------------------------------------------------------
    @param.depends("error")
    def error_view(self) -> pn.viewable.Viewable:
        """The last run's failure, readable, above the results (never a traceback)."""
        if self.error:
            # the message may quote the user's input: text, never Markdown (twins.plaintext)
            return alert(self.error, "danger", css_classes=["run-error"])
        return pn.pane.Markdown("")

    def controls(self, widgets: dict[str, Any] | None = None) -> pn.Param:
        """The sidebar's widgets: every public parameter, in the order they are declared.

        A button group (e.g. a lattice size) shows no label and, in the page's default style,
        no visible choice: each gets its name above it and an outline style in which the
        chosen button is the filled one.
        """
        controls = pn.Param(self, widgets=widgets or {}, show_name=False)
        for widget in list(controls.layout):
            if isinstance(widget, pn.widgets.RadioButtonGroup):
                widget.param.update(color="primary", variant="outline")
                at = controls.layout.objects.index(widget)
                controls.layout.insert(at, button_group_label(widget.name))
        return controls

    def template(
        self,
        title: str,
        main: Sequence[Any],
        *,
        widgets: dict[str, Any] | None = None,
        downloads: Sequence[pn.widgets.FileDownload] = (),
        sidebar: Sequence[Any] = (),
        sidebar_width: int = 320,
        loading_overlay: bool = True,
        extensions: Sequence[str] = (),
    ) -> pn.template.FastListTemplate:
        """The page: controls, notes, downloads (+ provenance) and recording; the views.

        ``loading_overlay`` greys the views during a run; a dashboard whose plots grow while
        it runs turns it off and shows its own progress instead. ``extensions`` are the Panel
        extensions the views need (e.g. ``"tabulator"``).
        """
        pn.extension(*extensions, notifications=True)
        hv.extension("bokeh", logo=False)
        provenance = pn.widgets.FileDownload(
            callback=self.provenance,
            filename=f"{self.twin_name}-run.prov.json",
            label="Download provenance (PROV-JSON)",
        )
        save = pn.widgets.Button(label="Record run in registry", color="primary")
        saved = pn.pane.Str("")
        save.on_click(lambda event: setattr(saved, "object", self.save_run(event)))
        body = pn.Column(self.error_view, *main, sizing_mode="stretch_width")
        if loading_overlay:
            self.param.watch(lambda event: setattr(body, "loading", event.new), "busy")
            body.loading = self.busy
        # the first run starts once the page is shown (immediately outside a server)
        pn.state.onload(self.refresh)
        page = pn.template.FastListTemplate(
            title=title,
            sidebar=[
                self.controls(widgets), *sidebar, "### Downloads",
                pn.Column(*downloads, provenance), save, saved,
            ],
            main=[body],
            sidebar_width=sidebar_width,
        )  # fmt: skip
        page.dashboard = self  # for notebooks and tests that drive the state directly
        return page
