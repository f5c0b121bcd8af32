"""The registry's routes read their bodies themselves, once the caller is authenticated.

A route that declares a body parameter has FastAPI parse the body on the event loop before
the route's authentication runs: anyone with any token could make the registry parse 1 MiB of
JSON there (tests/security/test_hostile_bodies.py measures it on the real registry).
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from twinhub.contracts.runs import RunUpdate
from twinhub.extensions.registry.api import build_router
from twinhub.extensions.registry.auth import Authenticator
from twinhub.extensions.registry.bodies import MAX_FORM_FIELDS, parse_form, parse_json
from twinhub.extensions.registry.db import open_database
from twinhub.extensions.registry.errors import Invalid
from twinhub.extensions.registry.limits import MAX_JSON_DEPTH
from twinhub.extensions.registry.pages import build_pages
from twinhub.extensions.registry.store import Store


def test_no_route_has_a_body_parsed_before_authentication(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "unused")
    store = Store(open_database(f"sqlite:///{tmp_path / 'registry.sqlite'}"))
    auth = Authenticator()
    api, pages = build_router(store, auth.require_api_user), build_pages(store, auth, "/")
    app = FastAPI()
    app.include_router(api)
    app.include_router(pages)
    routes = [r for r in [*api.routes, *pages.routes] if isinstance(r, APIRoute)]
    writes = [r for r in routes if r.methods & {"POST", "PUT", "PATCH"}]
    assert len(writes) >= 10
    assert [r.path for r in routes if r.body_field is not None] == []
    # and OpenAPI still describes the bodies of the API's writes
    spec = app.openapi()
    for route in writes:
        if route.path.startswith("/api/") and not route.path.endswith("/restore"):
            operation = spec["paths"][route.path][next(iter(route.methods)).lower()]
            assert "application/json" in operation["requestBody"]["content"], route.path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "a JSON body is required"),
        (b"[" * 100_000, f"nested deeper than {MAX_JSON_DEPTH}"),
        (b'{"a": ', "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_a_body_that_is_no_json_is_422_naming_the_body(body: bytes, message: str) -> None:
    with pytest.raises(Invalid) as info:
        parse_json(body)
    assert info.value.body() == {
        "detail": [{"field": "(body)", "message": info.value.detail[0][1]}]
    }
    assert message in info.value.detail[0][1]


def test_a_body_is_validated_naming_each_wrong_field() -> None:
    assert parse_json(b'{"status": "running"}', RunUpdate).status == "running"
    with pytest.raises(Invalid) as info:
        parse_json(b'{"status": "nonsense", "extra": 1}', RunUpdate)
    assert {field for field, _ in info.value.detail} == {"status", "extra"}


def test_a_form_is_read_with_a_bounded_number_of_fields() -> None:
    assert parse_form(b"xsrf=abc&profile=small", ("profile", "xsrf")) == {
        "profile": "small",
        "xsrf": "abc",
    }
    assert parse_form(b"", ("xsrf",)) == {"xsrf": ""}
    with pytest.raises(Invalid):
        parse_form(b"a=1&" * (MAX_FORM_FIELDS + 1), ("xsrf",))
