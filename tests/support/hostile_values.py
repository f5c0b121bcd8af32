"""Hypothesis strategies for the classes of hostile values of issue 16 §3: numbers that
overflow, NUL / control / invisible characters, huge strings and lists, deep nesting, patterns
with an exponential worst case, references outside the document. Shared by the property tests
(tests/security) and the schemathesis fuzzing (tests/faults)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

NASTY_CHARACTERS = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\u200b",
    "\u202e",
    "\u2028",
    "\ufeff",
    "\ue000",
]

numbers = st.one_of(
    st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, -1e308, 5e-324]),
    st.integers(min_value=2**63, max_value=10**300),
    st.integers(max_value=-(2**63)),
)
nasty_text = st.text(
    alphabet=st.sampled_from([*NASTY_CHARACTERS, "a", " ", "é", "ｏ"]), min_size=1, max_size=30
)
huge_text = st.integers(min_value=3_000, max_value=300_000).map(lambda n: "x" * n)
huge_list = st.integers(min_value=1_001, max_value=30_000).map(lambda n: ["g"] * n)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


deep = st.integers(min_value=40, max_value=200).map(_nested)
evil_schemas = st.sampled_from(
    [
        {"type": "string", "pattern": "^(a+)+$"},
        {"type": "string", "pattern": "^(a|aa)+$"},
        {"type": "string", "pattern": r"^(a)\1$"},
        {"type": "string", "pattern": "(?=a)"},
        {"type": "object", "patternProperties": {"^(b+)+$": {}}, "additionalProperties": False},
        {"$ref": "http://127.0.0.1:1/schema.json"},
        {"$ref": "https://example.org/x.json#/a"},
        {"$ref": "#/$defs/nothing"},
        {"$ref": "#"},
        {"$id": "http://127.0.0.1:1/", "$ref": "#/x"},
        {"$dynamicRef": "http://127.0.0.1:1/meta"},
    ]
)
entry_points = st.sampled_from(
    ["os:_exit", "builtins:exit", "sys:exit", "signal:raise_signal", "ｏｓ:_exit",
     "twinhub.hub.launch:main", "twinhub.twins.flood.forecast:forecast", "pytest:main"]
)  # fmt: skip
hostile = st.one_of(numbers, nasty_text, huge_text, huge_list, deep, evil_schemas, entry_points)
"""Any one hostile value (send it with :func:`json_text`: ``Infinity`` and ``NaN`` included)."""
finite_hostile = hostile.filter(lambda v: not (isinstance(v, float) and not math.isfinite(v)))
"""For clients that write strict JSON only (schemathesis); the property tests send the rest."""


def json_text(value: Any) -> bytes:
    """JSON as a careless or hostile client writes it: ``1e999`` overflowed to ``Infinity``."""
    return json.dumps(value, allow_nan=True).encode()


attack_strings = st.integers(min_value=20, max_value=20_000).map(lambda n: "a" * n + "!")
"""Inputs on which a backtracking engine takes exponential time for the patterns above."""


def inject(document: Any, path: list[int], value: Any) -> Any:
    """``document`` with ``value`` put at a place chosen by ``path`` (indexes into its keys and
    items, as far as they go): the hostile value lands anywhere, not only at the top."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    if isinstance(document, dict):
        keys = list(document)
        key = keys[path[0] % len(keys)]
        return {**document, key: inject(document[key], path[1:], value)}
    index = path[0] % len(document)
    return [*document[:index], inject(document[index], path[1:], value), *document[index + 1 :]]


paths = st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=5)
