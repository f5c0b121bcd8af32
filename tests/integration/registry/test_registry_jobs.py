"""Jobs through the registry's routes on a real hub: another user's job does not exist for
you (404 on its status, results and dismissal), and ``GET /api/runs`` lists your jobs."""

from __future__ import annotations

import pytest

from .conftest import Registry

pytestmark = pytest.mark.integration

OGC = "/services/twinhub/ogcapi"


def test_another_users_job_is_not_found_and_runs_list_your_jobs(registry: Registry) -> None:
    with registry.client("alice") as alice:
        base = str(alice.base_url).removesuffix("/services/twinhub/api/")
        submitted = alice.post(
            f"{base}{OGC}/processes/growth/execution",
            json={"inputs": {"rate": 0.3}},
            headers={"Prefer": "respond-async"},
        )
        assert submitted.status_code == 201, submitted.text
        job = submitted.json()["jobID"]
        assert submitted.headers["Location"].endswith(f"{OGC}/jobs/{job}")
        with registry.client("lena") as lena:
            for method, path in (
                ("GET", f"/jobs/{job}"),
                ("GET", f"/jobs/{job}/results"),
                ("GET", f"/jobs/{job}/outputs/result"),
                ("DELETE", f"/jobs/{job}"),
            ):
                answer = lena.request(method, f"{base}{OGC}{path}")
                assert answer.status_code == 404, (method, path, answer.text)
                assert "rate" not in answer.text and "queued" not in answer.text
            assert job not in lena.get(f"{base}{OGC}/jobs").text
            assert lena.get(f"/runs/{job}").status_code == 404
            assert job not in {r["id"] for r in lena.get("/runs").json()["items"]}
        # the owner sees it, as a job and as a run, and nobody else's job is in her list
        assert alice.get(f"{base}{OGC}/jobs/{job}").json()["jobID"] == job
        listed = alice.get("/runs", params={"twin": "growth", "limit": 500}).json()
        mine = {r["id"]: r for r in listed["items"]}
        assert mine[job]["parameters"] == {"rate": 0.3, "days": 10}
        assert {r["user"] for r in listed["items"]} == {"alice"}
        assert listed["total"] >= len(listed["items"])
        dismissed = alice.delete(f"{base}{OGC}/jobs/{job}")
        assert dismissed.status_code in (200, 409), dismissed.text  # 409: it already ended
    assert registry.client("lena").get(f"{base}{OGC}/jobs/{job}").status_code == 404
