"""Widget state in the URL query, so that a link opens the same view for a colleague.

Works on any twin's app without its cooperation: every named input widget of the layout is one
query argument (its label as a slug). Values come in through our own parsing, never trusted:
a value that does not parse or is out of range keeps the widget's default and is reported in
a visible warning, instead of an exception in the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import panel as pn
from panel.template.base import BaseTemplate

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
        return int(text)
    if isinstance(current, float):
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
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


def apply_query(widgets: Mapping[str, pn.widgets.Widget], query: Mapping[str, str]) -> list[str]:
    """Set widgets from the query; return one readable problem per value that was refused."""
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
            reason = str(e).split("\n")[0][:160] or type(e).__name__
            problems.append(f"{key}={text!r} was ignored ({reason}); the default is shown")
    return problems


def query_of(args: Mapping[str, Iterable[bytes]]) -> dict[str, str]:
    """``pn.state.session_args`` (lists of bytes) as plain strings, last value winning."""
    out = {}
    for key, values in args.items():
        values = list(values)
        if values:
            raw = values[-1]
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
