"""Two users on the real gateway: login, servers, Dask Gateway clusters, and isolation."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.support.gateway import (
    Gateway,
    Session,
    cluster_names,
    dask_gateway_api,
    gateway_client,
    submit_cluster,
)
from tests.support.kernel import RemoteKernel

pytestmark = pytest.mark.integration

N = 2_000_000
# a computation with a known answer: sum of 0..N-1 and the mean of sin^2 + cos^2 (exactly 1)
CLUSTER_CODE = f"""
import json, time
import dask.array as da
import numpy as np
import xarray as xr
from dask_gateway import GatewayCluster

cluster = GatewayCluster()          # everything from DASK_GATEWAY__* in the server's env
cluster.scale(2)
client = cluster.get_client()
client.wait_for_workers(2, timeout=180)
x = xr.DataArray(da.arange({N}, chunks={N} // 8, dtype="int64"), dims="x", name="x")
angle = xr.DataArray(da.random.random(({N} // 4,), chunks={N} // 16), dims="x")
one = (np.sin(angle) ** 2 + np.cos(angle) ** 2).mean()
print(json.dumps({{
    "name": cluster.name,
    "sum": int(x.sum().compute()),
    "one": float(one.compute()),
    "workers": len(client.scheduler_info()["workers"]),
    "dashboard": cluster.dashboard_link,
}}))
"""


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def alice(gateway: Gateway) -> Session:
    user = gateway.login("alice")
    gateway.start_server(user)
    return user


@pytest.fixture(scope="module")
def bob(gateway: Gateway) -> Session:
    user = gateway.login("bob")
    gateway.start_server(user)
    return user


@pytest.fixture(scope="module")
def alice_cluster(gateway: Gateway, alice: Session) -> dict:
    """Alice computes on a 2-worker GatewayCluster from a kernel in her server; it stays up."""
    kernel = RemoteKernel(gateway.url, f"/user/{alice.name}", alice.token)
    result = _last_json(kernel.execute(CLUSTER_CODE).stdout)
    kernel.detach()  # the kernel, and so the cluster, stays up for the isolation tests
    return result


def test_wrong_password_is_refused_with_a_message(gateway: Gateway) -> None:
    response = gateway.login_response("mallory", "not-the-password")
    assert response.status_code == 403
    assert "Invalid username or password" in response.text
    with gateway.client(cookies=response.extensions["cookies"]) as c:
        assert c.get("/hub/api/user").status_code == 403


def test_admin_needs_the_admin_password(gateway: Gateway) -> None:
    assert gateway.login_response("admin", gateway.user_password).status_code == 403
    assert gateway.login_response("admin", gateway.admin_password).status_code == 302


def test_each_user_gets_a_running_jupyterlab_server(gateway: Gateway, alice, bob) -> None:
    for user in (alice, bob):
        with gateway.client(headers=user.headers) as c:
            model = c.get(f"/hub/api/users/{user.name}").json()
            assert model["servers"][""]["ready"] is True
            lab = c.get(f"/user/{user.name}/lab", follow_redirects=True)
            assert lab.status_code == 200
            assert "JupyterLab" in lab.text


def test_server_environment_points_at_the_gateway(gateway: Gateway, alice: Session) -> None:
    with RemoteKernel(gateway.url, f"/user/{alice.name}", alice.token) as kernel:
        out = kernel.execute(
            "import os, json; print(json.dumps({k: v for k, v in os.environ.items() "
            "if k.startswith(('DASK_GATEWAY__', 'JUPYTERHUB_USER'))}))"
        )
    env = _last_json(out.stdout)
    assert env["JUPYTERHUB_USER"] == "alice"
    assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    assert env["DASK_GATEWAY__PUBLIC_ADDRESS"] == f"{gateway.url}/services/dask-gateway"
    assert env["DASK_GATEWAY__PROXY_ADDRESS"].startswith("gateway://127.0.0.1:")


def test_gateway_cluster_computes_a_known_result(alice_cluster: dict) -> None:
    assert alice_cluster["workers"] == 2
    assert alice_cluster["sum"] == N * (N - 1) // 2
    assert alice_cluster["one"] == pytest.approx(1.0, abs=1e-12)


def test_second_user_computes_on_a_cluster_of_their_own(
    gateway: Gateway, bob: Session, alice_cluster: dict
) -> None:
    with RemoteKernel(gateway.url, f"/user/{bob.name}", bob.token) as kernel:
        result = _last_json(kernel.execute(CLUSTER_CODE + "\ncluster.shutdown()").stdout)
    assert result["sum"] == N * (N - 1) // 2
    assert result["name"] != alice_cluster["name"]


def test_dask_dashboard_answers_through_the_hub_proxy(gateway: Gateway, alice_cluster) -> None:
    link = alice_cluster["dashboard"]
    assert link.startswith(f"{gateway.url}/services/dask-gateway/clusters/")
    response = httpx.get(link, timeout=30, follow_redirects=True)
    assert response.status_code == 200
    assert "Dask" in response.text


def test_other_user_cannot_see_or_stop_a_cluster(
    gateway: Gateway, alice: Session, bob: Session, alice_cluster: dict
) -> None:
    name = alice_cluster["name"]
    assert name not in cluster_names(gateway, bob)
    with dask_gateway_api(gateway, bob) as bobs:
        assert bobs.get(f"/clusters/{name}").status_code in (403, 404)
        assert bobs.delete(f"/clusters/{name}").status_code in (403, 404)
        assert bobs.post(f"/clusters/{name}/scale", json={"count": 4}).status_code in (403, 404)
    assert name in cluster_names(gateway, alice)
    with dask_gateway_api(gateway, alice) as alices:
        assert alices.get(f"/clusters/{name}").json()["status"] == "RUNNING"


def test_other_user_cannot_reach_a_server(gateway: Gateway, alice, bob: Session) -> None:
    with gateway.client(headers=bob.headers) as c:
        assert c.get(f"/user/{alice.name}/api/status").status_code == 403
        assert c.post(f"/user/{alice.name}/api/kernels", json={}).status_code == 403
        assert c.delete(f"/hub/api/users/{alice.name}/server").status_code in (403, 404)
    # bob's browser session is refused too (his login cookie, not his token)
    with gateway.client(cookies=bob.cookies) as c:
        r = c.get(f"/user/{alice.name}/lab", follow_redirects=True)
        assert r.status_code in (403, 404)


def test_cluster_beyond_the_limits_is_refused_and_nothing_starts(
    gateway: Gateway, bob: Session
) -> None:
    limit = gateway.settings.dask_max_worker_cores
    before = cluster_names(gateway, bob)
    refused = {
        "worker_cores": (limit + 30, rf"worker_cores must be <= {limit}"),
        "worker_memory": (1024, "worker_memory must be <="),
        "gpus": (8, "Unknown fields"),
    }
    with dask_gateway_api(gateway, bob) as api:
        for option, (value, message) in refused.items():
            r = api.post("/clusters/", json={"cluster_options": {option: value}})
            assert r.status_code == 422, (option, r.status_code, r.text)
            assert re.search(message, r.reason_phrase + r.text), (option, r.reason_phrase, r.text)
    assert cluster_names(gateway, bob) == before


def test_a_cluster_of_the_largest_workers_gets_the_most_workers(gateway: Gateway) -> None:
    """Workers of the most cores (the ``large`` profile's 2) reach TWINHUB_DASK_MAX_WORKERS:
    the scheduler's core does not take a worker's place in the cluster's core limit."""
    user = gateway.login("largest")
    most, cores = gateway.settings.dask_max_workers, gateway.settings.dask_max_worker_cores
    name = submit_cluster(gateway, user, worker_cores=cores, worker_memory=0.5)
    gw = gateway_client(gateway, user)
    try:
        with dask_gateway_api(gateway, user) as api:
            api.get(f"/clusters/{name}", params={"wait": ""}, timeout=120).raise_for_status()
            scaled = api.post(f"/clusters/{name}/scale", json={"count": most}).json()
        cluster = gw.connect(name)
        with cluster.get_client(set_as_default=False) as client:
            client.wait_for_workers(most, timeout=300)
            threads = [w["nthreads"] for w in client.scheduler_info()["workers"].values()]
        cluster.shutdown()
    finally:
        gw.close()
    assert scaled == {"ok": True, "msg": None}
    assert threads == [cores] * most


def test_a_token_without_the_gateway_scope_is_refused(gateway: Gateway, bob: Session) -> None:
    with gateway.client(headers=bob.headers) as c:
        r = c.post(
            f"/hub/api/users/{bob.name}/tokens",
            json={"note": "no gateway", "expires_in": 600, "scopes": ["read:users!user"]},
        )
        r.raise_for_status()
        narrow = r.json()["token"]
    url = f"{gateway.url}/services/dask-gateway/api/v1/clusters/"
    r = httpx.get(url, headers={"Authorization": f"jupyterhub {narrow}"})
    assert r.status_code in (401, 403)
