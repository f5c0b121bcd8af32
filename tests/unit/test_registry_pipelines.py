"""Pipelines in the registry (issue 18 section 4): discovered from ``twins/*/pipeline.yaml``
like twins, registered with POST, read with GET under the twins' visibility rules; hostile
specs answer 422 naming the field. In-process: the real store on SQLite, the real routes."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import httpx
import prov
import pytest
import xarray as xr
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from twinhub.extensions.dashboards.registry import TwinDirectory, TwinLookup
from twinhub.extensions.executor import runner
from twinhub.extensions.registry.api import build_router
from twinhub.extensions.registry.auth import SCOPE_TWINS_WRITE, User
from twinhub.extensions.registry.config import RegistryConfig
from twinhub.extensions.registry.db import Job, open_database
from twinhub.extensions.registry.discovery import discover_all
from twinhub.extensions.registry.errors import RegistryError
from twinhub.extensions.registry.pages import TEMPLATES
from twinhub.extensions.registry.processes import build_processes
from twinhub.extensions.registry.store import Store
from twinhub.twins.manifest import resolve_entry_point, safe_yaml
from twinhub.twins.pipeline import is_pipeline_document, run_pipeline

REPO = Path(__file__).resolve().parents[2]
SHIPPED = safe_yaml((REPO / "twins" / "extremes_flood" / "pipeline.yaml").read_text())
AUTHOR = User("ann", frozenset(), frozenset({SCOPE_TWINS_WRITE}), "user", "t")
READER = User("bob", frozenset({"hydro"}), frozenset(), "user", "t")
OTHER = User("eve", frozenset(), frozenset(), "user", "t")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    state = tmp_path_factory.mktemp("registry")
    config = RegistryConfig.from_env({"TWINHUB_STATE_DIR": str(state)})
    store = Store(open_database(config.database_url))
    discover_all(store, config.profiles_file, config.twins_dir)
    return store


def client_as(store: Store, user: User) -> TestClient:
    app = FastAPI()
    app.add_exception_handler(
        RegistryError, lambda request, e: JSONResponse(e.body(), status_code=e.status)
    )
    app.include_router(build_router(store, lambda: user))
    return TestClient(app)


def variant(**changes) -> dict:
    document = copy.deepcopy(SHIPPED)
    document.pop("app")  # an app must live in the pipeline's own package
    document.update(changes)
    return document


def test_shipped_pipeline_is_discovered_and_listed(store: Store) -> None:
    listed = client_as(store, OTHER).get("/api/pipelines").json()
    assert [p["name"] for p in listed["items"]] == ["extremes_flood"]
    record = client_as(store, OTHER).get("/api/pipelines/extremes_flood").json()
    assert record["source"] == "discovered" and record["version"] == SHIPPED["version"]
    assert [s["twin"] for s in record["pipeline"]["steps"]] == ["extremes", "flood"]
    assert record["pipeline"]["steps"][1]["inputs"]["storm_mm"] == {
        "from": "extremes.return_level_100y"
    }


def test_post_registers_and_group_visibility_hides_it(store: Store) -> None:
    document = variant(name="storm_hydro", visibility={"groups": ["hydro"]})
    answer = client_as(store, AUTHOR).post("/api/pipelines", json=document)
    assert answer.status_code == 201, answer.text
    assert answer.json()["source"] == "api"
    assert client_as(store, READER).get("/api/pipelines/storm_hydro").status_code == 200
    hidden = client_as(store, OTHER).get("/api/pipelines/storm_hydro")
    assert hidden.status_code == 404
    names = [p["name"] for p in client_as(store, OTHER).get("/api/pipelines").json()["items"]]
    assert "storm_hydro" not in names
    again = client_as(store, AUTHOR).post("/api/pipelines", json=document)
    assert again.status_code == 409


def test_post_needs_the_twins_write_scope(store: Store) -> None:
    answer = client_as(store, OTHER).post("/api/pipelines", json=variant(name="nope"))
    assert answer.status_code == 403


def test_a_pipeline_cannot_take_a_twins_name(store: Store) -> None:
    answer = client_as(store, AUTHOR).post("/api/pipelines", json=variant(name="flood"))
    assert answer.status_code == 409 and "twin" in answer.json()["detail"]


def _cycle() -> dict:
    document = variant(name="cyclic")
    document["steps"][0]["inputs"]["bootstrap"] = {"from": "flood.p_exceed_2y"}
    return document


def _unknown_step() -> dict:
    document = variant(name="unknown_step")
    document["steps"][1]["inputs"]["storm_mm"] = {"from": "nowhere.return_level_100y"}
    return document


def _unknown_twin() -> dict:
    document = variant(name="unknown_twin")
    document["steps"][1]["twin"] = "no_such_twin"
    return document


def _deep() -> dict:
    document = variant(name="deep")
    value: object = 1
    for _ in range(200):
        value = [value]
    document["steps"][0]["inputs"]["return_periods"] = value
    return document


def _huge() -> dict:
    document = variant(name="huge")
    document["steps"] = [copy.deepcopy(SHIPPED["steps"][0]) | {"id": f"s{i}"} for i in range(500)]
    return document


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (_cycle, "steps"),
        (_unknown_step, "steps.1.inputs.storm_mm"),
        (_unknown_twin, "steps.1.twin"),
        (_deep, "(body)"),  # the registry refuses the nesting before any model sees it
        (_huge, "steps"),
        (lambda: variant(name="Bad Name!"), "name"),
        (lambda: [1, 2], "(pipeline)"),
    ],
    ids=["cycle", "unknown-step", "unknown-twin", "deep", "huge", "name", "not-a-mapping"],
)
def test_hostile_specs_answer_422_naming_the_field(store: Store, make, field: str) -> None:
    answer = client_as(store, AUTHOR).post("/api/pipelines", json=make())
    assert answer.status_code == 422, answer.text
    fields = [e["field"] for e in answer.json()["detail"]]
    assert any(f.startswith(field) for f in fields), fields
    listed = client_as(store, AUTHOR).get("/api/pipelines").json()["items"]
    assert not {"cyclic", "unknown_step", "unknown_twin", "deep", "huge"} & {
        p["name"] for p in listed
    }  # nothing half-written


def test_dashboard_service_resolves_a_pipeline_like_a_twin(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/services/twinhub-apps/<name> asks the registry; a pipeline's name finds its document
    (with its ``app``), a pipeline hidden from the user looks missing."""
    monkeypatch.setenv("TWINHUB_API_URL", "http://registry/api")

    async def look(user: User, name: str) -> TwinLookup:
        directory = TwinDirectory()
        app = client_as(store, user).app
        directory._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        async with directory._client:
            return await directory.lookup(name, "token")

    shipped = asyncio.run(look(OTHER, "extremes_flood")).manifest
    assert shipped is not None and shipped["app"] == SHIPPED["app"]
    assert callable(resolve_entry_point(shipped["app"]))  # what the service builds the page with
    client_as(store, AUTHOR).post(
        "/api/pipelines", json=variant(name="storm_private", visibility="private")
    )
    hidden = asyncio.run(look(OTHER, "storm_private"))
    assert hidden.manifest is None and "flood" in {m["name"] for m in hidden.available}


