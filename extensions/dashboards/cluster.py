"""The service's own Dask cluster, shared by every dashboard, scheduled fairly across users.

Dashboards run their heavy work (ensembles) on one ``LocalCluster`` the service owns and stops
with it. Each user gets a :class:`UserClient`, which gives two guarantees:

- **Queues per user.** A dashboard run goes to its user's own queue (:meth:`UserClient.submit_run`),
  served by ``TWINHUB_DASHBOARDS_USER_RUNS`` threads of that user's: a person's runs wait for their
  own earlier runs only, never behind another person's queue (a queue per twin, first come first
  served, made a small run wait for every large run queued before it).
- **A fair share of the cluster.** Every graph a run submits carries a Dask priority
  (:class:`FairShare`): a user's first run of a busy spell goes before anybody's later runs,
  and among equals the newer run, so a small run's tasks pass the remaining tasks of another
  user's long run instead of waiting for all of them. Every task is sent to a worker as soon
  as it is ready (``worker-saturation`` unlimited), where each thread that frees takes the
  highest priority; models cut long work into short tasks (the lattice twin's chains), so the
  wait is one short task per thread. The priority is set with ``dask.annotate`` around the
  whole run, so it holds also for models that submit their tasks themselves (the physics twins call
  ``dask.compute``, which goes to the process's default client: the shared one).

A run holds its user's slot for its whole length (:meth:`UserClient.run_slot`); ``compute``
inside a held slot does not wait again, and ``compute`` outside a run waits for a slot.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import dask
from twinhub.contracts.settings import Settings

_LOCK = threading.Lock()
_CLIENT: Any = None
_SLOTS: dict[str, tuple[threading.BoundedSemaphore, int]] = {}
"""Each user's slots on the cluster, and how many there are (the threads of their queue)."""
_QUEUES: dict[str, ThreadPoolExecutor] = {}
_HELD = threading.local()
"""``user``: whose slot this thread holds for a whole run (see :meth:`UserClient.run_slot`)."""


class FairShare:
    """Dask priorities for runs: a user's first run of a busy spell first, newest first among
    equals; each further run of the same spell one step lower.

    A user is *busy* while any run of theirs is queued or going. The priority of a run is
    ``sequence - STEP * earlier``, ``earlier`` being the runs that user started in the current
    busy spell: someone with nothing going always outranks someone working through a backlog,
    and a newcomer's run outranks the run already going (Dask otherwise runs graphs in the
    order they arrived, so a small run would wait for every remaining task of a long one).
    One user's own runs follow each other in their queue, so this never reorders a person's
    runs; a large user's runs still go whenever nobody else's tasks are ready (no thread idles).

    Why this and not a count of recent runs (a 10-minute window, the earlier rule): finished
    runs do not count, so a person who just ran a few small runs is not pushed behind someone
    else's backlog; and why priorities, not a worker slot kept free: a kept slot idles when
    only one user works, halving a small service's throughput, while priorities cost nothing
    and, with short tasks (the lattice twin cuts its chains, ``model.CHUNK_SITE_SWEEPS``),
    bound a newcomer's wait by one task per thread. Priorities are fixed when a graph is
    submitted, so a spell's count is taken at the start of each run.
    """

    STEP = 10**9

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}  # runs queued or going, per user
        self._started: dict[str, int] = {}  # runs started in the user's current busy spell
        self._sequence = itertools.count(1)

    def enter(self, user: str) -> None:
        """A run of ``user`` is queued (it counts until :meth:`leave`)."""
        with self._lock:
            self._busy[user] = self._busy.get(user, 0) + 1

    def leave(self, user: str) -> None:
        with self._lock:
            self._busy[user] -= 1
            if self._busy[user] <= 0:  # the spell is over: the next run is a first one again
                del self._busy[user]
                self._started.pop(user, None)

    def priority(self, user: str) -> int:
        """The priority of a run ``user`` starts now (counted as one of this spell's runs)."""
        with self._lock:
            earlier = self._started.get(user, 0)
            self._started[user] = earlier + 1
            return next(self._sequence) - self.STEP * earlier


FAIR_SHARE = FairShare()


def user_runs() -> int:
    return Settings.from_env().dashboards_user_runs


