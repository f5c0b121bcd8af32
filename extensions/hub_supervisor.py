"""What the launcher does when the hub dies: restart it (within bounds), after clearing away
the services the dead hub had started.

The hub is the only part that holds no user state of its own (that is in its database), so a
crashed hub is restarted while the proxy, the users' servers and their Dask clusters keep
running: the new hub re-attaches the servers from the spawners' state (the pid, for local
processes) and the new Dask Gateway re-attaches the clusters from its database. The hub's
managed services (registry, dashboards, Dask Gateway, idle culler) are not re-attached by
JupyterHub: the new hub starts them again, so the old ones must first give up their ports.
They are found by their command lines among the launcher's children (the launcher is the
subreaper the dead hub's children were re-parented to).
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import psutil
from twinhub.contracts.names import GATEWAY_SERVER_SERVICE

SERVICE_STOP_GRACE = 10.0
"""Seconds a left-over service gets to stop after SIGTERM (JupyterHub gives its services as
long after SIGINT) before it and its helpers are killed."""


class RestartPolicy:
    """Allow at most ``max_restarts`` restarts within any ``window`` seconds.

    A hub that dies now and then (a bug, the OOM killer) is restarted; one that keeps dying
    (a broken database, a full disk) is not restarted in a loop: the launcher gives up, stops
    everything and exits non-zero, so the operator or a supervisor sees the failure.
    """

    def __init__(
        self, max_restarts: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_restarts = max_restarts
        self.window = window
        self._clock = clock
        self._restarts: deque[float] = deque()

    def allow(self) -> bool:
        """Whether one more restart is allowed now; if so, it is counted."""
        now = self._clock()
        while self._restarts and now - self._restarts[0] >= self.window:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return False
        self._restarts.append(now)
        return True

    @property
    def recent(self) -> int:
        """Restarts counted in the current window."""
        return len(self._restarts)

    def describe(self) -> str:
        minutes = self.window / 60
        return f"{self.max_restarts} restart(s) within {minutes:g} minute(s)"


# --- processes ------------------------------------------------------------------------------


def descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def reap_orphans(keep: set[int]) -> None:
    """Reap re-parented children that exited (we are their subreaper), except the pids in
    ``keep``: those are ``Popen`` children whose status their owner still reads."""
    me = os.getpid()
    for p in descendants():
        if p.pid in keep:
            continue
        try:
            if p.ppid() == me and p.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(p.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            pass


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_gone(procs: list[psutil.Process], timeout: float, keep: set[int]) -> list[psutil.Process]:
    """Wait until ``procs`` have exited, reaping them as they do; return those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        reap_orphans(keep)
        left = [p for p in procs if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def runs(cmdline: list[str], command: list[str]) -> bool:
    """Whether a process with ``cmdline`` runs ``command``, directly or as a script through
    its interpreter (``python .../dask-gateway-server --config ...``)."""
    if not command or len(cmdline) < len(command):
        return False
    tail = cmdline[len(cmdline) - len(command) :]
    return tail[1:] == command[1:] and Path(tail[0]).name == Path(command[0]).name


def _group(p: psutil.Process) -> list[psutil.Process]:
    """The service and the helpers it started in its process group (uvicorn, the dashboards'
    Dask workers, the gateway's proxy), but not what it started in sessions of their own:
    Dask Gateway starts each scheduler and worker so, and those are users' clusters."""
    try:
        pgid = os.getpgid(p.pid)
        members = [p, *p.children(recursive=True)]
    except (psutil.Error, ProcessLookupError):
        return []
    group = []
    for q in members:
        try:
            if os.getpgid(q.pid) == pgid:
                group.append(q)
        except ProcessLookupError:
            pass
    return group


def _signal_group(p: psutil.Process, sig: int) -> None:
    try:
        pgid = os.getpgid(p.pid)
        if pgid == p.pid and pgid != os.getpgid(0):
            os.killpg(pgid, sig)  # JupyterHub starts each service in a session of its own
        else:
            p.send_signal(sig)
    except (psutil.Error, ProcessLookupError):
        pass


def stop_orphaned_services(services: list[dict], keep: set[int]) -> list[str]:
    """Stop the services a dead hub had started; return their names.

    Dask Gateway is killed (SIGKILL), as if it had crashed with the hub: stopped cleanly it
    would stop every cluster, while killed it leaves them running and recorded in its
    database, for the next gateway to re-attach. The others get SIGTERM, then SIGKILL.
    """
    children = [p for p in psutil.Process().children() if p.pid not in keep and alive(p)]
    stopped, pending = [], []
    for service in services:
        command = service.get("command")
        for p in children:
            try:
                cmdline = p.cmdline()
            except psutil.Error:
                continue
            if not command or not runs(cmdline, command):
                continue
            group = _group(p)
            gateway = service["name"] == GATEWAY_SERVER_SERVICE
            _signal_group(p, signal.SIGKILL if gateway else signal.SIGTERM)
            stopped.append(service["name"])
            pending.extend(group)
    for p in wait_gone(pending, SERVICE_STOP_GRACE, keep):
        try:
            p.kill()
        except psutil.Error:
            pass
    wait_gone(pending, 5, keep)
    return stopped
