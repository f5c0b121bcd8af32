"""Launching twins: named servers with the profile's limits and the twin's environment, and
their Dask clusters stopped with them (post_stop_hook)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.gateway import Gateway, Session, cluster_names, submit_cluster
from tests.support.kernel import RemoteKernel
from tests.support.waiting import wait_for

from .conftest import Registry

pytestmark = pytest.mark.integration

GIB = 2**30


def spawn(gateway: Gateway, user: Session, server: str, options: dict) -> dict:
    path = (
        f"/hub/api/users/{user.name}/servers/{server}"
        if server
        else (f"/hub/api/users/{user.name}/server")
    )
    with gateway.client(headers=user.headers) as c:
        r = c.post(path, json=options)
        already = r.status_code == 400 and "already running" in r.text
        assert already or r.status_code in (201, 202), r.text
        return wait_for(
            lambda: c.get(f"/hub/api/users/{user.name}").json()["servers"].get(server),
            until=lambda info: info and info["ready"],
            timeout=120,
            message=f"{user.name}/{server} ready",
        )


def wait_for_clusters(gateway: Gateway, user: Session, expected: set[str]) -> set[str]:
    return wait_for(
        lambda: cluster_names(gateway, user),
        until=lambda names: names == expected,
        timeout=60,
        interval=1,
        message=f"{user.name}'s clusters to be {expected}",
    )


TAGGED_CLUSTER = """
import json
from dask_gateway import GatewayCluster
# shutdown_on_close=False: only the hub's post_stop_hook may stop it, not the dying kernel
cluster = GatewayCluster(shutdown_on_close=False)
print(json.dumps({"name": cluster.name}))
"""

ENV_AND_RUN = """
import json, os, dask, httpx
run = httpx.post(
    os.environ["TWINHUB_API_URL"] + "/twins/growth/runs",
    json={"parameters": {"rate": 0.1}},
    headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]},
)
print(json.dumps({
    "env": {k: v for k, v in os.environ.items() if k.startswith(("TWINHUB_", "MEM_", "CPU_"))},
    "options": dask.config.get("gateway.cluster.options"),
    "run": [run.status_code, run.json()],
}))
"""


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_twin_server_gets_profile_limits_and_twin_environment(registry: Registry) -> None:
    gateway, alice = registry.gateway, registry.users["alice"]
    info = spawn(gateway, alice, "growth", {"profile": "large"})
    assert info["url"] == f"/user/{alice.name}/growth/"
    with RemoteKernel(gateway.url, info["url"], alice.token) as kernel:
        out = last_json(kernel.execute(ENV_AND_RUN).stdout)
    env = out["env"]
    assert env["TWINHUB_TWIN"] == "growth"
    assert env["TWINHUB_PROFILE"] == "large"
    assert int(env["MEM_LIMIT"]) == 8 * GIB  # the large profile: 8G
    assert float(env["CPU_LIMIT"]) == 2.0
    assert env["TWINHUB_API_URL"].endswith("/services/twinhub/api")
    # the twin asks for 1-core, 0.5 GiB workers: less than the profile allows, so it gets that
    assert out["options"]["worker_cores"] == 1
    assert out["options"]["worker_memory"] == 0.5
    assert out["options"]["environment"] == {"TWINHUB_SERVER": "alice/growth"}
    # the server's own token records a run in the registry
    status, run = out["run"]
    assert status == 201 and run["user"] == "alice" and run["parameters"]["rate"] == 0.1
    metrics = httpx.get(f"{gateway.url}/services/twinhub/metrics").text
    assert 'twinhub_launches_total{profile="large",twin="growth"} 1.0' in metrics


def test_stopping_a_twin_server_stops_its_clusters(registry: Registry) -> None:
    gateway, alice = registry.gateway, registry.users["alice"]
    info = spawn(gateway, alice, "growth", {})  # still running from the test above, or now
    kernel = RemoteKernel(gateway.url, info["url"], alice.token)
    tagged = last_json(kernel.execute(TAGGED_CLUSTER).stdout)["name"]
    kernel.detach()
    untagged = submit_cluster(gateway, alice)  # started outside any server: nobody's tag
    assert {tagged, untagged} <= cluster_names(gateway, alice)
    gateway.stop_server(alice, "growth")
    # alice has no other server: her tagged and untagged clusters all go
    assert wait_for_clusters(gateway, alice, set()) == set()


def test_untagged_clusters_survive_while_another_server_runs(registry: Registry) -> None:
    gateway, lena = registry.gateway, registry.users["lena"]
    spawn(gateway, lena, "", {})
    info = spawn(gateway, lena, "growth-lab", {"profile": "small"})
    kernel = RemoteKernel(gateway.url, info["url"], lena.token)
    tagged = last_json(kernel.execute(TAGGED_CLUSTER).stdout)["name"]
    kernel.detach()
    untagged = submit_cluster(gateway, lena)
    gateway.stop_server(lena, "growth-lab")
    assert wait_for_clusters(gateway, lena, {untagged}) == {untagged}
    assert tagged not in cluster_names(gateway, lena)
    gateway.stop_server(lena, "")
    assert wait_for_clusters(gateway, lena, set()) == set()
