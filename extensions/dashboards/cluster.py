"""The service's own Dask cluster, shared by every dashboard, with a per-user cap on runs.

Dashboards run their heavy work (ensembles) on one ``LocalCluster`` the service owns and stops
with it. Each user gets a :class:`UserClient`: it forwards ``compute`` to the shared client, but
lets a user hold at most ``TWINHUB_DASHBOARDS_USER_RUNS`` computations at once, so one person's
ensembles queue behind each other and cannot fill the cluster while others wait.

Some models submit their tasks themselves (the physics twins call ``dask.compute``, which goes
to the process's default client: the shared one), so a dashboard holds the user's slot for the
whole run (:meth:`UserClient.run_slot`); ``compute`` inside a held slot does not wait again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()
_CLIENT: Any = None
_SLOTS: dict[str, threading.BoundedSemaphore] = {}
_HELD = threading.local()
"""``user``: whose slot this thread holds for a whole run (see :meth:`UserClient.run_slot`)."""


def user_runs() -> int:
    raw = os.environ.get("TWINHUB_DASHBOARDS_USER_RUNS", "1")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"TWINHUB_DASHBOARDS_USER_RUNS={raw!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"TWINHUB_DASHBOARDS_USER_RUNS={value}: must be at least 1")
    return value


def shared_client() -> Any:
    """The service's Dask client, its LocalCluster started on first use (workers: setting)."""
    global _CLIENT
    with _LOCK:
        if _CLIENT is None:
            from dask.distributed import Client, LocalCluster

            workers = int(os.environ.get("TWINHUB_DASHBOARDS_WORKERS", "1"))
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=2, processes=True,
                dashboard_address=":0", host="127.0.0.1",
            )  # fmt: skip
            _CLIENT = Client(cluster)
        return _CLIENT


def close() -> None:
    global _CLIENT
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
                _SLOTS[user] = threading.BoundedSemaphore(slots or user_runs())
            self._slot = _SLOTS[user]

    @contextmanager
    def run_slot(self) -> Iterator[None]:
        """Hold one of this user's slots for a whole run, whatever submits its tasks."""
        if self._holds_slot():
            yield
            return
        self._slot.acquire()
        _HELD.user = self.twinhub_user
        try:
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
