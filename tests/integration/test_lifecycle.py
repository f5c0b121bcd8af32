"""Starting and stopping the gateway as `make up` and Ctrl-C do: state kept, nothing left."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.gateway import start_gateway
from tests.support.kernel import RemoteKernel

pytestmark = pytest.mark.integration

START_CLUSTER = """
import json
import re
from dask_gateway import GatewayCluster
cluster = GatewayCluster()
cluster.scale(1)
client = cluster.get_client()
client.wait_for_workers(1, timeout=180)
print(json.dumps({"name": cluster.name}))
"""


# a line of trouble: JupyterHub's "[E ..." and "[C ..." except its "Received signal" at a stop,
# Python's tracebacks, configurable-http-proxy's "error:" (winston, maybe coloured), uvicorn's
# "ERROR:", Dask Gateway's "[E ..."
TROUBLE = re.compile(
    r"^\[[EC] (?!.*Received signal)|Traceback \(most recent call last\)"
    r"|\[ConfigProxy\] (?:\x1b\[\d+m)?error|^ERROR:|\[E [\d-]+ [\d:.,]+ ",
    re.M,
)
SERVICE_CHECK_EVERY_SECOND = ["--JupyterHub.service_check_interval=1"]
"""The hub's services health check every second (JupyterHub's default: every 60 s), so that it
runs while the hub stops its services at shutdown, as it did at one Ctrl-C in two."""


def troubles(log: str) -> list[str]:
    return [line for line in log.splitlines() if TROUBLE.search(line)]


def test_ctrl_c_stops_everything_logs_no_error_and_a_restart_keeps_the_state(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    """``make up``, a user with a server, a kernel and a cluster, Ctrl-C: everything stops and
    nothing in the log looks like a failure; started again, the gateway keeps users and
    passwords, and its log is as clean.

    One gateway serves both the stop's and the clean log's checks (a gateway start and stop is
    a minute of CI on 2 cores); its log holds more than a bare start and login would."""
    state = tmp_path / "state"
    # started as a background job (SIGINT ignored): Ctrl-C must still stop everything cleanly
    first = start_gateway(
        state,
        artifacts_dir / "gateway-lifecycle-1.log",
        ignore_sigint=True,
        hub_args=SERVICE_CHECK_EVERY_SECOND,
    )
    try:
        password = first.user_password
        carol = first.login("carol")
        first.start_server(carol)
        kernel = RemoteKernel(first.url, "/user/carol", carol.token)
        cluster = json.loads(kernel.execute(START_CLUSTER).stdout.strip().splitlines()[-1])
        kernel.detach()
        names = " ".join(p.name() for p in first.descendants())
        # the whole tree is there: proxy, gateway, user server, kernel, scheduler, worker
        assert "node" in names or "configurable-http-proxy" in names
        assert len(first.descendants()) >= 6, names
    finally:
        code = first.stop()
    assert code == 0, first.log()
    survivors = first.survivors()
    assert survivors == [], f"left running: {[(p.pid, p.cmdline()) for p in survivors]}"
    assert "twinhub: stopped." in first.log()
    # the hub itself stopped servers, services, clusters and proxy: nothing had to be swept
    assert "did not stop" not in first.log()
    assert "leftover" not in first.log(), first.log()[-3000:]
    assert "JupyterHub is now running" in first.log()
    assert troubles(first.log()) == [], "\n".join(troubles(first.log())[:20])

    # secrets are 0600 and survive; so do the user and her login
    for secret in (state / "secrets").iterdir():
        assert secret.stat().st_mode & 0o777 == 0o600, secret
    second = start_gateway(
        state, artifacts_dir / "gateway-lifecycle-2.log", hub_args=SERVICE_CHECK_EVERY_SECOND
    )
    try:
        assert second.user_password == password
        carol = second.login("carol", password)
        with second.client(headers=carol.headers) as c:
            model = c.get("/hub/api/users/carol").json()
        assert model["name"] == "carol"
        # the cluster of the first run is gone: nothing of hers survived the restart
        with second.client(headers={"Authorization": f"jupyterhub {carol.token}"}) as c:
            listed = c.get("/services/dask-gateway/api/v1/clusters/").json()
        assert cluster["name"] not in listed
    finally:
        assert second.stop() == 0
    assert second.survivors() == []
    assert troubles(second.log()) == [], "\n".join(troubles(second.log())[:20])