def test_twins_page_lists_pipelines_with_their_dashboard(store: Store) -> None:
    pipelines, _ = store.list_pipelines(OTHER)
    html = TEMPLATES.get_template("twins.html").render(
        user=OTHER, twins=[], profiles=[], servers={}, dev_server=None, lab_paths={},
        showcases={}, prefix="/services/twinhub/", base_url="/", xsrf="x", message="",
        pipelines=[p.document for p in pipelines],
    )  # fmt: skip
    assert 'data-pipeline="extremes_flood"' in html
    assert 'href="/services/twinhub-apps/extremes_flood"' in html
    assert "extremes &rarr; flood" in html


# --- a pipeline as an OGC process, run by the executor's runner ---------------------------------
OGC = "/ogcapi"


def ogc_as(store: Store, user: User, tmp_path: Path) -> TestClient:
    app = FastAPI()
    app.add_exception_handler(
        RegistryError, lambda request, e: JSONResponse(e.body(), status_code=e.status)
    )
    app.include_router(build_processes(store, lambda: user, "/", tmp_path, 0.0))
    return TestClient(app)


def test_ogc_process_resolves_to_the_pipeline(store: Store, tmp_path: Path) -> None:
    client = ogc_as(store, OTHER, tmp_path)
    listed = {p["id"] for p in client.get(f"{OGC}/processes").json()["processes"]}
    assert {"extremes", "flood", "extremes_flood"} <= listed
    assert "storm_private" not in listed and "storm_hydro" not in listed  # not OTHER's to see
    described = client.get(f"{OGC}/processes/extremes_flood").json()
    assert set(described["inputs"]) == {"extremes", "flood"}
    answer = client.post(
        f"{OGC}/processes/extremes_flood/execution",
        json={"inputs": {"flood": {"ensemble_size": 5}}},
        headers={"Prefer": "respond-async"},
    )
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["jobID"]
    with store.sessions() as s:
        job = s.get(Job, job_id)
        assert (job.process, job.process_version) == ("extremes_flood", SHIPPED["version"])
        assert job.inputs == {"flood": {"ensemble_size": 5}} and job.owner == OTHER.name


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"flood": {"storm_mm": 5}}, "inputs.flood.storm_mm"),  # bound to extremes' output
        ({"nowhere": {}}, "inputs.nowhere"),
        ({"flood": 3}, "inputs.flood"),
    ],
)
def test_ogc_pipeline_inputs_are_checked(
    store: Store, tmp_path: Path, inputs: dict, field: str
) -> None:
    answer = ogc_as(store, OTHER, tmp_path).post(
        f"{OGC}/processes/extremes_flood/execution",
        json={"inputs": inputs},
        headers={"Prefer": "respond-async"},
    )
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["detail"]]


def test_executor_runner_runs_the_pipeline_as_one_graph(store: Store, tmp_path: Path) -> None:
    """What the executor starts for a pipeline job gives the outputs of run_pipeline, bit for
    bit, and its one PROV document."""
    document = store.get_pipeline(OTHER, "extremes_flood").document
    inputs = {"flood": {"ensemble_size": 5}}
    job = {"id": "j", "owner": OTHER.name, "process": "extremes_flood"}
    (tmp_path / "job.json").write_text(
        json.dumps({**job, "manifest": document, "inputs": inputs, "workers": 1})
    )
    assert runner.run(tmp_path) == 0, (tmp_path / "result.json").read_text()
    expected, _ = run_pipeline(document, inputs)
    with xr.open_dataset(tmp_path / runner.RESULT) as result:
        got = {name: result[name].item() for name in result.data_vars}
    assert got == dict(expected) and set(got) == {"rain_100y", "p_exceed_2y", "p_exceed_10y"}
    provenance = prov.read(str(tmp_path / runner.PROVENANCE), format="json")
    assert is_pipeline_document(provenance)
