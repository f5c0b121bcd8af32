"""Manifests and run inputs are written by other people: each class of hostile value is refused
with a 4xx naming the field, nothing is stored, on SQLite and PostgreSQL alike.

Classes (issue 16 §3): remote references in parameter schemas, patterns with an exponential
worst case, entry points outside the twin's package, numbers that overflow to infinity, NUL and
control characters, strings and lists without a bound.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.support.registry import Registry
from tests.support.twins import manifest

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


def counts(c: httpx.Client) -> dict[str, Any]:
    r = c.get("/health")
    assert r.status_code == 200, r.text
    return {k: v for k, v in r.json().items() if k != "status"}


def refused(c: httpx.Client, method: str, path: str, body: Any, field: str, **kw) -> str:
    """Send ``body`` (a dict, or raw JSON text); expect a 4xx naming ``field``; nothing stored."""
    before = counts(c)
    content = body if isinstance(body, str) else None
    r = c.request(method, path, json=None if content else body, content=content, headers=JSON)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    detail = r.json()["detail"]
    fields = [d["field"] for d in detail] if isinstance(detail, list) else []
    assert any(f == field or f.startswith(field + ".") for f in fields), (field, detail)
    assert counts(c) == before
    return " ".join(d["message"] for d in detail)


def test_remote_and_broken_references_are_refused(any_registry: Registry) -> None:
    refs = [
        "http://127.0.0.1:1/schema.json",  # would be fetched by the registry (and fail: 500)
        "https://example.org/evil.json#/x",
        "file:///etc/passwd",
        "other.json",  # relative: resolved against a base URI, i.e. remotely
        "#/$defs/missing",  # local but pointing at nothing: a 500 at the first run
    ]
    with any_registry.client("admin") as c:
        for ref in refs:
            schema = {"type": "object", "properties": {"x": {"$ref": ref}}}
            message = refused(
                c, "POST", "/twins", manifest("ref-twin", parameters=schema), "parameters"
            )
            assert ref[:20] in message, message
        with_id = {"type": "object", "$id": "http://127.0.0.1:1/", "properties": {}}
        refused(c, "POST", "/twins", manifest("ref-twin", parameters=with_id), "parameters")
        looping = {"type": "object", "allOf": [{"$ref": "#"}]}
        refused(c, "POST", "/twins", manifest("ref-twin", parameters=looping), "parameters")


def test_patterns_run_in_linear_time_or_are_refused(any_registry: Registry) -> None:
    evil = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
        "patternProperties": {"^(b|bb)+$": {"type": "integer"}},
        "additionalProperties": {"type": "string", "pattern": "^(a|aa)+$"},
    }
    with any_registry.client("admin") as c:
        r = c.post("/twins", json=manifest("regex-twin", parameters=evil))
        assert r.status_code == 201, r.text
        # backtracking engines take ~2^n steps on these; RE2 takes n
        attack = "a" * 5000 + "!"
        inputs = [{"code": attack}, {"b" * 5000 + "!": 1}, {"other": attack}]
        for parameters in inputs:
            started = time.monotonic()
            r = c.post("/twins/regex-twin/runs", json={"parameters": parameters})
            assert r.status_code == 422, r.text
            assert time.monotonic() - started < 10
        for pattern in [r"^(a)\1$", "(?=a)a", "(?<!b)a"]:  # no linear-time engine runs these
            schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
            message = refused(
                c, "POST", "/twins", manifest("regex-bad", parameters=schema), "parameters"
            )
            assert "linear time" in message
        keyed = {"type": "object", "patternProperties": {r"(x)\1": {}}}
        refused(c, "POST", "/twins", manifest("regex-bad", parameters=keyed), "parameters")


@pytest.mark.parametrize(
    ("field", "spec"),
    [
        ("model", "os:_exit"),
        ("model", "builtins:exit"),
        ("app", "signal:raise_signal"),
        ("app", "twinhub.hub.launch:main"),  # the platform itself
        ("model", "twinhub.twins.drought.model:run"),  # another twin's code
        ("showcase", "subprocess:run"),
        ("app", "twinhub.twins.flood.forecast:forecast"),
        ("model", "twinhub.extensions.registry.app:main"),
    ],
)
def test_entry_points_outside_the_twins_package_are_refused(
    any_registry: Registry, field: str, spec: str
) -> None:
    with any_registry.client("admin") as c:
        refused(c, "POST", "/twins", manifest("entry-twin", **{field: spec}), field)
        # the registry is still up (os:_exit imported and called would have ended it)
        assert c.get("/health").status_code == 200


PLACE = '"__value__"'


def with_literal(document: dict, literal: str) -> str:
    """``document`` as JSON text with the placeholder replaced by a raw JSON literal (what a
    client can send but ``json.dumps`` of a Python value would not write)."""
    return json.dumps(document).replace(PLACE, literal)


@pytest.mark.parametrize(
    ("change", "literal", "field"),
    [
        ({"dask": {"worker_memory_gib": "__value__"}}, "1e999", "dask.worker_memory_gib"),
        (
            {"parameters": {"type": "object", "properties": {"r": {"default": "__value__"}}}},
            "NaN",
            "parameters",
        ),
        ({"dask": {"max_workers": "__value__"}}, "1" + "0" * 400, "dask.max_workers"),
        (
            {"parameters": {"type": "object", "properties": {"r": {"default": "__value__"}}}},
            "1e999",
            "parameters",
        ),
        (
            {"parameters": {"type": "object", "properties": {"r": {"maximum": "__value__"}}}},
            "-Infinity",
            "parameters",
        ),
    ],
)
def test_numbers_that_overflow_are_refused(
    any_registry: Registry, change: dict, literal: str, field: str
) -> None:
    with any_registry.client("admin") as c:
        refused(c, "POST", "/twins", with_literal(manifest("num-twin", **change), literal), field)


def test_run_inputs_that_overflow_or_hold_nul_are_refused(any_registry: Registry) -> None:
    with any_registry.client("admin") as c:
        for raw in [
            '{"parameters": {"rate": 1e999}}',
            '{"parameters": {"rate": -Infinity}}',
            '{"parameters": {"rate": NaN}}',
            '{"parameters": {"name\\u0000": 1}}',
            '{"parameters": {"rate": 0.5}, "status": "failed", "error": "boom\\u0000"}',
        ]:
            refused(
                c,
                "POST",
                "/twins/growth/runs",
                raw,
                "parameters" if "error" not in raw else "error",
            )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "Growth\x00"}, "title"),
        ({"title": "Growth\u202eevil"}, "title"),  # right-to-left override
        ({"title": "Gro\u200bwth"}, "title"),  # zero-width space
        ({"title": "Growth\nsecond line"}, "title"),
        ({"summary": "nul \x00 inside"}, "summary"),
        ({"summary": "bell \x07"}, "summary"),
        ({"maintainers": [{"name": "Ada\x00"}]}, "maintainers.0.name"),
        ({"maintainers": [{"name": "Ada", "github": "ada\u2028"}]}, "maintainers.0.github"),
        ({"visibility": {"groups": ["lab\x00"]}}, "visibility"),
        ({"maintainers": [{"name": "Ada\x1b[31m"}]}, "maintainers.0.name"),
        ({"notebook": "a\x00.ipynb"}, "notebook"),
    ],
)
def test_nul_and_control_characters_are_refused(
    any_registry: Registry, change: dict, field: str
) -> None:
    with any_registry.client("admin") as c:
        refused(c, "POST", "/twins", manifest("nul-twin", **change), field)


def test_nul_in_stored_json_values_is_refused(any_registry: Registry) -> None:
    nul_schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "default": "a\x00b", "description": "x"}},
    }
    with any_registry.client("admin") as c:
        refused(c, "POST", "/twins", manifest("nul-params", parameters=nul_schema), "parameters")
        r = c.post("/twins/growth/runs", json={"parameters": {}})
        assert r.status_code == 201, r.text
        run = r.json()["id"]
        prov = {"entity": {"ex:out": {"prov:label": "a\x00b"}}, "prefix": {"ex": "http://x/"}}
        refused(c, "PUT", f"/runs/{run}/provenance", prov, "(body)")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"maintainers": [{"name": "Ada", "github": "g" * 200_000}]}, "maintainers.0.github"),
        ({"maintainers": [{"name": "A" * 200_000}]}, "maintainers.0.name"),
        ({"maintainers": [{"name": f"M{i}"} for i in range(5000)]}, "maintainers"),
        (
            {"maintainers": [{"name": "A", "email": "a@" + "b" * 200_000 + ".org"}]},
            "maintainers.0.email",
        ),
        ({"visibility": {"groups": [f"g{i}" for i in range(20_000)]}}, "visibility"),
        ({"notebook": "n" * 100_000 + ".ipynb"}, "notebook"),
        (
            {"parameters": {"type": "object", "description": "d" * 900_000, "properties": {}}},
            "parameters",
        ),
    ],
)
def test_strings_and_lists_are_bounded(any_registry: Registry, change: dict, field: str) -> None:
    with any_registry.client("admin") as c:
        refused(c, "POST", "/twins", manifest("big-twin", **change), field)


def test_profiles_are_bounded_and_clean(any_registry: Registry) -> None:
    profile = {"slug": "p-hostile", "display_name": "P", "cpu": 1, "memory": "1G"}
    cases = [
        ({"display_name": "P\x00"}, "display_name"),
        ({"display_name": "P\u200d"}, "display_name"),
        ({"description": "d" * 100_000}, "description"),
        ({"image": "i" * 100_000}, "image"),
        ({"node_selector": {f"k{i}": "v" for i in range(5000)}}, "node_selector"),
        ({"allowed_groups": ["g\x00"]}, "allowed_groups.0"),
        ({"tolerations": [{"key": "k" * 10_000}]}, "tolerations.0.key"),
        ({"slurm": {"time_limit": "1" * 100_000 + "x"}}, "slurm.time_limit"),
    ]
    with any_registry.client("admin") as c:
        for change, field in cases:
            refused(c, "POST", "/profiles", {**profile, **change}, field)
        refused(
            c,
            "POST",
            "/profiles",
            '{"slug": "p-inf", "display_name": "P", "cpu": 1e999, "memory": "1G"}',
            "cpu",
        )


def test_database_lookups_with_nul_are_4xx(any_registry: Registry) -> None:
    with any_registry.client("admin") as c:
        for path in [
            "/twins/a%00b/history",
            "/runs/x%00y",
            "/runs?twin=a%00",
            "/profiles/a%00/history",
        ]:
            r = c.get(path)
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        r = c.post("/spawn/resolve", json={"twin": "a\x00b"})
        assert 400 <= r.status_code < 500, r.text
