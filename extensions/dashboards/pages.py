"""What a twin's process shows for ``/services/twinhub-apps/<twin>``: the twin's app, or why not.

Each twin's dashboard runs in a process of its own (:mod:`.server`), behind the router
(:mod:`.router`). The router asks the registry, as the user looking at the page, whether they
may open the twin, and starts the process with the manifest the registry holds
(:func:`serve_twin`); the page reads that manifest. Bokeh builds a page synchronously on the
process's event loop, so anything asynchronous is done before (:func:`prepare`, awaited by the
page handler) and the page reads the answer.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import panel as pn
from panel.template.base import BaseTemplate
from twinhub.contracts.names import DASHBOARDS_PREFIX, REGISTRY_PREFIX
from twinhub.twins.manifest import resolve_entry_point
from twinhub.twins.plaintext import ALERT_STYLESHEETS, alert, as_html, escaped

from .cluster import UserClient
from .registry import RegistryUnavailable, TwinDirectory, TwinLookup
from .urlstate import (
    IGNORED_KEY,
    apply_query,
    ignored_problems,
    keep_in_url,
    parameter_widgets,
    query_of,
    stateful_widgets,
)

log = logging.getLogger(__name__)
PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"{DASHBOARDS_PREFIX}/")
DIRECTORY = TwinDirectory()
_SERVED: tuple[str, dict[str, Any]] | None = None
"""The one twin this process serves and its manifest (:func:`serve_twin`), if it is a twin's."""


def serve_twin(name: str, manifest: dict[str, Any]) -> None:
    """Serve only ``name`` with ``manifest`` (the registry's, handed over by the router, which
    has already checked that the user may open it): pages no longer ask the registry."""
    global _SERVED
    _SERVED = (name, manifest)


@dataclass(frozen=True)
class PageRequest:
    """What the page handler found out before Bokeh builds the page (see :func:`prepare`)."""

    name: str
    token: str
    lookup: TwinLookup | RegistryUnavailable
    run: RunLookup | None = None


@dataclass(frozen=True)
class RunLookup:
    """The ``run`` a link names, as the user may see it: its record, or None (unknown, not
    theirs, or not a run id), or the registry's failure."""

    run_id: str
    record: dict[str, Any] | None
    problem: str | None = None


RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
"""What a run id may look like (the registry's are 32 hex digits); anything else is not asked."""


async def lookup_run(
    run_id: str | None, token: str, directory: TwinDirectory = DIRECTORY
) -> RunLookup | None:
    """The run a link names (``run=<id>``: hostile input), asked as the user."""
    if run_id is None:
        return None
    if not RUN_ID.fullmatch(run_id):
        return RunLookup(run_id, None, "is not a run id")
    try:
        record = await directory.run(run_id, token)
    except RegistryUnavailable as e:
        return RunLookup(run_id, None, f"could not be looked up ({e})")
    return RunLookup(run_id, record, None if record else "is not a run you may see")


_REQUEST: ContextVar[PageRequest | None] = ContextVar("twinhub_page_request", default=None)
"""Set in the request's own task, read by :func:`twin_page` in the same task."""


async def prepare(name: str, token: str | None, run: str | None = None) -> None:
    """Ask the registry for ``name`` as this user, without blocking the service's loop.

    Awaited by the page handler just before Bokeh builds the page in the same task, so
    :func:`twin_page` finds the answer (or the failure) without asking itself.
    """
    if not token:
        return
    shown = await lookup_run(run, token)
    if _SERVED is not None:  # a twin's own process: the router has asked the registry
        _REQUEST.set(PageRequest(_SERVED[0], token, TwinLookup(_SERVED[1], []), shown))
        return
    try:
        lookup: TwinLookup | RegistryUnavailable = await DIRECTORY.lookup(name, token)
    except RegistryUnavailable as e:
        lookup = e
    _REQUEST.set(PageRequest(name, token, lookup, shown))


def hub_base() -> str:
    return os.environ.get("JUPYTERHUB_BASE_URL", "/")


def mark_status(status: int) -> None:
    """Ask :class:`~.server.TwinDocHandler` to answer this page with ``status`` (not 200).

    Bokeh always answers 200 for a page it renders; the page function runs while the handler
    creates the session, so it leaves the status on the session's document for the handler.
    """
    doc = pn.state.curdoc
    if doc is not None:
        doc.twinhub_status = status


def _page(title: str, body: str, css_class: str) -> pn.viewable.Viewable:
    """A page of the service itself; ``body`` is HTML built with :mod:`~twinhub.twins.plaintext`."""
    return pn.template.BootstrapTemplate(
        title=title,
        main=[pn.pane.HTML(body, css_classes=[css_class], sizing_mode="stretch_width")],
    )


def not_found_page(name: str, available: list[dict[str, Any]]) -> pn.viewable.Viewable:
    """404: the name is unknown, retired or private to others; list what the user can open.

    The name comes from the URL and the titles from twin authors: all of it is text, escaped,
    never Markdown (a name like ``[log in](https://evil.example)`` must not become a link).
    """
    links = [
        f'<li><a href="{escaped(PREFIX + quote(t["name"], safe=""))}">'
        f"{escaped(t.get('title') or t['name'])}</a> (<code>{escaped(t['name'])}</code>)</li>"
        for t in available
    ] or ["<li>none yet</li>"]
    body = (
        f"<h2>404: no twin named “{escaped(name)}” is available to you</h2>"
        "<p>It may be misspelt, retired, or shared with other people only. "
        "Twins you can open:</p>"
        f"<ul>{''.join(links)}</ul>"
        f'<p><a href="{escaped(hub_base())}services/twinhub/twins">All twins</a></p>'
    )
    mark_status(404)
    return _page("Twin not found", body, "twin-not-found")


