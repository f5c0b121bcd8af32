"""The flood twin through the real gateway: the twinhub kernel in a user's server, a Dask
Gateway cluster, and the notebook's cells run there as the user would run them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from twinhub.catalogs import build
from twinhub.kernels.install import KERNEL_NAME, install

from tests.support.gateway import Gateway, Session
from tests.support.kernel import RemoteKernel

pytestmark = pytest.mark.integration

NOTEBOOK = Path(__file__).resolve().parents[2] / "twins" / "flood" / "flood.ipynb"

GATEWAY_RUN = """
import json
import sys
c = cluster()
client = c.get_client()
client.wait_for_workers(1, timeout=180)
small = {"ensemble_size": 8, "block": 4, "precip_sigma": 0.3}
remote, record = twin.run(small, client=client)
local, _ = twin.run(small)
print(json.dumps({
    "cluster": type(c).__name__,
    "identical": remote.discharge.values.tobytes() == local.discharge.values.tobytes(),
    "members": remote.sizes["member"],
    "agent": record.agent,
}))
client.close()
c.close()
"""


@pytest.fixture(scope="module")
def hydrologist(gateway: Gateway) -> Session:
    """A user with a running server; the demo data built in the gateway's state folder."""
    build.build_all(gateway.settings.state_dir / "data")
    install(prefix=sys.prefix)  # the kernelspec, as `make install` installs it
    user = gateway.login("hydrologist")
    gateway.start_server(user)
    yield user
    gateway.stop_server(user)


def kernel(gateway: Gateway, user: Session) -> RemoteKernel:
    return RemoteKernel(gateway.url, f"/user/{user.name}/", user.token, kernel_name=KERNEL_NAME)


def test_twin_kernel_runs_the_ensemble_on_a_gateway_cluster(gateway, hydrologist) -> None:
    with kernel(gateway, hydrologist) as k:
        k.execute("%twin flood")
        out = k.execute(GATEWAY_RUN, timeout=400)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "cluster": "GatewayCluster",
        "identical": True,
        "members": 8,
        "agent": "hydrologist",
    }


def test_notebook_runs_top_to_bottom_in_a_users_server(gateway, hydrologist) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    stdout = ""
    with kernel(gateway, hydrologist) as k:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                stdout += k.execute(cell.source, timeout=600).stdout
    assert "replayed bit for bit" in stdout
    # the server knows the registry (TWINHUB_API_URL from the spawn hook): the notebook's run
    # is stored there under the user, with its PROV-JSON
    with gateway.client(headers=hydrologist.headers) as c:
        runs = c.get("/services/twinhub/api/runs", params={"twin": "flood"}).json()["items"]
        assert runs, "the notebook's run is not in the registry"
        assert {run["user"] for run in runs} == {hydrologist.name}
        prov = c.get(f"/services/twinhub/api/runs/{runs[0]['id']}/provenance")
        assert prov.status_code == 200 and "entity" in prov.json()
