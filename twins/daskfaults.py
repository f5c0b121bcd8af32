"""What happened to the Dask cluster during a run: workers lost, or the scheduler itself.

Dask survives a lost worker: the scheduler recomputes that worker's tasks on the others, and a
seeded model gives the same numbers bit for bit. The run should still say it happened (a
reviewer of the provenance sees that the cluster was disturbed and which tasks ran twice). The
scheduler logs every removal of a worker as a ``remove-worker`` event on its ``all`` topic; we
read the events that arrived during the run with ``Client.get_events`` rather than install a
scheduler plugin, which would need our code importable next to the scheduler (not true of every
gateway image) and pickled plugins allowed.

A lost scheduler is different: its workers and all work in progress go with it, so the run
cannot finish. :func:`infrastructure_failure` turns the client's low-level error into a
:class:`SchedulerLost` whose message says what happened and what to do.
"""

from __future__ import annotations

from concurrent.futures import CancelledError
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twinhub.twins.runs import RunRecord

EVENT_TOPIC = "all"
"""The scheduler's topic that receives one event per removed worker (and other cluster news)."""

LOST_STATES = {"connecting", "closing", "closed", "failed"}
"""``Client.status`` values once the client has lost its scheduler."""


class RunFailed(RuntimeError):
    """The run could not finish because of the Dask cluster, not because of the model or input.

    ``record`` is the failed run's record (status ``failed``, the error, the parameters and
    inputs, the worker losses seen): its PROV-JSON is the run's partial provenance.
    """

    def __init__(self, message: str, record: RunRecord | None = None):
        super().__init__(message)
        self.record = record
        self.kept: str | None = None
        """Where the failed run's record went (registry URL or file), once it is kept."""


class SchedulerLost(RunFailed):
    """The Dask scheduler went away during the run (crashed, killed, or its cluster stopped)."""


class WorkersKeptDying(RunFailed):
    """Dask gave up on a task after the workers running it died several times in a row."""


@dataclass(frozen=True)
class WorkerLoss:
    """One worker that left the cluster during a run, and the tasks Dask had to run again."""

    worker: str
    at: datetime
    tasks_retried: tuple[str, ...]
    expected: bool = False
    """True for a planned retirement (scale down), False for a crash or a kill."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "at": self.at.isoformat(),
            "tasks_retried": list(self.tasks_retried),
            "expected": self.expected,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerLoss:
        at = data["at"]
        return cls(
            worker=str(data["worker"]),
            at=at if isinstance(at, datetime) else datetime.fromisoformat(at),
            tasks_retried=tuple(str(k) for k in data.get("tasks_retried", ())),
            expected=bool(data.get("expected", False)),
        )


def _events(client: Any) -> list[tuple[float, dict[str, Any]]] | None:
    """The scheduler's cluster events, or None when the client cannot tell (no scheduler)."""
    get_events = getattr(client, "get_events", None)
    if get_events is None:
        return None
    try:
        return list(get_events(EVENT_TOPIC))
    except Exception:  # the scheduler is gone or unreachable: no events to read
        return None


def _task_names(keys: Any) -> tuple[str, ...]:
    return tuple(sorted(str(k) for k in (keys or ())))


class ClusterWatch:
    """Remember where the scheduler's event log stood when a run started; read what came after.

    The cut is by the scheduler's own timestamps (its clock, not ours), so a skew between the
    client's machine and the scheduler's cannot hide an event or invent one.
    """

    def __init__(self, client: Any):
        self.client = client
        events = _events(client)
        self.active = events is not None
        self._since = max((t for t, _ in events), default=float("-inf")) if events else None

    def worker_losses(self) -> list[WorkerLoss]:
        """Workers removed since the watch started, oldest first (empty if none or unknown)."""
        if not self.active:
            return []
        events = _events(self.client) or []
        since = self._since if self._since is not None else float("-inf")
        losses = []
        for stamp, msg in events:
            if stamp <= since or not isinstance(msg, dict):
                continue
            if msg.get("action") != "remove-worker":
                continue
            retried = set(_task_names(msg.get("processing-tasks")))
            retried |= set(_task_names(msg.get("lost-computed-tasks")))
            losses.append(
                WorkerLoss(
                    worker=str(msg.get("worker", "unknown")),
                    at=datetime.fromtimestamp(stamp, UTC),
                    tasks_retried=tuple(sorted(retried)),
                    expected=bool(msg.get("expected", False)),
                )
            )
        return sorted(losses, key=lambda loss: loss.at)


def _scheduler_address(client: Any) -> str:
    scheduler = getattr(client, "scheduler", None)
    return str(getattr(scheduler, "address", None) or "unknown address")


def scheduler_was_lost(error: BaseException, client: Any) -> bool:
    """Whether ``error`` means the client lost its scheduler (rather than a task raising)."""
    if getattr(error, "reason", None) == "scheduler-connection-lost":
        return True
    # a cancelled future or a closed connection while the client has no scheduler any more;
    # a model's own error (e.g. a bad parameter) is never taken for a lost scheduler
    lost = str(getattr(client, "status", "running")) in LOST_STATES
    return lost and isinstance(error, CancelledError | OSError | TimeoutError)


def infrastructure_failure(error: BaseException, client: Any, twin: str) -> RunFailed | None:
    """The run's error as a :class:`RunFailed` if the cluster caused it; None if the model did."""
    what = f"the run of twin {twin!r}" if twin else "the run"
    if client is not None and scheduler_was_lost(error, client):
        return SchedulerLost(
            f"the Dask scheduler at {_scheduler_address(client)} was lost during {what}: the "
            "cluster's workers and the work in progress are gone, so the run cannot finish. "
            "Start a new cluster (cluster() in the twinhub kernel, or reload the dashboard) and "
            "run again."
        )
    if type(error).__name__ == "KilledWorker":
        task = getattr(error, "task", "?")
        return WorkersKeptDying(
            f"Dask gave up on task {task} of {what}: the workers running it died several times "
            "(often a worker running out of memory). Use fewer members per task (block) or a "
            "profile with more worker memory, and run again."
        )
    return None
