"""The drought and extremes twins through the real gateway: the twinhub kernel in a user's
server runs both on a Dask Gateway cluster and gets the in-process numbers bit for bit."""

from __future__ import annotations

import json
import sys

import pytest
from twinhub.catalogs import build
from twinhub.kernels.install import KERNEL_NAME, install

from tests.support.gateway import Gateway, Session
from tests.support.kernel import RemoteKernel

pytestmark = pytest.mark.integration

GATEWAY_RUN = """
import json
from twinhub.twins.twin import load_twin
c = cluster()
client = c.get_client()
client.wait_for_workers(1, timeout=180)
report = {"cluster": type(c).__name__}
for name, params in [
    ("drought", {"index": "spei", "event_scale": 6, "precip_scale": 0.9}),
    ("extremes", {"bootstrap": 16, "block": 4}),
]:
    remote, record = load_twin(name).run(params, entry="champion_daily", client=client)
    local, again = load_twin(name).run(params, entry="champion_daily")
    report[name] = {
        "identical": remote.identical(local) and record.outputs == again.outputs,
        "agent": record.agent,
        "entry": record.inputs[0].entry,
    }
print(json.dumps(report))
client.close()
c.close()
"""


@pytest.fixture(scope="module")
def climatologist(gateway: Gateway) -> Session:
    """A user with a running server; the demo data built in the gateway's state folder."""
    build.build_all(gateway.settings.state_dir / "data")
    install(prefix=sys.prefix)
    user = gateway.login("climatologist")
    gateway.start_server(user)
    yield user
    gateway.stop_server(user)


def test_drought_and_extremes_on_a_gateway_cluster_equal_in_process(gateway, climatologist):
    kernel = RemoteKernel(
        gateway.url, f"/user/{climatologist.name}/", climatologist.token, kernel_name=KERNEL_NAME
    )
    with kernel as k:
        k.execute("%twin drought")
        out = k.execute(GATEWAY_RUN, timeout=500)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    expected = {"identical": True, "agent": "climatologist", "entry": "champion_daily"}
    assert result == {"cluster": "GatewayCluster", "drought": expected, "extremes": expected}
