"""The service's own Dask cluster, shared by every dashboard, scheduled fairly across users.

Dashboards run their heavy work (ensembles) on one ``LocalCluster`` the service owns and stops
with it. Each user gets a :class:`UserClient`, which gives two guarantees:

- **Queues per user.** A dashboard run goes to its user's own queue (:meth:`UserClient.submit_run`),
  served by ``TWINHUB_DASHBOARDS_USER_RUNS`` threads of that user's: a person's runs wait for their
  own earlier runs only, never behind another person's queue (a queue per twin, first come first
  served, made a small run wait for every large run queued before it).
- **A fair share of the cluster.** Every graph a run submits carries a Dask priority
  (:class:`FairShare`): users who started fewer runs lately go first, and among equals the newer
  run, so a small run's tasks pass the remaining tasks of another user's long run instead of
  waiting for all of them. The priority is set with ``dask.annotate`` around the whole run, so it
  holds also for models that submit their tasks themselves (the physics twins call
  ``dask.compute``, which goes to the process's default client: the shared one).

A run holds its user's slot for its whole length (:meth:`UserClient.run_slot`); ``compute``
inside a held slot does not wait again, and ``compute`` outside a run waits for a slot.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
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
    """Dask priorities for runs: fewer recent runs first, then the newest run first.

    ``window`` seconds is how long a run counts against its user. The priority of a run is
    ``sequence - RECENT_WEIGHT * recent``: a user's recent runs outweigh any order of arrival,
    and among users with as many recent runs the run started last has its tasks scheduled
    first, which lets a short run through without waiting for the rest of a long one (Dask
    otherwise runs graphs in the order they arrived). One user's own runs follow each other in
    their queue, so this never reorders a person's runs.
    """

    RECENT_WEIGHT = 10**9

    def __init__(self, window: float = 600.0):
        self.window = window
        self._lock = threading.Lock()
        self._starts: dict[str, deque[float]] = {}
        self._sequence = itertools.count(1)

    def priority(self, user: str) -> int:
        """The priority of a run ``user`` starts now (and count it as one of their runs)."""
        now = time.monotonic()
        with self._lock:
            starts = self._starts.setdefault(user, deque())
            while starts and now - starts[0] > self.window:
                starts.popleft()
            recent = len(starts)
            starts.append(now)
            return next(self._sequence) - self.RECENT_WEIGHT * recent


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
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=2, processes=True,
                dashboard_address=":0", host="127.0.0.1",
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
        return queue.submit(self._run_in_share, run, *args)

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
        self._slot.acquire()
        _HELD.user = self.twinhub_user
        try:
            with dask.annotate(priority=FAIR_SHARE.priority(self.twinhub_user)):
                yield
        finally:
            _HELD.user = None
            self._slot.release()

    def _holds_slot(self) -> bool:
        return getattr(_HELD, "user", None) == self.twinhub_user

    def compute(self, collection: Any, **options: Any) -> Any:
        """Wait for one of this user's slots, then submit; the slot frees when the run ends."""
        if self._holds_slot():  # within run_slot(): the run already holds the user's share
            return shared_client().compute(collection, **options)
        self._slot.acquire()
        try:
            options.setdefault("priority", FAIR_SHARE.priority(self.twinhub_user))
            future = shared_client().compute(collection, **options)
        except BaseException:
            self._slot.release()
            raise
        future.add_done_callback(lambda _done: self._slot.release())
        return future

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
