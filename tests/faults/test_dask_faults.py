"""Dask faults during twin runs, on real dask-gateway clusters of the real gateway.

- A worker killed (SIGKILL) mid-run: Dask recomputes its tasks on the other worker, the result
  is bit for bit the one of an undisturbed in-process run, and the run's provenance names the
  lost worker and the tasks that ran again.
- The scheduler killed mid-run, in a user's notebook kernel and in the flood dashboard: the run
  fails with a ``SchedulerLost`` error that says what to do (the dashboard shows one line, no
  traceback), and the failed run is in the registry as ``failed`` with its error and partial
  provenance (parameters, no outputs).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading

import httpx
import panel as pn
import psutil
import pytest
from twinhub.hub.services import registry_api_url
from twinhub.twins.provenance import read_prov_json
from twinhub.twins.runs import RunRecord
from twinhub.twins.twin import load_twin

from tests.faults.processes import dask_processes, listening_on, wait_until_busy
from tests.support.gateway import Gateway, Session, gateway_client
from tests.support.kernel import KernelError, RemoteKernel
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

# 12 seeded Monte Carlo tasks (plus the JIT compile on fresh workers): seconds on 2 workers
LATTICE = {"sizes": [32], "temperatures": [2.0, 2.269, 2.5], "sweeps": 5000, "replicas": 4}


def _in_thread(target, box: dict) -> threading.Thread:
    def run() -> None:
        try:
            box["result"] = target()
        except BaseException as e:  # handed to the test's thread
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _busy_workers(client, timeout: float = 120) -> dict[str, list[str]]:
    """Workers with tasks in progress, as the scheduler sees them (waits for the first)."""
    return wait_for(
        lambda: {w: [str(k) for k in keys] for w, keys in client.processing().items() if keys},
        timeout=timeout,
        interval=0.1,
        message="a task started on the cluster",
    )


def _failed_runs(gateway: Gateway, user: Session, twin: str) -> list[dict]:
    with gateway.client(headers=user.headers) as c:
        r = c.get("/services/twinhub/api/runs", params={"twin": twin})
        r.raise_for_status()
        return [run for run in r.json()["items"] if run["status"] == "failed"]


def _provenance(gateway: Gateway, user: Session, run_id: str) -> RunRecord:
    with gateway.client(headers=user.headers) as c:
        r = c.get(f"/services/twinhub/api/runs/{run_id}/provenance")
        r.raise_for_status()
        return RunRecord.from_provenance(r.json())


def _cluster_processes(gateway: Gateway, cluster: str) -> list[psutil.Process]:
    """The cluster's worker processes with their children (a nanny's worker is its child)."""
    workers = dask_processes(gateway, cluster, "worker")
    return workers + [c for w in workers for c in w.children(recursive=True)]


def test_run_survives_a_killed_worker_and_provenance_records_it(gateway: Gateway) -> None:
    twin = load_twin("lattice")
    undisturbed, reference = twin.run(LATTICE)  # in-process, before any Dask client exists
    user = gateway.login("worker-fault")
    with gateway_client(gateway, user) as gw:
        cluster = gw.new_cluster()
        try:
            cluster.scale(2)
            client = cluster.get_client()
            client.wait_for_workers(2, timeout=180)
            box: dict = {}
            thread = _in_thread(lambda: twin.run(LATTICE, client=client), box)
            busy = _busy_workers(client)
            victim = sorted(busy)[0]
            process = listening_on(gateway, int(victim.rsplit(":", 1)[1]))
            process.kill()  # SIGKILL: no goodbye to the scheduler
            process.wait(30)
            thread.join(600)
            assert "error" not in box, f"the run failed: {box.get('error')!r}"
            out, record = box["result"]
            client.close()
        finally:
            cluster.shutdown()
    assert out.identical(undisturbed)  # bit for bit, values and metadata
    assert record.outputs == reference.outputs
    losses = [loss for loss in record.incidents if loss.worker == victim]
    assert len(losses) == 1, record.incidents
    assert not losses[0].expected  # a crash, not a scale-down
    assert set(busy[victim]) & set(losses[0].tasks_retried)  # what it was running ran again
    # the PROV-JSON says it too, and reads back into the same record
    document = record.provenance()
    incidents = [
        attrs
        for attrs in document["entity"].values()
        if attrs.get("prov:type") == "twinhub:WorkerLost"
    ]
    assert [i["twinhub:worker"] for i in incidents].count(victim) == 1
    assert read_prov_json(document) is not None
    assert RunRecord.from_provenance(json.dumps(document)).incidents == record.incidents


KERNEL_CLUSTER = """
import json
from dask_gateway import GatewayCluster
from twinhub.twins.twin import load_twin

