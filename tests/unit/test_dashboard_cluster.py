"""The dashboard service's Dask cluster: one user's runs queue, another user's do not wait."""

from __future__ import annotations

import sys
import threading
import time

import dask
import psutil
import pytest
from twinhub.extensions.dashboards import cluster
from twinhub.extensions.dashboards.cluster import UserClient

from tests.support.waiting import wait_for


@dask.delayed
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def waiting_in_run_slot() -> bool:
    """Whether a thread other than this one is inside ``UserClient.run_slot``: waiting for a
    slot (a thread that holds one has left the function, suspended at its ``yield``)."""
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        while frame is not None and ident != me:
            if frame.f_code is UserClient.run_slot.__wrapped__.__code__:
                return True
            frame = frame.f_back
    return False


def test_one_users_second_run_waits_while_another_user_runs_at_once(service_cluster) -> None:
    ada, bob = UserClient("ada-cap", slots=1), UserClient("bob-cap", slots=1)
    first = ada.compute(slow(3.0))
    started: dict[str, float] = {}

    def submit(who: str, client: UserClient) -> None:
        t0 = time.monotonic()
        client.compute(slow(0.1)).result()
        started[who] = time.monotonic() - t0

    threads = [
        threading.Thread(target=submit, args=("ada", ada)),
        threading.Thread(target=submit, args=("bob", bob)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert first.result() == 3.0
    assert started["bob"] < 2.0  # not behind ada's run
    assert started["ada"] > 2.0  # her second run waited for her first
    assert ada.twinhub_user == "ada-cap"


def test_a_bad_cap_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINHUB_DASHBOARDS_USER_RUNS", "0")
    with pytest.raises(ValueError, match="TWINHUB_DASHBOARDS_USER_RUNS"):
        UserClient("carl-cap")


# 12 seeded Monte Carlo tasks (plus the JIT compile on fresh workers): seconds on 2 workers
LATTICE = {"sizes": [32], "temperatures": [2.0, 2.269, 2.5], "sweeps": 5000, "replicas": 4}


def test_a_worker_killed_during_a_dashboard_run_is_in_the_runs_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's cluster loses a worker (SIGKILL) mid-run: the run finishes, its record
    names the worker and the tasks Dask ran again, and the numbers are the in-process ones."""
    from twinhub.twins.twin import load_twin

    twin = load_twin("lattice")
    undisturbed, _ = twin.run(LATTICE)  # in-process, before the service's cluster exists
    monkeypatch.setenv("TWINHUB_DASHBOARDS_WORKERS", "2")
    try:
        client = cluster.shared_client()
        client.wait_for_workers(2, timeout=120)
        box: dict = {}
        thread = threading.Thread(
            target=lambda: box.update(run=twin.run(LATTICE, client=UserClient("ada-kill"))),
            daemon=True,
        )
        thread.start()
        busy = wait_for(
            lambda: {w: keys for w, keys in client.processing().items() if keys},
            timeout=120,
            interval=0.05,
            message="a task started",
        )
        victim = sorted(busy)[0]
        port = int(victim.rsplit(":", 1)[1])
        (process,) = [
            p
            for p in psutil.Process().children(recursive=True)
            if any(c.laddr.port == port for c in p.net_connections(kind="tcp"))
        ]
        process.kill()
        thread.join(300)
    finally:
        cluster.close()
    out, record = box["run"]
    assert out.identical(undisturbed)
    assert record.agent == "ada-kill"
    (loss,) = [loss for loss in record.incidents if loss.worker == victim]
    assert not loss.expected and set(map(str, busy[victim])) & set(loss.tasks_retried)


def test_a_dashboard_run_holds_the_users_share_for_models_that_submit_their_own_tasks(
    service_cluster,
) -> None:
    """The lattice model calls ``dask.compute`` itself (on the service's default client), not
    ``client.compute``: the dashboard still waits for the user's slot, for the whole run."""
    import asyncio

    from twinhub.extensions.dashboards.cluster import shared_client
    from twinhub.twins.lattice.app import LatticeDashboard

    shared_client()  # the service's cluster, as the default client the model's tasks go to
    dora = UserClient("dora-cap", slots=1)
    state = LatticeDashboard(
        client=dora, size=8, n_temperatures=3, sweeps=100, t_min=2.0, t_max=2.5
    )
    outcome: dict = {}
    with dora.run_slot():  # another of dora's runs holds her only slot
        # within a held slot, her own compute() does not wait for a second one
        assert dora.compute(slow(0.1)).result(timeout=30) == 0.1
        runner = threading.Thread(target=lambda: outcome.update(done=asyncio.run(state.refresh())))
        runner.start()
        wait_for(
            waiting_in_run_slot, timeout=60, interval=0.05, message="the run waiting for a slot"
        )
        assert state.busy and state.outcome is None  # waiting for dora's share
    runner.join(120)
    assert not runner.is_alive()
    assert state.error == "" and state.outcome is not None
    assert state.outcome.record.agent == "dora-cap"
