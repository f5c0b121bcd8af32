"""Property tests: a hostile value of any class (tests/support/hostile_values.py) put anywhere in
a twin manifest, a profile, run inputs, a PROV record or a spawn choice never gets a 5xx from
the real registry, and a pattern written by a twin author never runs in more than linear time
on another user's input."""

from __future__ import annotations

import time
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from tests.support.hostile_values import attack_strings, hostile, inject, json_text, paths
from tests.support.registry import Registry
from tests.support.twins import manifest

pytestmark = pytest.mark.integration

SETTINGS = hypothesis.settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same values on every run: a failure can be reproduced
    database=None,
    suppress_health_check=list(HealthCheck),
)
PROFILE = {"slug": "prop-profile", "display_name": "P", "cpu": 1, "memory": "1G"}
PROV = {
    "prefix": {"ex": "http://example.org/"},
    "entity": {"ex:out": {"prov:label": "output"}},
    "activity": {"ex:run": {}},
    "wasGeneratedBy": {"_:g1": {"prov:entity": "ex:out", "prov:activity": "ex:run"}},
}


def targets(run_id: str) -> dict[str, tuple[str, str, Any]]:
    """Where hostile values go: (method, path, a valid body to inject into)."""
    return {
        "twin": ("POST", "/twins", manifest("prop-twin")),
        "twin update": ("PUT", "/twins/growth", manifest("growth")),
        "profile": ("POST", "/profiles", PROFILE),
        "run": ("POST", "/twins/growth/runs", {"parameters": {"rate": 0.5, "days": 3}}),
        "run update": ("PATCH", f"/runs/{run_id}", {"status": "failed", "error": "e"}),
        "provenance": ("PUT", f"/runs/{run_id}/provenance", PROV),
        "spawn": ("POST", "/spawn/resolve", {"twin": "growth", "profile": "small"}),
    }


def test_hostile_values_anywhere_never_get_a_server_error(registry: Registry) -> None:
    statuses: list[tuple[int, str]] = []
    with registry.client("admin") as c:
        run_id = c.post("/twins/growth/runs", json={"status": "running"}).json()["id"]
        where = targets(run_id)

        @SETTINGS
        @given(target=st.sampled_from(sorted(where)), value=hostile, path=paths)
        def send(target: str, value: Any, path: list[int]) -> None:
            method, url, body = where[target]
            r = c.request(
                method,
                url,
                content=json_text(inject(body, path, value)),
                headers={"Content-Type": "application/json"},
            )
            statuses.append((r.status_code, f"{method} {url}: {r.text[:300]}"))
            assert r.status_code < 500, statuses[-1]

        send()
        # the profile and twin writes that were valid are undone, so nothing leaks to others
        assert c.get("/health").status_code == 200
    assert len(statuses) >= 100
    assert not [s for s in statuses if s[0] >= 500]


def test_author_patterns_run_in_linear_time_on_any_input(registry: Registry) -> None:
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^(a+)+$"},
            "alt": {"type": "string", "pattern": "^(a|aa)+$"},
        },
        "patternProperties": {"^(a|a?)+$": {"type": "integer"}},
        "additionalProperties": {"type": "string", "pattern": "^(.*a){12}$"},
    }
    with registry.client("admin") as c:
        r = c.post("/twins", json=manifest("prop-regex", parameters=schema))
        assert r.status_code in (201, 409), r.text

        @hypothesis.settings(SETTINGS, max_examples=40)
        @given(text=attack_strings, key=st.sampled_from(["code", "alt", "key", "other"]))
        def send(text: str, key: str) -> None:
            parameters = {text: 1} if key == "key" else {key: text}
            started = time.monotonic()
            r = c.post("/twins/prop-regex/runs", json={"parameters": parameters})
            assert r.status_code in (201, 422), r.text[:300]
            # a backtracking engine needs ~2^len steps: years for these lengths
            assert time.monotonic() - started < 10

        send()