def error_page(title: str, message: str, status: int = 500) -> pn.viewable.Viewable:
    """A failure the user can read; title and message are text (they may quote the URL)."""
    mark_status(status)
    return _page(title, f"<h2>{escaped(title)}</h2>{as_html(message)}", "twin-error")


def build_app(manifest: dict[str, Any], user: str) -> Any:
    """Call the twin's ``app`` entry point, handing it this user's share of the service's Dask."""
    factory = resolve_entry_point(manifest["app"])
    if "client" in inspect.signature(factory).parameters:
        return factory(client=UserClient(user))
    return factory()


def run_notice(name: str, run: RunLookup | None) -> tuple[pn.pane.HTML | None, str | None]:
    """The note for a link's ``run``: the run's status and its PROV one click away (the
    registry's PROV page), or the problem with the link (a warning line), never an error."""
    if run is None:
        return None, None
    shown = repr(run.run_id[:40])
    if run.record is None:
        return None, f"run={shown} {run.problem}; the dashboard shows its own run"
    record = run.record
    if record.get("twin") != name:
        return None, f"run={shown} is a run of {record.get('twin')!r}, not of {name!r}"
    registry = f"{hub_base()}{REGISTRY_PREFIX.lstrip('/')}"
    prov = f"{registry}/runs/{quote(run.run_id, safe='')}/provenance"
    when = str(record.get("created_at", ""))[:19].replace("T", " ")
    body = (
        f"This link shows run <code>{escaped(run.run_id)}</code> of {escaped(name)} by "
        f"{escaped(record.get('user', '?'))}, {escaped(when)} UTC: "
        f"<strong>{escaped(record.get('status', '?'))}</strong>. "
        f'<a class="twin-run-provenance" href="{escaped(prov)}">Its provenance (PROV)</a> · '
        f'<a href="{escaped(registry)}/runs">all runs</a>'
    )
    pane = pn.pane.HTML(
        body,
        css_classes=["twin-run", "alert", "alert-info"],
        stylesheets=ALERT_STYLESHEETS,
        sizing_mode="stretch_width",
    )
    return pane, None


def decorate(app: Any, user: str, problems: list[str], run: pn.pane.HTML | None = None) -> Any:
    """Who is signed in, the run the link shows, and what in the link was ignored (visible,
    never a traceback)."""
    notices = [run] if run is not None else []
    if problems:
        notices.append(
            alert(
                "Some settings in the link could not be used:",
                "warning",
                items=problems,
                css_classes=["url-state-warning"],
            )
        )
    who = pn.pane.HTML(
        f'<span class="twinhub-user">{escaped(user)}</span> · '
        f'<a href="{escaped(hub_base())}services/twinhub/twins" style="color:inherit">'
        "all twins</a>",
        styles={"color": "white", "margin-left": "auto", "font-size": "14px"},
    )
    if isinstance(app, BaseTemplate):
        app.header.append(who)
        for notice in reversed(notices):
            app.main.insert(0, notice)
        return app
    return pn.Column(who, *notices, app, sizing_mode="stretch_width")


def twin_page() -> Any:
    """The Bokeh app behind ``/<twin>``: one session of the twin's dashboard for this user."""
    name = pn.state.route_params.get("twin") or (_SERVED[0] if _SERVED else "")
    user, token = pn.state.user, pn.state.access_token
    if not user or not token:  # the auth provider always sets both; never serve anonymously
        return error_page("Not logged in", "Reload the page to log in through the hub.", 401)
    request = _REQUEST.get()
    if request is None or (request.name, request.token) != (name, token):
        log.error("page %r built without its registry lookup", name)
        return error_page("The twin registry was not asked", "Reload the page.", 503)
    lookup = request.lookup
    if isinstance(lookup, RegistryUnavailable):
        log.warning("registry unavailable for %s/%s: %s", user, name, lookup)
        return error_page("The twin registry is not answering", str(lookup), 503)
    if lookup.manifest is None:
        return not_found_page(name, lookup.available)
    if not lookup.manifest.get("app"):
        return error_page(f"{name} has no dashboard", "Its manifest declares no app.", 404)
    try:
        app = build_app(lookup.manifest, user)
    except Exception as e:  # the twin's code failed: say so, log the traceback for its authors
        log.exception("the app of twin %s failed to build", name)
        return error_page(f"The dashboard of {name} failed to start", f"{type(e).__name__}: {e}")
    widgets = stateful_widgets(app)
    query = query_of(pn.state.session_args)
    linkable = {**parameter_widgets(app, widgets), **widgets}
    problems = ignored_problems(query.pop(IGNORED_KEY, None)) + apply_query(linkable, query)
    run, problem = run_notice(name, request.run)
    keep_in_url(widgets)
    return decorate(app, user, problems + ([problem] if problem else []), run)
