"""One process per twin's dashboard: started on demand, watched, stopped when idle or stuck.

The dashboard router (:mod:`.router`) asks :meth:`Supervisor.get` for a twin's process before
it forwards a request. The supervisor

- starts the process on the first request (``python -m twinhub.extensions.dashboards.server``
  with the twin's own interpreter, :func:`twinhub.extensions.runtimes.runtime_python`), as the
  dashboards' account when the platform runs as root, in a session of its own (its Dask
  workers go with it), with an environment that holds no platform token; the manifest and the
  process's secret go on stdin. Concurrent first requests share one start, and a start that
  does not print ``READY <port>`` within ``start_seconds`` is stopped (504);
- asks each process's event loop every few seconds whether it is alive; one that does not
  answer within ``hang_seconds`` (an app looping forever) is killed, so requests waiting on it
  fail at once (502) instead of hanging, for that twin only;
- stops a process nobody used for ``idle_seconds`` (no request, no open page);
- restarts a process that ended (a crash) on the next request, waiting longer after each crash
  within :data:`CRASH_WINDOW` seconds (0, 1, 2, 4... up to :data:`MAX_BACKOFF`): meanwhile
  the twin answers 503 with ``Retry-After``;
- starts a new process when the registry's manifest of the twin changed (a ``PUT``), or when
  what runs it changed (:meth:`Launch.runtime_key`: another served version of a published twin,
  another account): a process of one account never serves a twin that another account runs.

Where a process runs is the launcher's business: :class:`Launch` starts a local process (one
machine), :class:`twinhub.extensions.dashboards.pods.PodLaunch` a pod (Kubernetes). Both give a
:class:`Started` handle; the supervisor's policy (backoff, idle, hang) is the same for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import pwd
import secrets
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .protocol import ALIVE_PATH, READY_LINE, SECRET_HEADER, TOKEN_HEADER, USER_HEADER

log = logging.getLogger("twinhub.dashboards.supervisor")
CRASH_WINDOW = 300.0
"""Crashes within this many seconds count toward the restart backoff."""
MAX_BACKOFF = 30.0
MAX_LINE = 4096


class Unavailable(Exception):
    """The twin's process cannot serve now: the router answers ``status`` with ``message``."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class StartFailed(Exception):
    """The twin's process ended (or could not be created) before it was ready."""


class Started(Protocol):
    """A started twin's process, wherever it runs (what the supervisor needs of it)."""

    @property
    def base(self) -> str:
        """``http://host:port`` where the process serves."""

    def has_ended(self) -> bool:
        """Whether it ended (as far as can be told without waiting)."""

    async def wait(self) -> int | None:
        """Return its exit code once it ended."""

    async def end(self, grace: float) -> None:
        """Stop it (and what it started): asked to stop, killed after ``grace`` seconds."""

    async def drain(self) -> None:
        """Read and drop its output, if the supervisor holds it (a pipe)."""


class Launcher(Protocol):
    """Starts twins' processes: :class:`Launch` (local) or ``pods.PodLaunch`` (Kubernetes)."""

    prefix: str
    websocket_origins: list[str]

    async def start(self, twin: str, config: dict[str, Any], timeout: float) -> Started:
        """Start ``twin``'s process with ``config`` (what ``server.ProcessConfig`` reads) and
        return it once it serves; ``TimeoutError`` after ``timeout`` seconds,
        :class:`StartFailed` if it ended first (in both cases nothing of it is left)."""

    def runtime_key(self, twin: str) -> str:
        """What, besides the manifest, a process of ``twin`` is started with (its code and its
        account): a running process whose key differs is replaced. Cheap (no blocking I/O
        beyond a few system calls): asked on every request."""