def shared_client() -> Any:
    """The service's Dask client, its LocalCluster started on first use (workers: setting)."""
    global _CLIENT
    with _LOCK:
        if _CLIENT is None:
            from dask.distributed import Client, LocalCluster

            workers = Settings.from_env().dashboards_workers
            # every task goes to a worker as soon as it is ready, where a free thread takes the
            # highest priority: with the default (root tasks held at the scheduler until a
            # worker has a free thread), a long run's chains of tasks (sent on directly) keep
            # the worker looking busy and a newcomer's run waits for whole chains to end
            with dask.config.set({"distributed.scheduler.worker-saturation": float("inf")}):
                cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=2, processes=True,
                    dashboard_address=":0", host="127.0.0.1",
                    preload=["twinhub.extensions.dashboards.workerpriority"],
                )  # fmt: skip
            _CLIENT = Client(cluster)
        return _CLIENT


def close() -> None:
    """Stop the users' run queues (waiting for their runs) and the service's cluster."""
    global _CLIENT
    with _LOCK:
        queues = list(_QUEUES.values())
        _QUEUES.clear()
    for queue in queues:
        queue.shutdown(wait=True, cancel_futures=True)
    with _LOCK:
        if _CLIENT is not None:
            cluster = _CLIENT.cluster
            _CLIENT.close()
            cluster.close()
            _CLIENT = None


class UserClient:
    """What a twin's app gets as ``client``: the shared cluster, within this user's share."""

    def __init__(self, user: str, slots: int | None = None):
        self.twinhub_user = user  # run records name the person, not the service
        with _LOCK:
            if user not in _SLOTS:
                count = slots or user_runs()
                _SLOTS[user] = (threading.BoundedSemaphore(count), count)
            self._slot, self._slots = _SLOTS[user]

    def submit_run(self, run: Callable[..., Any], *args: Any) -> Future:
        """Queue a whole run in this user's own queue; it starts when one of their slots is
        free, whatever other users have queued (see the module's docstring)."""
        with _LOCK:
            queue = _QUEUES.get(self.twinhub_user)
            if queue is None:
                queue = _QUEUES[self.twinhub_user] = ThreadPoolExecutor(
                    self._slots, thread_name_prefix=f"runs-{self.twinhub_user}"[:40]
                )
        FAIR_SHARE.enter(self.twinhub_user)
        try:
            future = queue.submit(self._run_in_share, run, *args)
        except BaseException:
            FAIR_SHARE.leave(self.twinhub_user)
            raise
        future.add_done_callback(lambda _done: FAIR_SHARE.leave(self.twinhub_user))
        return future

    def _run_in_share(self, run: Callable[..., Any], *args: Any) -> Any:
        with self.run_slot():
            return run(*args)

    @contextmanager
    def run_slot(self) -> Iterator[None]:
        """Hold one of this user's slots for a whole run, whatever submits its tasks; every
        graph the run submits gets the run's fair-share priority."""
        if self._holds_slot():
            yield
            return
        FAIR_SHARE.enter(self.twinhub_user)
        try:
            self._slot.acquire()
            _HELD.user = self.twinhub_user
            try:
                with dask.annotate(priority=FAIR_SHARE.priority(self.twinhub_user)):
                    yield
            finally:
                _HELD.user = None
                self._slot.release()
        finally:
            FAIR_SHARE.leave(self.twinhub_user)

    def _holds_slot(self) -> bool:
        return getattr(_HELD, "user", None) == self.twinhub_user

    def compute(self, collection: Any, **options: Any) -> Any:
        """Wait for one of this user's slots, then submit; the slot frees when the run ends."""
        if self._holds_slot():  # within run_slot(): the run already holds the user's share
            return shared_client().compute(collection, **options)
        FAIR_SHARE.enter(self.twinhub_user)
        try:
            self._slot.acquire()
        except BaseException:
            FAIR_SHARE.leave(self.twinhub_user)
            raise
        try:
            options.setdefault("priority", FAIR_SHARE.priority(self.twinhub_user))
            future = shared_client().compute(collection, **options)
        except BaseException:
            self._slot.release()
            FAIR_SHARE.leave(self.twinhub_user)
            raise
        future.add_done_callback(lambda _done: self._done(_done))
        return future

    def _done(self, _future: Any) -> None:
        self._slot.release()
        FAIR_SHARE.leave(self.twinhub_user)

    # what a run's record asks of its client (twinhub.twins.daskfaults): the cluster's events
    # (workers lost during the run) and whether the scheduler is still there
    def get_events(self, topic: str | None = None) -> Any:
        return shared_client().get_events(topic)

    @property
    def status(self) -> str:
        return shared_client().status

    @property
    def scheduler(self) -> Any:
        return shared_client().scheduler

    def __repr__(self) -> str:
        return f"<UserClient {self.twinhub_user}: dashboards' shared Dask cluster>"
