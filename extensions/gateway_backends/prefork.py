"""Dask schedulers forked from a warm process, so a new cluster skips 1.5-3 s of imports.

With dask-gateway's local backend every cluster starts ``dask scheduler`` as a new Python
process, and most of the time to a usable scheduler goes into importing ``distributed``, the
dashboard's ``bokeh`` and the gateway's scheduler plug-in (measured with ``-X importtime``;
README "Performance"). :class:`PreforkLocalBackend` keeps one *zygote* process that has done
those imports once and forks a scheduler from it per cluster: the child takes the cluster's
environment, working directory and log file and runs the same ``dask scheduler`` command line,
so the scheduler is the one the stock backend would have started, minus the imports. Workers
still start as before (their nanny spawns a fresh interpreter anyway).

If the zygote cannot be used (it died, or answered nonsense) the backend falls back to the
stock way of starting a process, so a cluster never fails because of this shortcut.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from traitlets import Unicode

from .local import AccountLocalBackend, drop_privileges

WARM_MODULES = (
    "distributed.cli.dask_scheduler",
    "distributed.http.scheduler",
    "distributed.dashboard.scheduler",
    "dask_gateway.scheduler_preload",
)
"""What a scheduler imports on start (the dashboard pulls in bokeh): imported once, shared."""
ZYGOTE_ENV = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
"""All the warm process gets of the gateway's environment: a forked scheduler's initial
environment (``/proc/<pid>/environ``) is the zygote's, and must not hold the gateway's hub
token; each scheduler then gets exactly the environment the stock backend would give it."""


class PreforkLocalBackend(AccountLocalBackend):
    """The local backend whose schedulers are forked from a pre-imported zygote.

    The zygote runs as the gateway's account (root); each forked scheduler drops to the
    cluster owner's account (:func:`drop_privileges`) before it touches the cluster, exactly as
    the stock backend's ``preexec_fn`` does before ``exec``.
    """

    zygote_python = Unicode(
        "",
        help="The interpreter of the warm process, whose environment the schedulers forked "
        "from it run in: the twin runtime's (schedulers unpickle the twins' tasks); empty: "
        "the gateway's own.",
        config=True,
    )

    _zygote: asyncio.subprocess.Process | None = None
    _zygote_lock: asyncio.Lock | None = None

    async def start_process(self, cluster, cmd, env, name):
        scheduler_cmd = list(cluster.config.scheduler_cmd)
        if name != "scheduler" or cmd[: len(scheduler_cmd)] != scheduler_cmd:
            return await super().start_process(cluster, cmd, env, name)
        workdir = cluster.state["workdir"]
        log_path = os.path.join(self.get_logs_directory(workdir), name + ".log")
        request = {
            "args": cmd[len(scheduler_cmd) :],
            "title": " ".join(cmd),
            "env": env,
            "cwd": workdir,
            "log": log_path,
        }
        if self.user_accounts:
            account = self.user_account(cluster.username)
            request["account"] = {"uid": account.uid, "gid": account.gid}
        try:
            pid = await self._fork(request)
        except (TimeoutError, OSError, ValueError, KeyError) as exc:
            self._zygote = None  # a new one is started for the next cluster
            self.log.warning("Forking a warm scheduler failed (%s); starting one cold", exc)
            return await super().start_process(cluster, cmd, env, name)
        self.log.info(
            "Scheduler of cluster %s forked from the warm process: pid %d", cluster.name, pid
        )
        return pid

    async def _fork(self, request: dict[str, Any]) -> int:
        if self._zygote_lock is None:
            self._zygote_lock = asyncio.Lock()
        async with self._zygote_lock:  # one request and its answer at a time on the pipe
            try:
                return await self._ask(request)
            except OSError:
                # the warm process died since the last cluster: start a new one, once
                self._zygote = None
                return await self._ask(request)

    async def _ask(self, request: dict[str, Any]) -> int:
        zygote = await self._ensure_zygote()
        zygote.stdin.write(json.dumps(request).encode() + b"\n")
        await zygote.stdin.drain()
        line = await asyncio.wait_for(zygote.stdout.readline(), timeout=60)
        if not line:
            raise OSError("the warm scheduler process exited")
        return int(json.loads(line)["pid"])

    async def _ensure_zygote(self) -> asyncio.subprocess.Process:
        if self._zygote is None or self._zygote.returncode is not None:
            self._zygote = await asyncio.create_subprocess_exec(
                self.zygote_python or sys.executable,
                "-m",
                __spec__.name if __spec__ else "twinhub.extensions.gateway_backends.prefork",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env={k: v for k, v in os.environ.items() if k in ZYGOTE_ENV},
            )
        return self._zygote

    async def setup(self, app):
        await super().setup(app)
        # warm up now, so that the first cluster is fast too
        try:
            await self._ensure_zygote()
        except OSError as exc:
            self.log.warning("No warm scheduler process (%s): schedulers start cold", exc)

    async def cleanup(self):
        await super().cleanup()
        if self._zygote is not None and self._zygote.returncode is None:
            self._zygote.stdin.close()  # the zygote exits at the end of its input
            try:
                await asyncio.wait_for(self._zygote.wait(), timeout=5)
            except TimeoutError:
                self._zygote.kill()


# --- the zygote (``python -m twinhub.extensions.gateway_backends.prefork``, from the backend) ---
def _run_scheduler(request: dict[str, Any]) -> None:
    """In the forked child: become the scheduler the stock backend would have started."""
    # look like the stock scheduler in ps/top (command line `<venv>/bin/dask scheduler ...`),
    # not like the zygote it was forked from: operators and tools find it by that. First, while
    # the process's argv and environ are still the zygote's (setproctitle reuses their memory)
    from setproctitle import setproctitle

    setproctitle(request.get("title") or "dask scheduler")
    # undo the zygote's dispositions: the scheduler handles SIGINT (the backend's first stop
    # signal) and waits for its own children
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setsid()
    # the log is opened by the gateway's account, as the stock backend does, then the child
    # becomes the cluster owner for good: it can write to the open log, and nothing of root's
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    if "account" in request:
        ids = request["account"]
        drop_privileges(int(ids["uid"]), int(ids["gid"]))
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    import dask.config

    # the configuration was read from the zygote's environment at import: read the cluster's
    dask.config.refresh()
    from distributed.cli.dask_scheduler import main

    sys.argv = ["dask scheduler", *request["args"]]
    code = 0
    try:
        main.main(args=request["args"], prog_name="dask scheduler", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - report anything, then leave without cleanup
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def zygote() -> None:
    """Import once, then fork a scheduler per request line; exit when the backend goes away."""
    import importlib

    for module in WARM_MODULES:
        importlib.import_module(module)
    # children are reaped by the kernel: no zombies, and ``kill(pid, 0)`` fails once they exit
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C of the gateway: it closes our input
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_scheduler(request)
        answers.write(json.dumps({"pid": pid}).encode() + b"\n")
        answers.flush()


if __name__ == "__main__":
    zygote()