@dataclass
class LocalProcess:
    """A twin's process on this machine, in a session of its own."""

    proc: asyncio.subprocess.Process
    port: int
    runtime_key: str = ""
    """What it was started with (:attr:`Runtime.key`): the code and account it runs."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def has_ended(self) -> bool:
        return _has_ended(self.proc)

    async def wait(self) -> int | None:
        return await self.proc.wait()

    async def end(self, grace: float) -> None:
        await _end_group(self.proc, grace)

    async def drain(self) -> None:
        stdout = self.proc.stdout
        with contextlib.suppress(Exception):
            while await stdout.read(65536):
                pass


@dataclass
class TwinProcess:
    """A running dashboard process of one twin."""

    twin: str
    manifest_key: str
    process: Started
    secret: str
    runtime_key: str = ""
    """The launcher's :meth:`Launcher.runtime_key` when it started (its code and account)."""
    last_used: float = field(default_factory=time.monotonic)
    sockets: int = 0
    stopping: bool = False
    tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.process.base

    @property
    def pid(self) -> int | None:
        return getattr(self.process, "pid", None)

    def headers(self, user: str, token: str | None) -> dict[str, str]:
        """What the process needs to know about a request: that it comes from the router,
        and whose it is."""
        headers = {SECRET_HEADER: self.secret, USER_HEADER: user}
        if token:
            headers[TOKEN_HEADER] = token
        return headers

    def touch(self) -> None:
        self.last_used = time.monotonic()