cluster = GatewayCluster()
cluster.scale(2)
client = cluster.get_client()
client.wait_for_workers(2, timeout=180)
print(json.dumps({"cluster": cluster.name}))
"""
KERNEL_RUN = f"out, record = load_twin('lattice').run({LATTICE!r}, client=client)"


def test_lost_scheduler_fails_the_notebook_run_clearly_and_records_it(gateway: Gateway) -> None:
    user = gateway.login("scheduler-fault")
    gateway.start_server(user)
    kernel = RemoteKernel(gateway.url, f"/user/{user.name}", user.token)
    try:
        setup = kernel.execute(KERNEL_CLUSTER, timeout=300)
        name = json.loads(setup.stdout.strip().splitlines()[-1])["cluster"]
        box: dict = {}
        thread = _in_thread(lambda: kernel.execute(KERNEL_RUN, timeout=300), box)
        wait_until_busy(_cluster_processes(gateway, name))
        (scheduler,) = dask_processes(gateway, name, "scheduler")
        scheduler.kill()
        thread.join(300)
    finally:
        kernel.close()
        gateway.stop_server(user)
    error = box.get("error")
    assert isinstance(error, KernelError), f"the run did not fail: {box}"
    shown = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the traceback as a notebook shows it
    last = shown.split("\n--- stdout ---")[0].rstrip().splitlines()[-1]
    assert last.startswith("SchedulerLost: the Dask scheduler"), last  # what the user reads
    assert "was lost during the run of twin 'lattice'" in last
    assert "Start a new cluster" in last
    recorded = re.search(r"recorded at (\S+/runs/([0-9a-f]{32}))\.", last)
    assert recorded, shown[-2000:]
    runs = _failed_runs(gateway, user, "lattice")
    assert [r["id"] for r in runs] == [recorded.group(2)]
    assert runs[0]["user"] == user.name and runs[0]["error"].startswith("SchedulerLost: ")
    partial = _provenance(gateway, user, runs[0]["id"])
    assert partial.status == "failed" and partial.error == runs[0]["error"]
    assert partial.outputs == {}  # nothing was produced
    assert partial.parameters == load_twin("lattice").manifest.check_parameters(LATTICE)
    assert partial.agent == user.name


def test_lost_scheduler_shows_in_the_dashboard_and_the_run_is_recorded(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twinhub.twins.flood.app import FloodDashboard
    from twinhub.twins.flood.scenario import calibrated
    from twinhub.twins.plaintext import as_html

    calibrated()  # the dashboard's one-off calibration, before the clock matters
    user = gateway.login("dashboard-fault")
    # publish() reaches the registry as the dashboard service does for the person looking
    monkeypatch.setenv("TWINHUB_API_URL", registry_api_url(gateway.settings))
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", user.token)
    with gateway_client(gateway, user) as gw:
        cluster = gw.new_cluster()  # no workers yet: the run waits on the scheduler
        try:
            client = cluster.get_client()
            client.twinhub_user = user.name  # as the service's UserClient names its person
            state = FloodDashboard(client=client, ensemble_size=30)
            box: dict = {}
            thread = _in_thread(lambda: asyncio.run(state.refresh()), box)
            wait_for(lambda: state.busy, timeout=60, interval=0.1, message="the dashboard's run")
            # the ensemble is submitted: its tasks wait on the scheduler for workers
            wait_for(
                # a lambda: pickled by value (the scheduler cannot import the tests)
                lambda: client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)),
                timeout=60,
                message="the ensemble's tasks on the scheduler",
            )
            (scheduler,) = dask_processes(gateway, cluster.name, "scheduler")
            scheduler.kill()
            thread.join(120)
        finally:
            try:
                cluster.shutdown()
            except Exception:  # its scheduler is dead; the gateway already let it go
                pass
    assert "error" not in box, box
    assert not state.busy and state.outcome is None
    assert state.error.startswith("SchedulerLost: the Dask scheduler")
    assert "Traceback" not in state.error and 'File "' not in state.error
    shown = state.error_view()  # shown above the views (twins.dashboard.TwinDashboard)
    # a danger alert that shows the message as text (twins.plaintext: never read as Markdown)
    assert isinstance(shown, pn.pane.HTML) and "alert-danger" in shown.css_classes
    assert shown.object == as_html(state.error)
    (run,) = _failed_runs(gateway, user, "flood")
    assert run["id"] in state.error  # the message says where the record is
    assert run["error"].startswith("SchedulerLost: ") and run["user"] == user.name
    partial = _provenance(gateway, user, run["id"])
    assert partial.status == "failed" and partial.outputs == {}
    assert partial.parameters["ensemble_size"] == 30 and partial.agent == user.name


def test_failed_run_error_is_refused_on_a_run_that_did_not_fail(gateway: Gateway) -> None:
    user = gateway.login("error-rule")
    with httpx.Client(
        base_url=f"{gateway.url}/services/twinhub/api", headers=user.headers, timeout=30
    ) as c:
        r = c.post(
            "/twins/lattice/runs",
            json={"parameters": {}, "status": "succeeded", "error": "SchedulerLost: gone"},
        )
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "error"
        assert c.get("/runs", params={"twin": "lattice"}).json()["total"] == 0
