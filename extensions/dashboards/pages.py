"""What the service shows for ``/services/twinhub-apps/<twin>``: the twin's app, or why not.

The twin is resolved per request from the registry, as the user looking at it: a twin
registered after the service started is served at once, a private twin only to its audience,
and a name nobody may open gets a page listing the twins this user can open.
"""

from __future__ import annotations

import html
import inspect
import logging
import os
from typing import Any

import panel as pn
from panel.template.base import BaseTemplate
from twinhub.twins.manifest import resolve_entry_point

from .cluster import UserClient
from .registry import RegistryUnavailable, lookup_twin
from .urlstate import apply_query, keep_in_url, query_of, stateful_widgets

log = logging.getLogger(__name__)
PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/twinhub-apps/")


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


def _page(title: str, body_md: str, css_class: str) -> pn.viewable.Viewable:
    return pn.template.BootstrapTemplate(
        title=title,
        main=[pn.pane.Markdown(body_md, css_classes=[css_class], sizing_mode="stretch_width")],
    )


def not_found_page(name: str, available: list[dict[str, Any]]) -> pn.viewable.Viewable:
    """404: the name is unknown, retired or private to others; list what the user can open."""
    lines = [
        f"## 404: no twin named “{html.escape(name)}” is available to you",
        "",
        "It may be misspelt, retired, or shared with other people only. Twins you can open:",
        "",
    ]
    lines += [
        f"- [{html.escape(t.get('title', t['name']))}]({PREFIX}{t['name']}) (`{t['name']}`)"
        for t in available
    ] or ["- none yet"]
    lines += ["", f"[All twins]({hub_base()}services/twinhub/twins)"]
    mark_status(404)
    return _page("Twin not found", "\n".join(lines), "twin-not-found")


def error_page(title: str, message: str, status: int = 500) -> pn.viewable.Viewable:
    mark_status(status)
    return _page(title, f"## {html.escape(title)}\n\n{html.escape(message)}", "twin-error")


def build_app(manifest: dict[str, Any], user: str) -> Any:
    """Call the twin's ``app`` entry point, handing it this user's share of the service's Dask."""
    factory = resolve_entry_point(manifest["app"])
    if "client" in inspect.signature(factory).parameters:
        return factory(client=UserClient(user))
    return factory()


def decorate(app: Any, user: str, problems: list[str]) -> Any:
    """Who is signed in, and what in the link was ignored (visible, never a traceback)."""
    notices = []
    if problems:
        notices.append(
            pn.pane.Alert(
                "Some settings in the link could not be used:\n\n"
                + "\n".join(f"- {html.escape(p)}" for p in problems),
                alert_type="warning",
                css_classes=["url-state-warning"],
            )
        )
    who = pn.pane.HTML(
        f'<span class="twinhub-user">{html.escape(user)}</span> · '
        f'<a href="{hub_base()}services/twinhub/twins" style="color:inherit">all twins</a>',
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
    name = pn.state.route_params.get("twin", "")
    user, token = pn.state.user, pn.state.access_token
    if not user or not token:  # the auth provider always sets both; never serve anonymously
        return error_page("Not logged in", "Reload the page to log in through the hub.", 401)
    try:
        lookup = lookup_twin(name, token)
    except RegistryUnavailable as e:
        log.warning("registry unavailable for %s/%s: %s", user, name, e)
        return error_page("The twin registry is not answering", str(e), 503)
    if lookup.manifest is None:
        return not_found_page(name, lookup.available)
    if not lookup.manifest.get("app"):
        return error_page(f"{name} has no dashboard", "Its manifest declares no `app`.", 404)
    try:
        app = build_app(lookup.manifest, user)
    except Exception as e:  # the twin's code failed: say so, log the traceback for its authors
        log.exception("the app of twin %s failed to build", name)
        return error_page(f"The dashboard of {name} failed to start", f"{type(e).__name__}: {e}")
    widgets = stateful_widgets(app)
    problems = apply_query(widgets, query_of(pn.state.session_args))
    keep_in_url(widgets)
    return decorate(app, user, problems)