def manifest_key(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Runtime:
    """Who runs one twin's process and with what: the launcher's answer for a twin."""

    command: list[str]
    account: str | None = None
    """Unix account the process runs as (None: the router's own; only a root router switches)."""
    home: str | None = None
    """Its working directory and ``HOME`` (None: the launcher's ``cwd`` and ``env``)."""
    code: str = ""
    """The folder of the code it runs when that decides the account (a published version)."""
    key: str = ""
    """The launcher's ``runtime_key`` of what this runtime runs (its code and account)."""


@dataclass
class Launch:
    """How to start a twin's process (pure data, so tests and the router share it)."""

    command: Callable[[str], list[str]]
    """The command for a twin (its interpreter and ``-m twinhub.extensions.dashboards.server``)."""
    env: dict[str, str]
    cwd: str | None = None
    account: str | None = None
    """Unix account the processes run as (only a root router can switch)."""
    prefix: str = "/services/twinhub-apps/"
    websocket_origins: list[str] = field(default_factory=list)
    runtime: Callable[[str], Runtime] | None = None
    """Per twin, who runs it and with what (the router's :func:`~.router.twin_runtime`: a
    published twin as its owner); None: ``command`` as ``account`` for every twin. May raise
    :class:`StartFailed` (a twin that must not run as anyone this launcher knows)."""
    runtime_key_of: Callable[[str], str] | None = None
    """The cheap part of ``runtime``: what changes when the twin's code or account does."""

    def runtime_for(self, twin: str) -> Runtime:
        if self.runtime is not None:
            return self.runtime(twin)
        return Runtime(self.command(twin), self.account, None)

    def runtime_key(self, twin: str) -> str:
        return self.runtime_key_of(twin) if self.runtime_key_of is not None else ""

    def user_options(self, account: str | None = None) -> dict[str, Any]:
        account = account if account is not None else self.account
        if not account or os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(account)
        if entry.pw_uid == 0:
            raise StartFailed(f"the account {account} is root: twins never run as root")
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    async def start(self, twin: str, config: dict[str, Any], timeout: float) -> LocalProcess:
        """The process on this machine; its config goes on stdin (never in its environment)."""
        runtime = await asyncio.to_thread(self.runtime_for, twin)  # may read passwd, a database
        env = self.env if runtime.home is None else {**self.env, "HOME": runtime.home}
        proc = await asyncio.create_subprocess_exec(
            *runtime.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            cwd=runtime.home or self.cwd,
            start_new_session=True,  # its Dask workers are stopped with it
            limit=MAX_LINE,
            **self.user_options(runtime.account),
        )
        try:
            proc.stdin.write(json.dumps(config).encode() + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
            port = await asyncio.wait_for(_ready_port(proc), timeout)
        except TimeoutError:
            await _end_group(proc, 0)
            raise
        except (OSError, EOFError, ValueError) as e:
            await _end_group(proc, 0)
            raise StartFailed(str(e)) from e
        return LocalProcess(proc, port, runtime.key)


class Supervisor:
    """The twins' dashboard processes of one router."""

    def __init__(
        self,
        launch: Launcher,
        *,
        idle_seconds: float = 600,
        start_seconds: float = 120,
        hang_seconds: float = 20,
    ):
        self.launch = launch
        self.idle_seconds = idle_seconds
        self.start_seconds = start_seconds
        self.hang_seconds = hang_seconds
        self.running: dict[str, TwinProcess] = {}
        self._starting: dict[str, asyncio.Future[TwinProcess]] = {}
        self._crashes: dict[str, deque[float]] = {}

    # --- what the router asks ---------------------------------------------------------------
    async def get(self, twin: str, manifest: dict[str, Any]) -> TwinProcess:
        """The running process of ``twin`` serving ``manifest``, started if need be."""
        key = manifest_key(manifest)
        runtime = self._runtime_key(twin)
        current = self.running.get(twin)
        if current is not None and not current.stopping and current.process.has_ended():
            await self._ended(current)  # died a moment ago: its exit is not yet handled
            current = None
        same = current is not None and (current.manifest_key, current.runtime_key) == (key, runtime)
        if same and not current.stopping:
            current.touch()
            return current
        if current is not None and not same:
            log.info("the manifest, code or account of %s changed: a new process serves it", twin)
            await self._stop(current, grace=5.0)
        starting = self._starting.get(twin)
        if starting is None:
            self._check_backoff(twin)
            starting = asyncio.ensure_future(self._start(twin, manifest, key, runtime))
            self._starting[twin] = starting
            starting.add_done_callback(lambda _: self._starting.pop(twin, None))
        process = await asyncio.shield(starting)
        process.touch()
        return process

    def serving(self, twin: str) -> TwinProcess | None:
        """The process of ``twin`` if one runs (for its websockets and files: no start)."""
        process = self.running.get(twin)
        return None if process is None or process.stopping else process

    def _runtime_key(self, twin: str) -> str:
        key = getattr(self.launch, "runtime_key", None)
        return key(twin) if key is not None else ""

    async def stop(self, twin: str, grace: float = 5.0) -> None:
        """Stop ``twin``'s process (and its Dask workers): SIGTERM, then SIGKILL."""
        process = self.running.get(twin)
        if process is not None:
            await self._stop(process, grace)

    async def _stop(self, process: TwinProcess, grace: float) -> None:
        if self.running.get(process.twin) is process:
            del self.running[process.twin]
        process.stopping = True
        for task in process.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await process.process.end(grace)

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(twin) for twin in list(self.running)))

    # --- starting ---------------------------------------------------------------------------
    def _check_backoff(self, twin: str) -> None:
        crashes = self._crashes.get(twin)
        now = time.monotonic()
        while crashes and now - crashes[0] > CRASH_WINDOW:
            crashes.popleft()
        if not crashes:
            return
        wait = min(MAX_BACKOFF, 2.0 ** (len(crashes) - 1)) if len(crashes) > 1 else 0.0
        left = crashes[-1] + wait - now
        if left > 0:
            raise Unavailable(
                503,
                f"The dashboard of {twin} stopped {len(crashes)} times lately; it is started "
                f"again in {left:.0f} s.",
                retry_after=left,
            )

    def _crashed(self, twin: str) -> None:
        self._crashes.setdefault(twin, deque()).append(time.monotonic())

    async def _start(
        self, twin: str, manifest: dict[str, Any], key: str, runtime: str = ""
    ) -> TwinProcess:
        secret = secrets.token_urlsafe(32)
        config = {
            "twin": twin,
            "manifest": manifest,
            "secret": secret,
            "prefix": self.launch.prefix,
            "websocket_origins": self.launch.websocket_origins,
        }
        started = time.monotonic()
        try:
            handle = await self.launch.start(twin, config, self.start_seconds)
        except TimeoutError:
            self._crashed(twin)
            raise Unavailable(
                504, f"The dashboard of {twin} did not start within {self.start_seconds} s."
            ) from None
        except (OSError, StartFailed) as e:
            self._crashed(twin)
            raise Unavailable(502, f"The dashboard of {twin} ended while starting ({e}).") from e
        log.info("dashboard of %s started in %.1f s at %s", twin, time.monotonic() - started,
                 handle.base)  # fmt: skip
        # what the launcher started, if it says (the code may have changed since we asked)
        runtime = getattr(handle, "runtime_key", runtime)
        process = TwinProcess(twin, key, handle, secret, runtime)
        self.running[twin] = process
        process.tasks = [
            asyncio.ensure_future(self._drain(process)),
            asyncio.ensure_future(self._watch(process)),
            asyncio.ensure_future(self._exited(process)),
        ]
        return process

    # --- watching ---------------------------------------------------------------------------
    async def _drain(self, process: TwinProcess) -> None:
        """Read (and drop) what the process prints, so a chatty app never blocks on a pipe."""
        await process.process.drain()

    async def _exited(self, process: TwinProcess) -> None:
        await self._ended(process)

    async def _ended(self, process: TwinProcess) -> None:
        """A process that ended by itself counts as a crash; what is left of it is stopped.

        Both its watcher and a request that finds it dead call this: the first one wins."""
        code = await process.process.wait()
        if process.stopping:
            return
        log.warning("dashboard of %s ended (exit %s): restarted on the next request",
                    process.twin, code)  # fmt: skip
        self._crashed(process.twin)
        await self._stop(process, grace=0)  # what is left of its session (Dask workers)

    async def _watch(self, process: TwinProcess) -> None:
        """Every few seconds: stuck (kill), or idle (stop)?"""
        interval = max(0.5, min(5.0, self.hang_seconds / 4, self.idle_seconds / 4))
        url = f"{process.base}{self.launch.prefix}{process.twin}/{ALIVE_PATH}"
        client = AsyncHTTPClient()
        while not process.stopping:
            await asyncio.sleep(interval)
            try:
                await client.fetch(HTTPRequest(url, request_timeout=self.hang_seconds))
            except Exception as e:
                if process.stopping or process.process.has_ended():
                    return
                log.warning("dashboard of %s does not answer (%s): stopped", process.twin, e)
                self._crashed(process.twin)
                await self._stop(process, grace=0)
                return
            idle = time.monotonic() - process.last_used
            if process.sockets <= 0 and idle > self.idle_seconds:
                log.info("dashboard of %s idle for %.0f s: stopped", process.twin, idle)
                await self._stop(process, grace=5.0)
                return


def _has_ended(proc: asyncio.subprocess.Process) -> bool:
    """Whether the process ended, even if its exit status is not collected yet (a zombie):
    a request must not be forwarded to a port nobody listens on any more."""
    if proc.returncode is not None:
        return True
    try:
        with open(f"/proc/{proc.pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return os.path.exists("/proc/self")  # gone from procfs (without procfs, we cannot tell)
    return state in (b"Z", b"X")


async def _ready_port(proc: asyncio.subprocess.Process) -> int:
    """The port in the process's ``READY <port>`` line (other lines before it are skipped)."""
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise EOFError(f"exit code {await proc.wait()}")
        text = line.decode(errors="replace").strip()
        if text.startswith(READY_LINE):
            return int(text[len(READY_LINE) :])


async def _end_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """Stop the process's session (it and its Dask workers): SIGTERM, SIGKILL after ``grace``."""
    if grace > 0 and proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
        await asyncio.wait_for(proc.wait(), 10)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
