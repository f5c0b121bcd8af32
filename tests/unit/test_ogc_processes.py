"""The registry's OGC API - Processes routes in-process: landing page, conformance, and no
process or job without credentials (nothing here calls the hub)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from twinhub.extensions.registry.app import create_app
from twinhub.extensions.registry.config import RegistryConfig
from twinhub.extensions.registry.processes import CONFORMANCE

OGC = "/services/twinhub/ogcapi"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    state = tmp_path_factory.mktemp("registry")
    config = RegistryConfig.from_env(
        {"TWINHUB_STATE_DIR": str(state), "TWINHUB_TWINS_DIR": str(state / "no-twins")}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTERHUB_API_TOKEN", secrets.token_hex(16))
        yield create_app(config)


def test_landing_page_links_conformance_processes_and_jobs(registry: FastAPI) -> None:
    client = TestClient(registry)
    for path in (OGC, f"{OGC}/"):  # OWSLib opens the landing page with a trailing slash
        links = {link["rel"]: link["href"] for link in client.get(path).json()["links"]}
        for rel in ("conformance", "processes", "job-list"):
            href = links[f"http://www.opengis.net/def/rel/ogc/1.0/{rel}"]
            assert href.endswith(f"{OGC}/{rel.replace('job-list', 'jobs')}")


def test_conformance_declares_core_description_json_job_list_and_dismiss(
    registry: FastAPI,
) -> None:
    declared = TestClient(registry).get(f"{OGC}/conformance").json()["conformsTo"]
    assert declared == CONFORMANCE
    assert {c.rsplit("/", 1)[1] for c in declared} == {
        "core", "ogc-process-description", "json", "job-list", "dismiss",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/processes"),
        ("GET", "/processes/lattice"),
        ("POST", "/processes/lattice/execution"),
        ("GET", "/jobs"),
        ("GET", "/jobs/0123"),
        ("DELETE", "/jobs/0123"),
        ("GET", "/jobs/0123/results"),
        ("GET", "/jobs/0123/outputs/result"),
    ],
)
def test_processes_and_jobs_need_credentials(registry: FastAPI, method: str, path: str) -> None:
    answer = TestClient(registry).request(method, OGC + path, json={"inputs": {}})
    assert answer.status_code == 401 and "token" in answer.json()["detail"]
