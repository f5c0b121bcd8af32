"""Bounds on free-form JSON values (run parameters, parameter schemas, PROV documents).

Python's JSON parser reads ``1e999`` as infinity and ``\\u0000`` as a NUL character; neither
survives a trip through PostgreSQL (``Infinity`` is not JSON, NUL is not text) nor a spawn that
formats the value. Huge strings and arrays make every later reader (a page, a schema check such
as ``uniqueItems``) pay for them. One iterative pass (no recursion: the depth is the caller's
input) finds every such value and names where it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JsonBounds:
    """How much of each kind a document may hold."""

    max_string: int = 10_000
    max_items: int = 1_000
    max_values: int = 20_000
    max_integer: int = 2**63 - 1
    """Integers beyond 64 bits are not numbers any SQL engine or array library keeps exactly."""


PARAMETERS = JsonBounds(max_string=10_000, max_items=1_000, max_values=10_000)
"""Run parameters and the schemas that describe them: a form's worth, not a data set."""
DOCUMENT = JsonBounds(max_string=100_000, max_items=20_000, max_values=200_000)
"""A PROV-JSON record: larger, still bounded by the request size."""


def json_problems(value: Any, field: str, bounds: JsonBounds = PARAMETERS) -> list[tuple[str, str]]:
    """``(field, message)`` for every value that is not finite, holds NUL, or is too large."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(field, value)]
    seen = 0
    while stack and len(problems) < 20:
        where, item = stack.pop()
        seen += 1
        if seen > bounds.max_values:
            problems.append((field, f"holds more than {bounds.max_values} values"))
            break
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                problems.append((where, "must be a finite number (not infinity or NaN)"))
        elif isinstance(item, int):
            if abs(item) > bounds.max_integer:
                problems.append(
                    (where, f"must be between -{bounds.max_integer} and {bounds.max_integer}")
                )
        elif isinstance(item, str):
            problems.extend(_string_problems(where, item, bounds))
        elif isinstance(item, dict):
            if len(item) > bounds.max_items:
                problems.append((where, f"has more than {bounds.max_items} entries"))
                continue
            for key, child in item.items():
                key = str(key)
                problems.extend(_string_problems(f"{where}.{key[:40]!s} (key)", key, bounds))
                stack.append((f"{where}.{key[:40]}", child))
        elif isinstance(item, list | tuple):
            if len(item) > bounds.max_items:
                problems.append((where, f"has more than {bounds.max_items} items"))
                continue
            stack.extend((f"{where}.{i}", child) for i, child in enumerate(item))
    return problems


def _string_problems(where: str, text: str, bounds: JsonBounds) -> list[tuple[str, str]]:
    if len(text) > bounds.max_string:
        return [(where, f"is longer than {bounds.max_string} characters")]
    if "\x00" in text:
        return [(where, "contains a NUL character")]
    return []
