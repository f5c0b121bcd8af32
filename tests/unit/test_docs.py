"""The docs name only what the code has: registry routes, and one Binder link.

Docs drift silently (a route renamed, a page that was once loaded from a CDN); these checks read
the Markdown and ask the real registry application (its OpenAPI document and its routes).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from twinhub.extensions.registry.app import create_app
from twinhub.extensions.registry.config import RegistryConfig

REPO = Path(__file__).resolve().parents[2]
REGISTRY_DOC = (REPO / "docs" / "registry.md").read_text()
PREFIX = "/services/twinhub"
METHODS = "GET|POST|PUT|PATCH|DELETE"
# "GET/PUT/DELETE /api/profiles/{slug}": one or more methods, then a registry path
ROUTE = re.compile(rf"\b((?:{METHODS})(?:/(?:{METHODS}))*) (/(?:ogc)?api(?:/[\w{{}}/.-]*[\w}}])?)")
# any registry path, relative ("/api/runs") or through the proxy ("/services/twinhub/api/docs"),
# but not the hub's own API ("/hub/api/...")
PATH = re.compile(rf"(?<![\w/])(?:{PREFIX})?(/api/[\w{{}}/.-]*[\w}}])")


def _shape(path: str) -> str:
    """A path with its parameters unnamed: the docs say {id} where the code says {run_id}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    state = tmp_path_factory.mktemp("registry")
    config = RegistryConfig.from_env(
        {"TWINHUB_STATE_DIR": str(state), "TWINHUB_TWINS_DIR": str(state / "no-twins")}
    )
    with pytest.MonkeyPatch.context() as mp:
        # the hub gives its managed services a token; nothing here calls the hub
        mp.setenv("JUPYTERHUB_API_TOKEN", secrets.token_hex(16))
        yield create_app(config)


def test_registry_doc_and_openapi_document_name_the_same_routes(registry: FastAPI) -> None:
    spec = {
        _shape(path.removeprefix(PREFIX)): {m.upper() for m in item}
        for path, item in registry.openapi()["paths"].items()
    }
    routes = ROUTE.findall(REGISTRY_DOC)
    assert len(routes) > 15, "the API table of docs/registry.md was not found"
    missing = [
        f"{method} {path}"
        for methods, path in routes
        for method in methods.split("/")
        if method not in spec.get(_shape(path), set())
    ]
    assert not missing, f"docs/registry.md names routes the registry does not have: {missing}"
    documented = {_shape(path) for _, path in routes}
    undocumented = sorted(set(spec) - documented)
    assert not undocumented, f"routes missing from docs/registry.md's API table: {undocumented}"


def test_every_registry_path_named_in_the_docs_answers(registry: FastAPI) -> None:
    """Paths outside the OpenAPI document too (its own URL, the docs page) must exist."""
    documents = [REGISTRY_DOC, *(p.read_text() for p in REPO.glob("docs/**/*.md"))]
    documents += [(REPO / "README.md").read_text()]
    documents += [p.read_text() for p in REPO.glob("catalogs/*.py")]
    spec = {_shape(p.removeprefix(PREFIX)) for p in registry.openapi()["paths"]}
    fixed = {p for doc in documents for p in PATH.findall(doc) if "{" not in p}
    assert "/api/docs" in fixed and "/api/health" in fixed
    client = TestClient(registry, follow_redirects=False)
    unknown = [
        path
        for path in sorted(fixed)
        if path not in spec and client.get(PREFIX + path).status_code == 404
    ]
    assert not unknown, f"docs name registry paths that do not exist: {unknown}"


def test_api_docs_page_loads_swagger_ui_from_the_registry_itself(registry: FastAPI) -> None:
    page = TestClient(registry).get(f"{PREFIX}/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert not [a for a in assets if "://" in a], "the docs page loads files from elsewhere"
    assert "swagger-ui-bundle" in REGISTRY_DOC, "docs/registry.md must say where Swagger UI is from"


def test_binder_badge_link_is_defined_once() -> None:
    readme = (REPO / "README.md").read_text()
    assert "[![Binder](https://mybinder.org/badge_logo.svg)][binder]" in readme
    definitions = re.findall(r"^\[binder\]: (\S+)$", readme, flags=re.M)
    assert len(definitions) == 1, definitions
    assert re.fullmatch(
        r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w./-]+\?urlpath=lab", definitions[0]
    )
    assert readme.count("mybinder.org/v2/") == 1, "the Binder URL must be written in one place"
