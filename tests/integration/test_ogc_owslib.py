"""OGC API - Processes end to end with OWSLib's client on the session's real gateway: list the
processes, execute the lattice twin asynchronously, poll its job, fetch its results.

The reference for the result is the same run made directly with :meth:`Twin.run` (the lattice
twin is a seeded simulation: bit for bit reproducible).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from owslib.ogcapi.processes import Processes
from twinhub.twins.twin import load_twin

from tests.support.gateway import Gateway
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

QUICK = {"temperatures": [2.0], "sizes": [4], "sweeps": 100, "thermalisation": 0, "replicas": 1}


def test_owslib_executes_a_twin_asynchronously_and_fetches_its_results(
    gateway: Gateway, tmp_path: Path
) -> None:
    user = gateway.login("ogc-client")
    api = Processes(f"{gateway.url}/services/twinhub/ogcapi/", headers=dict(user.headers))
    assert "lattice" in {p["id"] for p in api.processes()}
    assert "sweeps" in api.process("lattice")["inputs"]
    status = api.execute("lattice", {name: {"value": v} for name, v in QUICK.items()}, async_=True)
    assert status["status"] in ("accepted", "running", "successful"), status
    job = status["jobID"]
    # OWSLib 0.35 has no job methods: poll /jobs/{id} with its request helper
    done = wait_for(
        lambda: api._request(path=f"jobs/{job}"),
        until=lambda s: s["status"] in ("successful", "failed", "dismissed"),
        timeout=180,
        message=f"job {job} to finish",
    )
    assert done["status"] == "successful", done["message"]
    results = api._request(path=f"jobs/{job}/results")
    assert set(results) == {"result", "provenance"}
    with gateway.client(headers=user.headers) as c:
        netcdf = c.get(results["result"]["href"])
        assert netcdf.status_code == 200, netcdf.text
        prov = c.get(results["provenance"]["href"])
        assert prov.status_code == 200 and "activity" in prov.json()
    (tmp_path / "result.nc").write_bytes(netcdf.content)
    with xr.open_dataset(tmp_path / "result.nc") as ds:
        output = ds.load()
    direct, _ = load_twin("lattice").run(QUICK)
    xr.testing.assert_equal(output, direct)
