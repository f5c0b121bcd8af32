"""Text that came from outside (a URL, a query value, an error message) shown as text.

Panel's ``Markdown`` and ``Alert`` panes parse their text as Markdown, so escaping HTML is not
enough there: ``[log in](https://evil.example)`` still becomes a link and ``![x](...)`` an image
in a page the user trusts. Untrusted text goes through these helpers instead: it is HTML-escaped
and handed to an ``HTML`` pane, which parses no Markdown (and no math), so it reads exactly as
typed. Only the markup written here (paragraphs, lists, the alert box) is HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import panel as pn

ALERT_STYLESHEETS = pn.pane.Alert._stylesheets
"""Panel's own alert styles, so an alert of ours looks like ``pn.pane.Alert``."""


def escaped(text: object) -> str:
    """``text`` as HTML text content (quotes escaped too: safe inside attributes)."""
    return html.escape(str(text), quote=True)


def as_html(text: str, items: Sequence[str] = ()) -> str:
    """A paragraph of ``text`` and an optional list of ``items``, every character escaped."""
    body = f"<p>{escaped(text)}</p>" if text else ""
    if items:
        body += "<ul>" + "".join(f"<li>{escaped(i)}</li>" for i in items) + "</ul>"
    return body


def text_pane(text: str, items: Sequence[str] = (), **params: Any) -> pn.pane.HTML:
    """Untrusted text (and list items) as a pane that shows them literally."""
    params.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(as_html(text, items), disable_math=True, **params)


def alert(
    text: str, kind: str = "warning", items: Sequence[str] = (), css_classes: Sequence[str] = ()
) -> pn.pane.HTML:
    """What ``pn.pane.Alert(text, alert_type=kind)`` shows, without reading ``text`` as Markdown."""
    return text_pane(
        text,
        items,
        css_classes=[*css_classes, "alert", f"alert-{kind}"],
        stylesheets=ALERT_STYLESHEETS,
    )
