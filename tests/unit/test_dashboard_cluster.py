"""The dashboard service's Dask cluster: one user's runs queue, another user's do not wait."""

from __future__ import annotations

import sys
import threading
import time

import dask
import numpy as np
import psutil
import pytest
from twinhub.extensions.dashboards import cluster
from twinhub.extensions.dashboards.cluster import UserClient

from tests.support.waiting import wait_for


@dask.delayed
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def waiting_in_run_slot(code=UserClient.run_slot.__wrapped__.__code__) -> bool:
    """Whether a thread other than this one is inside ``UserClient.run_slot`` (or the function
    whose ``code`` is given): waiting for a slot (a thread that holds one has left
    ``run_slot``, suspended at its ``yield``)."""
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        while frame is not None and ident != me:
            if frame.f_code is code:
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


def test_a_small_run_passes_the_rest_of_another_users_long_run(service_cluster) -> None:
    """Dask runs graphs in the order they arrive, once they are ``fifo_timeout`` apart (60 s
    by default: a long run); the service's fair-share priority lets a newcomer's small run
    through before the remaining tasks of another user's long run."""
    large = dask.delayed(sum)([slow(0.3) for _ in range(40)])
    ann, ben = UserClient("ann-share", slots=1), UserClient("ben-share", slots=1)
    shared = cluster.shared_client()
    shared.wait_for_workers(1, timeout=120)
    long_run = ann.compute(large)
    deadline = time.monotonic() + 120
    while not any(shared.processing().values()):  # ann's tasks occupy the worker
        assert time.monotonic() < deadline, "the large run did not start"
        time.sleep(0.05)
    # eight tasks: queued at the scheduler like ann's (a lone task would skip the queue);
    # fifo_timeout=0: the scheduler treats ann's run as one submitted long before
    small = dask.delayed(sum)([slow(0.05) for _ in range(8)])
    assert ben.compute(small, fifo_timeout="0ms").result(timeout=120) == pytest.approx(0.4)
    assert not long_run.done()  # ben did not wait for the rest of ann's tasks
    assert long_run.result(timeout=300) == pytest.approx(12.0)


def test_another_users_small_dashboard_run_starts_before_a_users_queued_large_runs(
    service_cluster,
) -> None:
    """Four large scans of one user are queued; another user's small scan, asked for last,
    starts before the first user's later scans and ends before their first one (real Dask,
    the lattice twin's dashboard as the service runs it). Asserted on the runs' own records."""
    import asyncio

    from twinhub.twins.lattice.app import LatticeDashboard

    cluster.shared_client().wait_for_workers(1, timeout=120)
    large = {"size": 32, "n_temperatures": 6, "sweeps": 1500, "t_min": 2.0, "t_max": 2.6}
    small = {"size": 8, "n_temperatures": 3, "sweeps": 100, "t_min": 2.0, "t_max": 2.5}
    anns = [LatticeDashboard(client=UserClient("ann-fair"), **large) for _ in range(4)]
    ben = LatticeDashboard(client=UserClient("ben-fair"), **small)

    async def all_runs() -> None:
        runs = [asyncio.ensure_future(state.refresh()) for state in anns]
        await asyncio.sleep(0)  # ann's four runs are queued first
        await asyncio.gather(*runs, ben.refresh())

    asyncio.run(all_runs())
    for state in (*anns, ben):
        assert state.error == "" and state.outcome is not None
    first, *later = sorted((s.outcome.record for s in anns), key=lambda r: r.started)
    mine = ben.outcome.record
    assert mine.agent == "ben-fair" and first.agent == "ann-fair"
    assert all(mine.started < r.started for r in later)  # not behind ann's queue
    assert mine.ended < first.ended  # nor behind the rest of her running scan


def _worker_transitions(dask_worker) -> list[tuple[str, str, float]]:
    """(key, state entered, time) of the worker's task transitions (its own log)."""
    return [(str(e[0]), e[2], e[-1]) for e in dask_worker.state.log if len(e) == 7]


