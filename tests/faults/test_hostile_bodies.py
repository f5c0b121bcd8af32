"""Oversized and absurdly nested bodies are refused by the real registry, nothing is stored."""

from __future__ import annotations

import pytest

from tests.support.registry import Registry
from tests.support.twins import manifest

pytestmark = pytest.mark.integration


def test_manifest_over_one_mib_is_413_and_not_stored(registry: Registry) -> None:
    big = manifest("too-big", summary="x" * (1024 * 1024 + 1))
    with registry.client("admin") as c:
        r = c.post("/twins", json=big)
        assert r.status_code == 413
        assert "1024 KiB" in r.json()["detail"]
        assert c.get("/twins/too-big").status_code == 404


def test_streamed_body_over_one_mib_is_413(registry: Registry) -> None:
    def chunks():  # no Content-Length: the limit is counted as the body arrives
        yield b'{"name": "streamed", "summary": "'
        for _ in range(300):
            yield b"y" * 4096
        yield b'"}'

    with registry.client("admin") as c:
        r = c.post("/twins", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_deeply_nested_json_is_422_naming_the_body(registry: Registry) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with registry.client("admin") as c:
        r = c.post("/twins", content=deep, headers={"Content-Type": "application/json"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "(body)"
        assert "nested deeper than 64" in r.json()["detail"][0]["message"]
        # the registry is still fine
        assert c.get("/twins/growth").status_code == 200
