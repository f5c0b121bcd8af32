"""The physics twins on the real Dask Gateway: same numbers as in-process.

A user's notebook kernel runs each twin once in-process and once on a 2-worker
GatewayCluster; the two Datasets must be identical (replica and chunk seeds do not depend on
where a task runs). The test process runs the twins too, as a third, independent place.
"""

from __future__ import annotations

import json

import pytest
from twinhub.twins.gwnoise.model import run as run_gwnoise
from twinhub.twins.lattice.model import run as run_lattice

from tests.support.gateway import Gateway
from tests.support.kernel import RemoteKernel

pytestmark = pytest.mark.integration

LATTICE = {"sizes": [8], "temperatures": [2.0, 2.5], "sweeps": 300, "replicas": 3}
GWNOISE = {"duration": 32, "chunk_seconds": 8, "glitch_rate": 0.3}

CODE = f"""
import json
from dask_gateway import GatewayCluster
from twinhub.twins.gwnoise.model import run as run_gwnoise
from twinhub.twins.lattice.model import run as run_lattice

def both():
    return {{
        "lattice": run_lattice(None, {LATTICE!r}),
        "gwnoise": run_gwnoise(None, {GWNOISE!r}).compute(),
    }}

local = both()
cluster = GatewayCluster()
cluster.scale(2)
client = cluster.get_client()
client.wait_for_workers(2, timeout=180)
remote = both()
workers = len(client.scheduler_info()["workers"])
cluster.shutdown()
print(json.dumps({{
    "workers": workers,
    "identical": {{name: bool(local[name].identical(remote[name])) for name in local}},
    "binder": remote["lattice"].binder.values.ravel().tolist(),
    "gain": float(remote["gwnoise"].subtraction_gain),
    "triggers": remote["gwnoise"].trigger_time.values.tolist(),
}}))
"""


def test_twins_give_identical_results_on_the_gateway_cluster(gateway: Gateway) -> None:
    user = gateway.login("physicist")
    gateway.start_server(user)
    kernel = RemoteKernel(gateway.url, f"/user/{user.name}", user.token)
    try:
        result = json.loads(kernel.execute(CODE, timeout=600).stdout.strip().splitlines()[-1])
    finally:
        kernel.close()
        gateway.stop_server(user)
    assert result["workers"] == 2
    assert result["identical"] == {"lattice": True, "gwnoise": True}
    here_lattice = run_lattice(None, LATTICE)
    here_gwnoise = run_gwnoise(None, GWNOISE)
    assert result["binder"] == here_lattice.binder.values.ravel().tolist()
    assert result["gain"] == float(here_gwnoise.subtraction_gain)
    assert result["triggers"] == here_gwnoise.trigger_time.values.tolist()
