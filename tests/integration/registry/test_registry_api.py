"""The registry's API on a real hub and database: discovery, CRUD, pagination, runs, metrics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml
from twinhub.twins.publish import publish
from twinhub.twins.runs import InputRef, RunRecord

from tests.support.prov import assert_describes_run, read_prov
from tests.support.twins import manifest

from .conftest import API, Registry

pytestmark = pytest.mark.integration

PROV = {
    "prefix": {"ex": "http://example.org/twinhub/"},
    "entity": {"ex:result": {"prov:label": "population"}},
    "activity": {"ex:run": {}},
    "agent": {"ex:alice": {"prov:type": "prov:Person"}},
    "wasGeneratedBy": {"_:g": {"prov:entity": "ex:result", "prov:activity": "ex:run"}},
    "wasAssociatedWith": {"_:a": {"prov:activity": "ex:run", "prov:agent": "ex:alice"}},
}


def names(page: dict) -> list[str]:
    return [item.get("name") or item.get("slug") for item in page["items"]]


def test_discovered_twins_and_default_profiles_are_listed(registry: Registry) -> None:
    with registry.client("alice") as c:
        twins = c.get("/twins").json()
        profiles = c.get("/profiles").json()
    assert names(twins) == ["growth"]  # the lab and private twins are not alice's to see
    assert twins["items"][0]["source"] == "discovered"
    assert twins["items"][0]["manifest"]["model"] == "twinhub_testtwins.growth:run"
    assert set(names(profiles)) == {"small", "large", "gpu", "hpc-offload", "hpc-slurm"}
    by_slug = {p["slug"]: p["profile"] for p in profiles["items"]}
    assert (by_slug["small"]["cpu"], by_slug["small"]["memory"]) == (1, "2G")
    assert (by_slug["large"]["cpu"], by_slug["large"]["memory"]) == (2, "8G")
    assert (
        by_slug["large"]["dask_gateway"]["worker_memory_gib"]
        > (by_slug["small"]["dask_gateway"]["worker_memory_gib"])
    )
    offload = by_slug["hpc-offload"]
    assert offload["kubernetes_only"] is True
    assert "virtual-node.interlink/type" in offload["node_selector"]
    assert offload["tolerations"][0]["key"].startswith("virtual-node.interlink")
    assert by_slug["hpc-slurm"]["slurm"]["cores"] == 2


def test_openapi_docs_health_and_metrics(registry: Registry) -> None:
    url = registry.gateway.url + "/services/twinhub"
    spec = httpx.get(f"{url}/api/openapi.json").json()
    for path in ("/twins", "/twins/{name}", "/profiles/{slug}", "/runs/{run_id}/provenance"):
        assert f"/services/twinhub/api{path}" in spec["paths"]
    body = spec["paths"]["/services/twinhub/api/twins"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/TwinManifest")
    assert "version" in spec["components"]["schemas"]["TwinManifest"]["properties"]
    assert "memory" in spec["components"]["schemas"]["InfraProfile"]["properties"]
    docs = httpx.get(f"{url}/api/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
    # Swagger UI comes from the gateway itself (no CDN: the machine may have no internet)
    assert "cdn" not in docs.text.lower()
    script = re.search(r'src="([^"]+swagger-ui-bundle\.js)"', docs.text).group(1)
    bundle = httpx.get(registry.gateway.url + script)
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    health = httpx.get(f"{url}/api/health").json()
    assert health["status"] == "ok" and health["twins"] >= 3
    metrics = httpx.get(f"{url}/metrics").text
    assert f'twinhub_twins{{state="active"}} {float(health["twins"])}' in metrics
    assert 'twinhub_registry_requests_total{method="GET",route="/api/health"' in (metrics)
    assert "twinhub_registry_request_duration_seconds_bucket" in metrics


def test_twin_crud_round_trip_with_retire_and_restore(registry: Registry) -> None:
    data = manifest("crud-twin")
    with registry.client("mia") as c:
        created = c.post("/twins", json=data)
        assert created.status_code == 201, created.text
        assert created.json()["manifest"]["title"] == data["title"]
        assert c.get("/twins/crud-twin").json()["version"] == "1.0.0"

        newer = {**data, "version": "1.1.0", "summary": "Second version."}
        updated = c.put("/twins/crud-twin", json=newer)
        assert updated.status_code == 200, updated.text
        assert c.get("/twins/crud-twin").json()["manifest"]["summary"] == "Second version."

        assert c.delete("/twins/crud-twin").json()["retired"] is True
        assert "crud-twin" not in names(c.get("/twins").json())
        assert "crud-twin" in names(c.get("/twins", params={"retired": True}).json())
        assert c.get("/twins/crud-twin").json()["retired"] is True
        assert c.delete("/twins/crud-twin").status_code == 409  # already retired

        assert c.post("/twins/crud-twin/restore").json()["retired"] is False
        assert "crud-twin" in names(c.get("/twins").json())
        history = c.get("/twins/crud-twin/history").json()
    assert [h["action"] for h in history] == ["create", "update", "retire", "restore"]
    assert [h["version"] for h in history[:2]] == ["1.0.0", "1.1.0"]
    assert all(h["actor"] == "mia" for h in history)


def test_list_paginates_and_filters(registry: Registry) -> None:
    with registry.client("mia") as c:
        for i in range(5):
            data = manifest(f"page-{i}", domain="climate", title=f"Climate page {i}")
            assert c.post("/twins", json=data).status_code == 201
        pages = [
            c.get("/twins", params={"domain": "climate", "limit": 2, "offset": o}).json()
            for o in (0, 2, 4)
        ]
        searched = c.get("/twins", params={"q": "climate PAGE 3"}).json()
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert all(p["total"] == 5 for p in pages)
    assert sum((names(p) for p in pages), []) == [f"page-{i}" for i in range(5)]
    assert names(searched) == ["page-3"]
    with registry.client("lena") as c:
        assert names(c.get("/twins", params={"q": "lab-only"}).json()) == ["growth-lab"]
        assert c.get("/twins", params={"limit": 0}).status_code == 422


def test_profile_crud_round_trip(registry: Registry) -> None:
    profile = {"slug": "medium", "display_name": "Medium", "cpu": 1.5, "memory": "4G"}
    with registry.client("admin") as c:
        assert c.post("/profiles", json=profile).status_code == 201
        assert c.post("/profiles", json=profile).status_code == 409
        changed = c.put("/profiles/medium", json={**profile, "memory": "6G"})
        assert changed.json()["profile"]["memory"] == "6G"
        assert c.delete("/profiles/medium").json()["retired"] is True
        assert "medium" not in names(c.get("/profiles").json())
        assert c.post("/profiles/medium/restore").json()["retired"] is False
        history = c.get("/profiles/medium/history").json()
    assert [h["action"] for h in history] == ["create", "update", "retire", "restore"]


def test_run_records_parameters_status_and_provenance(registry: Registry) -> None:
    with registry.client("alice") as c:
        # a run computed elsewhere (a notebook) is reported: status "running", not "queued"
        # (a queued one is a job the platform executes)
        r = c.post("/twins/growth/runs", json={"parameters": {"rate": 0.2}, "status": "running"})
        assert r.status_code == 201, r.text
        run = r.json()
        assert run["parameters"] == {"rate": 0.2, "days": 10}  # default filled in
        assert (run["user"], run["status"], run["twin_version"]) == ("alice", "running", "1.0.0")
        assert c.get(f"/runs/{run['id']}/provenance").status_code == 404
        assert c.patch(f"/runs/{run['id']}", json={"status": "succeeded"}).status_code == 200
        assert c.put(f"/runs/{run['id']}/provenance", json={"not": "prov"}).status_code == 422
        entity_only = {"prefix": PROV["prefix"], "entity": PROV["entity"]}  # no run in it
        refused = c.put(f"/runs/{run['id']}/provenance", json=entity_only)
        assert refused.status_code == 422 and "no activity" in refused.text
        assert c.put(f"/runs/{run['id']}/provenance", json=PROV).json()["has_provenance"]
        assert c.get(f"/runs/{run['id']}/provenance").json() == PROV
        bad = c.post("/twins/growth/runs", json={"parameters": {"rate": -1, "speed": 3}})
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["detail"]}
    assert "parameters.rate" in fields and "parameters" in fields  # speed: not allowed
    with registry.client("mia") as c:  # custom:twinhub:runs:read
        assert c.get(f"/runs/{run['id']}").json()["status"] == "succeeded"
    with registry.client("lena") as c:
        assert c.get(f"/runs/{run['id']}").status_code == 404
        assert c.get(f"/runs/{run['id']}/provenance").status_code == 404
        assert c.patch(f"/runs/{run['id']}", json={"status": "failed"}).status_code == 404


def test_published_run_provenance_is_prov_json_that_prov_reads(registry: Registry) -> None:
    """What ``publish`` sends and ``GET /runs/{id}/provenance`` answers is W3C PROV-JSON."""
    started = datetime.now(UTC)
    record = RunRecord(
        twin="growth", twin_version="1.0.0", entry_point="twinhub_testtwins.growth:run",
        parameters={"rate": 0.2, "days": 10},
        inputs=[InputRef("growth_daily", "1.0.0", "ab" * 32)], agent="alice",
        code_version="git:0123abc", started=started, ended=started + timedelta(seconds=3),
        outputs={"n": "cd" * 32, "dataset": "ef" * 32},
    )  # fmt: skip
    where = publish(record, api_url=registry.gateway.url + API, token=registry.users["alice"].token)
    assert where.url and where.path is None
    answer = httpx.get(f"{where.url}/provenance", headers=registry.users["alice"].headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert_describes_run(read_prov(answer.text), record)


def _cli(registry: Registry, who: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TWINHUB_URL": registry.gateway.url,
        "JUPYTERHUB_API_TOKEN": registry.users[who].token,
    }
    cmd = [sys.executable, "-m", "twinhub.extensions.registry.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def test_cli_lists_and_registers_against_the_hub(registry: Registry, tmp_path) -> None:
    listed = _cli(registry, "alice", "twins", "list")
    assert listed.returncode == 0 and "growth " in listed.stdout
    assert "growth-private" not in listed.stdout
    profiles = _cli(registry, "alice", "profiles", "list")
    assert "small" in profiles.stdout and "(default)" in profiles.stdout
    path = tmp_path / "twin.yaml"
    path.write_text(yaml.safe_dump(manifest("cli-twin")))
    refused = _cli(registry, "alice", "twins", "register", str(path))
    assert refused.returncode == 1 and "custom:twinhub:twins:write" in refused.stderr
    done = _cli(registry, "mia", "twins", "register", str(path))
    assert done.returncode == 0, done.stderr
    with registry.client("alice") as c:
        assert c.get("/twins/cli-twin").json()["updated_by"] == "mia"