def test_a_small_run_takes_the_next_free_thread_from_another_users_large_runs(
    service_cluster,
) -> None:
    """Ann's large lattice scans (one going, one queued behind her slot) fill both threads of
    the service's worker. Ben's small scan, asked for meanwhile, takes each thread as it frees:
    from the worker's own log, no task of Ann's starts while one of Ben's is ready, and none of
    Ann's chains (a replica's Markov chain) ends between Ben's asking and Ben's last start: he
    waits for one short piece per thread, not for her replicas. His run ends while her first
    run is still going; his numbers are the in-process ones."""
    import distributed  # noqa: F401  (its config defaults, before setting one of them)
    from twinhub.twins.lattice.model import replica_series, replica_tasks

    with dask.config.set({"distributed.admin.low-level-log-length": 10**6}):  # the whole run
        shared = cluster.shared_client()
    shared.wait_for_workers(1, timeout=120)
    chain = {"theory": "ising", "quartic_coupling": 1.0, "thermalisation": 100,
             "algorithm": "wolff", "metropolis_step": 1.0}  # fmt: skip

    def scan(size: int, temps: list[float], sweeps: int, replicas: int, seed: int) -> dict:
        return {
            (t, r): replica_tasks(size, t, sweeps=sweeps, replica=r, seed=seed, **chain)
            for t in temps
            for r in range(replicas)
        }

    shared.compute(scan(8, [2.0], 100, 1, seed=9)).result(timeout=120)  # worker imports the model
    ann, ben = UserClient("ann-thread", slots=1), UserClient("ben-thread", slots=1)
    large = [scan(32, [2.0, 2.5], 3000, 2, seed) for seed in (1, 2)]  # chains of 25 pieces
    small = scan(8, [2.0, 2.3, 2.6], 100, 4, seed=0)
    anns: list = [ann.compute(large[0])]
    queued = threading.Thread(target=lambda: anns.append(ann.compute(large[1])), daemon=True)
    queued.start()
    wait_for(
        lambda: waiting_in_run_slot(UserClient.compute.__code__) or len(anns) > 1,
        timeout=30, message="ann's second run queued",
    )  # fmt: skip
    assert len(anns) == 1
    ann_keys = {str(k) for d in large[0].values() for k in d.__dask_graph__()}

    def anns_pieces_started() -> int:
        (events,) = shared.run(_worker_transitions).values()
        return sum(1 for key, state, _ in events if key in ann_keys and state == "executing")

    wait_for(
        lambda: anns_pieces_started() >= 6, timeout=120, interval=0.02, message="ann's run going"
    )
    asked = time.time()
    numbers = ben.compute(small).result(timeout=300)
    assert not anns[0].done()  # ben's run ended while ann's first was still going
    log = shared.run(_worker_transitions)
    (events,) = log.values()
    for future in anns:
        future.cancel()
    queued.join(60)
    for future in anns:
        future.cancel()

    keys = {
        who: {str(k) for graph in graphs for d in graph.values() for k in d.__dask_graph__()}
        for who, graphs in (("ann", large), ("ben", [small]))
    }
    owner = {k: who for who, ks in keys.items() for k in ks}
    ready: dict[str, float] = {}
    started: dict[str, float] = {}
    for key, state, at in events:
        if key in owner:
            (ready if state == "ready" else started if state == "executing" else {}).setdefault(
                key, at
            )
    ben_starts = [at for key, at in started.items() if owner[key] == "ben"]
    assert len(ben_starts) == len(keys["ben"])
    last = max(ben_starts)
    for key, at in ready.items():
        if owner[key] == "ben":  # from the moment one of Ben's tasks is ready, no Ann task starts
            late = [k for k, s in started.items() if owner[k] == "ann" and at < s < started[key]]
            assert not late, f"{late} started while ben's {key} was ready"
    chain_ends = [
        at for key, at in started.items()
        if owner[key] == "ann" and key.startswith("_series") and asked < at < last
    ]  # fmt: skip
    assert not chain_ends, "ben waited for a whole replica of ann's"
    for (t, r), result in numbers.items():
        expected = replica_series(8, t, sweeps=100, replica=r, seed=0, **chain)
        assert np.array_equal(result["series"], expected["series"])


def test_fair_share_puts_a_user_with_nothing_going_before_another_users_backlog() -> None:
    """Ann has three runs queued; Ben's runs earlier today have all ended. Ben's next run
    outranks Ann's second and third (and, newer, her first); once Ann's backlog is done, her
    next run is a first one again."""
    share = cluster.FairShare()
    for _ in range(3):  # Ben's earlier runs, all finished: they do not count against him
        share.enter("ben")
        share.priority("ben")
        share.leave("ben")
    for _ in range(3):
        share.enter("ann")
    ann = [share.priority("ann") for _ in range(3)]
    share.enter("ben")
    ben = share.priority("ben")
    assert ben > ann[0] > ann[1] > ann[2]
    for _ in range(3):
        share.leave("ann")
    share.enter("ann")
    assert share.priority("ann") > ben  # a new spell: her first run, the newest
