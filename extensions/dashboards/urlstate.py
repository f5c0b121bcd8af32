"""Widget state in the URL query, so that a link opens the same view for a colleague.

Works on any twin's app without its cooperation: every named input widget of the layout is one
query argument (its label as a slug). Values come in through our own parsing, never trusted:
a value that does not parse or is out of range keeps the widget's default and is reported in
a visible warning, instead of an exception in the page.

The query is bounded before anything reads it (:func:`bounded_query`, by the page handler): a
value longer than :data:`MAX_VALUE_CHARS` is dropped unread, and so is a link with more than
:data:`MAX_SETTINGS` distinct settings, as a whole. Panel parses the browser's own URL too (its
``Location`` calls ``int()`` on any digit string: thousands of digits raised a 500), so such a
link is answered with a redirect to the bounded one, which names what was dropped in
:data:`IGNORED_KEY`; the page turns that into the warning (:func:`ignored_problems`). A key
given several times counts once, with its last value. Parsing then refuses integers a browser
cannot hold exactly (|n| > 2**53) and non-finite floats.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import panel as pn
from panel.template.base import BaseTemplate

MAX_VALUE_CHARS = 200
"""Longest query value read: any date, number or choice of a widget fits."""
MAX_SETTINGS = 50
"""Most distinct query keys a link may carry (twins have a dozen widgets at most)."""
MAX_SAFE_INTEGER = 2**53
"""Largest integer a browser's number holds exactly (JavaScript's Number.MAX_SAFE_INTEGER+1)."""
SHOWN_CHARS = 40
"""How much of a refused value the warning quotes."""
IGNORED_KEY = "_ignored"
"""Query key of the settings the redirect dropped (never a widget's: slugs have no ``_`` at
either end): their keys, comma-separated, or ``*<count>`` when there were too many."""
RUN_KEY = "run"
"""Query key of the run a link shows (the Runs page's "in the dashboard"): the page answers with
the run's status and its PROV one click away (``pages.run_notice``), never a widget's value."""

STATEFUL = (
    pn.widgets.FloatSlider, pn.widgets.IntSlider, pn.widgets.FloatInput, pn.widgets.IntInput,
    pn.widgets.DatePicker, pn.widgets.Select, pn.widgets.TextInput, pn.widgets.Checkbox,
    pn.widgets.RadioButtonGroup, pn.widgets.EditableFloatSlider, pn.widgets.EditableIntSlider,
)  # fmt: skip


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def stateful_widgets(layout: Any) -> dict[str, pn.widgets.Widget]:
    """The input widgets of a layout by query key (first one wins if two labels collide)."""
    found: dict[str, pn.widgets.Widget] = {}
    if isinstance(layout, BaseTemplate):  # a template is not a layout: search its areas
        widgets = [w for area in (layout.sidebar, layout.main, layout.header) for item in area
                   if hasattr(item, "select") for w in item.select(pn.widgets.Widget)]  # fmt: skip
    else:
        widgets = layout.select(pn.widgets.Widget)
    for widget in widgets:
        if isinstance(widget, STATEFUL) and widget.name and slug(widget.name) not in found:
            found[slug(widget.name)] = widget
    return found


def parameter_widgets(layout: Any, widgets: Mapping[str, pn.widgets.Widget]) -> dict:
    """The same widgets by the name of the parameter each shows (``storm_mm`` for the flood
    dashboard's "Synthetic storm (mm)"), for links made from a run's parameters (the Runs
    page's "in the dashboard"); a label's slug wins where both name one key."""
    shown = {id(w) for w in widgets.values()}
    areas = (
        [layout.sidebar, layout.main, layout.header]
        if isinstance(layout, BaseTemplate)
        else [layout]
    )
    panes = [pane for area in areas for item in area if hasattr(item, "select")
             for pane in item.select(pn.Param)]  # fmt: skip
    found: dict[str, pn.widgets.Widget] = {}
    for pane in panes:
        for name, widget in getattr(pane, "_widgets", {}).items():  # pn.Param's by parameter
            if id(widget) in shown and slug(name) not in widgets:
                found.setdefault(slug(name), widget)
    return found


def encode(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10] if not isinstance(value, datetime) else value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode(text: str, current: Any) -> Any:
    """Parse ``text`` as the same type as the widget's current value (ValueError if not)."""
    if isinstance(current, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError("expected true or false")
        return text.lower() == "true"
    if isinstance(current, int):
        value = int(text)  # text is at most MAX_VALUE_CHARS long: bounded work
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"expected a whole number of at most {MAX_SAFE_INTEGER} in size")
        return value
    if isinstance(current, float):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value
    if isinstance(current, datetime):
        return datetime.fromisoformat(text)
    if isinstance(current, date):
        return date.fromisoformat(text)
    return text


def within_bounds(widget: pn.widgets.Widget, value: Any) -> None:
    """Inputs keep their ``start``/``end`` only as hints to the browser: check them here."""
    start, end = getattr(widget, "start", None), getattr(widget, "end", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if start is not None and value < start:
            raise ValueError(f"below the minimum {start}")
        if end is not None and value > end:
            raise ValueError(f"above the maximum {end}")


def shorter(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def shown(text: str) -> str:
    """A refused value as the warning quotes it: its start only, if it is long."""
    return repr(shorter(text, SHOWN_CHARS))


def bounded_query(arguments: Mapping[str, Iterable[bytes]]) -> tuple[dict[str, str], str | None]:
    """The settings a page may read from a request's query (the last value of each key), and
    what was dropped for its size (the :data:`IGNORED_KEY` value), if anything was."""
    if len(arguments) > MAX_SETTINGS:
        return {}, f"*{len(arguments)}"
    kept, dropped = {}, []
    for key, text in query_of(arguments).items():
        if len(text) > MAX_VALUE_CHARS or len(key) > MAX_VALUE_CHARS:
            dropped.append(key[:SHOWN_CHARS])
        else:
            kept[key] = text
    return kept, (",".join(dropped)[:MAX_VALUE_CHARS] if dropped else None)


def ignored_problems(marker: str | None) -> list[str]:
    """The warning's lines for what :func:`bounded_query` dropped (``marker`` is from a URL)."""
    if not marker:
        return []
    if marker.startswith("*"):
        return [
            f"the link carried {marker[1:SHOWN_CHARS]} settings, more than {MAX_SETTINGS}: "
            "all were ignored; the defaults are shown"
        ]
    reason = f"longer than {MAX_VALUE_CHARS} characters"
    return [f"{key}=… was ignored ({reason}); the default is shown" for key in marker.split(",")]


def apply_query(widgets: Mapping[str, pn.widgets.Widget], query: Mapping[str, str]) -> list[str]:
    """Set widgets from the (bounded) query; return one readable problem per refused value."""
    problems = []
    for key, text in query.items():
        widget = widgets.get(key)
        if widget is None:
            continue
        try:
            value = decode(text, widget.value)
            within_bounds(widget, value)
            widget.value = value
        except Exception as e:  # param's bound and type checks raise ValueError or TypeError
            reason = shorter(str(e).split("\n")[0], 2 * SHOWN_CHARS) or type(e).__name__
            problems.append(f"{key}={shown(text)} was ignored ({reason}); the default is shown")
    return problems


def query_of(args: Mapping[str, Iterable[bytes]]) -> dict[str, str]:
    """``pn.state.session_args`` (lists of bytes) as plain strings, last value winning."""
    out = {}
    for key, values in args.items():
        values = list(values)
        if values:
            raw = values[-1][: 4 * MAX_VALUE_CHARS + 1]  # enough to tell that it is too long
            out[key] = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return out


def keep_in_url(widgets: Mapping[str, pn.widgets.Widget]) -> None:
    """Write every change of these widgets to the page's URL query (no reload)."""
    location = pn.state.location
    if location is None:
        return

    def update(key: str, event) -> None:
        location.update_query(**{key: encode(event.new)})

    for key, widget in widgets.items():
        widget.param.watch(lambda event, key=key: update(key, event), "value")
