"""Jobs through the registry's routes on a real hub: another user's job does not exist for
you (404 on its status, results and dismissal), and ``GET /api/runs`` lists your jobs."""

from __future__ import annotations

import re

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


def _xsrf(page: str) -> str:
    match = re.search(r'name="twinhub-xsrf" content="([^"]+)"', page)
    assert match, "the page hands its forms an XSRF token"
    return match.group(1)


def test_runs_page_lists_my_runs_and_runs_one_again(registry: Registry) -> None:
    with registry.client("alice") as alice, registry.client("lena") as lena:
        base = str(alice.base_url).removesuffix("/services/twinhub/api/")
        page = f"{base}/services/twinhub/runs"
        queued = alice.post("/twins/growth/runs", json={"parameters": {"rate": 0.4}})
        assert queued.status_code == 201, queued.text
        job = queued.json()["id"]
        mine = alice.get(page)
        assert mine.status_code == 200 and f'data-run="{job}"' in mine.text
        row = mine.text[mine.text.index(f'data-run="{job}"') :].split("</tr>")[0]
        assert '"rate": 0.4' in row and "growth" in row and "Run again" in row
        theirs = lena.get(page)
        assert theirs.status_code == 200 and job not in theirs.text
        # run again: lena cannot (404, nothing submitted), alice needs her page's token
        again = f"{page}/{job}/again"
        refused = lena.post(again, data={"xsrf": _xsrf(theirs.text)})
        assert refused.status_code == 404
        assert alice.post(again, data={"xsrf": "forged"}).status_code == 403
        before = {j["jobID"] for j in alice.get(f"{base}{OGC}/jobs").json()["jobs"]}
        resubmitted = alice.post(again, data={"xsrf": _xsrf(mine.text)}, follow_redirects=False)
        assert resubmitted.status_code == 303, resubmitted.text
        listed = alice.get(f"{base}{OGC}/jobs").json()["jobs"]
        (new,) = [j["jobID"] for j in listed if j["jobID"] not in before]
        assert alice.get(f"/runs/{new}").json()["parameters"] == {"rate": 0.4, "days": 10}
        assert new in resubmitted.headers["Location"] or new in alice.get(page).text
        for finished in (job, new):  # spare the executor (CI time)
            alice.delete(f"{base}{OGC}/jobs/{finished}")
