"""A twin's dashboard as a Slurm job, for a twin whose infrastructure profile targets Slurm.

Issue 17 section 3: where the hub enables Slurm (``TWINHUB_SLURM=1``), a twin whose manifest's
``profile`` carries a ``slurm`` block (``hpc-slurm``) runs its dashboard process as a batch job
with that profile's partition, time, cores and memory, as the user servers of that profile do;
every other twin stays a local process. :class:`ProfileLaunch` picks per twin and delegates to
the local :class:`~.supervisor.Launch` or to :class:`SlurmLaunch`; the supervisor's policy
(restart backoff, idle stop, hang watchdog) is the same for both.

The job runs the command the local launcher would run (``python -m
twinhub.extensions.dashboards.server <twin>`` in the twin's runtime), as the same account (a
root router submits with ``sbatch --uid/--gid``: the dashboards' account for platform twins, a
published twin's owner), listening on ``TWINHUB_SLURM_JOB_BIND_IP``. Its config (with the
process secret) is a 0600 file of that account that :data:`.protocol.CONFIG_FILE_ENV` names,
never an sbatch argument or an environment value (``scontrol show job`` shows both), and is
removed once the process read it.

How the router learns where it listens: the job's output file, which the router reads, holds
the process's own ``READY <port>`` line, the same line a local process prints on its pipe, so
the server is unchanged and no other channel (a file the job must write, a port chosen in
advance that could be taken on the node) is needed. The host is the bind address when it is a
specific one (a single-node cluster's loopback), else the node ``squeue`` names, as the user
servers' batchspawner does. Stopping is ``scancel``.

How the job reaches the registry (where it reads the twin and records runs with the user's
token): at the URL user servers use (``Settings.jobs_registry_api_url``): the hub's loopback
on one machine, the public proxy when jobs may run on other nodes (``TWINHUB_HUB_CONNECT_HOST``),
where loopback is the node's own. The process talks to nothing else of the hub: the router
does the hub's OAuth and hands it the user's token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from twinhub.contracts.profile import SlurmResources

from .protocol import CONFIG_FILE_ENV, READY_LINE
from .registry import RegistryUnavailable, api_url
from .supervisor import MAX_LINE, Launch, StartFailed

log = logging.getLogger("twinhub.dashboards.slurmjobs")
JOB_PREFIX = "twinhub-app-"
"""Job names: ``twinhub-app-<twin>`` (what an operator sees in ``squeue``)."""
MAX_OUTPUT = 256 * 1024
"""Most bytes of a job's output read while looking for its READY line."""
POLL_SECONDS = 0.5
WATCH_SECONDS = 2.0
ENDED_STATES = frozenset(
    ("BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
     "PREEMPTED", "TIMEOUT")
)  # fmt: skip
PROFILE_CACHE_SECONDS = 30.0
_READY = re.compile(rf"{re.escape(READY_LINE)}(\d{{1,5}})")


def ready_port(output: bytes) -> int | None:
    """The port of the first ``READY <port>`` line of a job's output, None if there is none
    yet. Bounded whatever the job printed: at most :data:`MAX_OUTPUT` bytes are looked at,
    and a line longer than :data:`~.supervisor.MAX_LINE` (or not ending yet) never counts."""
    for raw in output[:MAX_OUTPUT].split(b"\n")[:-1]:  # the last piece is not a whole line
        if len(raw) > MAX_LINE:
            continue
        match = _READY.fullmatch(raw.decode(errors="replace").strip())
        if match and 0 < int(match.group(1)) < 65536:
            return int(match.group(1))
    return None


def tail(output: bytes, lines: int = 5, width: int = 300) -> str:
    """The last few lines of a job's output, bounded, for a 502's reason."""
    kept = [line[:width].decode(errors="replace") for line in output[-8192:].splitlines()]
    return " | ".join(line.strip() for line in kept[-lines:] if line.strip())


def sbatch_args(
    resources: SlurmResources,
    *,
    name: str,
    output: Path,
    chdir: str,
    partition: str = "",
    account: str = "",
    uid: int | None = None,
    gid: int | None = None,
) -> list[str]:
    """``sbatch`` options for a dashboard job with the profile's resources (the operator's
    partition and account where the profile names none, as for user servers)."""
    args = [
        "--parsable",
        f"--job-name={name}",
        f"--output={output}",
        f"--chdir={chdir}",
        f"--time={resources.time_limit}",
        "--ntasks=1",
        f"--cpus-per-task={resources.cores}",
        f"--mem={resources.memory}",
        "--export=ALL",
    ]
    if resources.partition or partition:
        args.append(f"--partition={resources.partition or partition}")
    if resources.account or account:
        args.append(f"--account={resources.account or account}")
    if uid is not None:
        args += [f"--uid={uid}", f"--gid={gid}"]
    return args


async def _run(*cmd: str, env: dict[str, str], timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return -1, "", f"{cmd[0]} did not answer within {timeout:.0f} s"
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@dataclass
class SlurmJob:
    """A twin's dashboard process in a Slurm job."""

    job_id: str
    host: str
    port: int
    directory: Path
    env: dict[str, str]
    runtime_key: str = ""
    ended: bool = False
    _gone: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def has_ended(self) -> bool:
        return self.ended

    async def state(self) -> str | None:
        """The job's state in ``squeue``; None once Slurm no longer lists it."""
        return await job_state(self.job_id, self.env)

    async def wait(self) -> int | None:
        """Wait until the job is gone from the queue (watched every few seconds)."""
        while not self.ended:
            state = await self.state()
            if state is None or state in ENDED_STATES:
                self.ended = True
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), WATCH_SECONDS)
        return None

    async def end(self, grace: float) -> None:
        """``scancel`` (Slurm signals the job, then kills it after its KillWait)."""
        await _run("scancel", self.job_id, env=self.env)
        deadline = time.monotonic() + grace + 10
        while time.monotonic() < deadline:
            state = await self.state()
            if state is None or state in ENDED_STATES:
                break
            await asyncio.sleep(POLL_SECONDS)
        self.ended = True
        self._gone.set()
        shutil.rmtree(self.directory, ignore_errors=True)

    async def drain(self) -> None:
        """Nothing to read: the job's output goes to its file."""


async def job_state(job_id: str, env: dict[str, str]) -> str | None:
    """``squeue``'s state of a job; None when it is no longer listed (ended, or forgotten)."""
    code, out, err = await _run("squeue", "-h", "-j", job_id, "-o", "%T", env=env)
    if code != 0:
        if "invalid job id" in err.lower():
            return None
        return "UNKNOWN"  # slurmctld busy: not taken for an end
    state = out.strip().splitlines()
    return state[0].strip() if state else None


async def job_summary(job_id: str, env: dict[str, str]) -> str:
    """How Slurm says a job ended (``scontrol show job``: its state, reason and exit code),
    while it still remembers the job; empty otherwise."""
    code, out, _ = await _run("scontrol", "-o", "show", "job", job_id, env=env)
    if code != 0:
        return ""
    fields = dict(f.split("=", 1) for f in out[:8192].split() if "=" in f)
    return ", ".join(f"{k} {fields[k]}" for k in ("JobState", "Reason", "ExitCode") if k in fields)


@dataclass
class _LikeTheLocalLauncher:
    """The router's view of a launcher (prefix, websocket origins, process keys) is the local
    launcher's: jobs run its command for the same twins."""

    local: Launch

    @property
    def prefix(self) -> str:
        return self.local.prefix

    @property
    def websocket_origins(self) -> list[str]:
        return self.local.websocket_origins

    def runtime_key(self, twin: str) -> str:
        return self.local.runtime_key(twin)


@dataclass
class SlurmLaunch(_LikeTheLocalLauncher):
    """Starts twins' processes as Slurm jobs, with the local launcher's command and account."""

    bind_ip: str = "127.0.0.1"
    slurm_conf: str = ""
    jobs_dir: Path = Path("dashboard-jobs")
    partition: str = ""
    account: str = ""
    registry_url: str = ""
    """The registry's API as the job reaches it (the process's ``TWINHUB_API_URL``):
    ``Settings.jobs_registry_api_url``, the public proxy's when jobs run on other nodes, as
    for user servers; empty: the router's own (the submit host's loopback)."""

    def job_env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {**self.local.env, **extra}
        if self.registry_url:
            env["TWINHUB_API_URL"] = self.registry_url
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        return env

    async def start(
        self, twin: str, config: dict[str, Any], timeout: float, resources: SlurmResources
    ) -> SlurmJob:
        runtime = await asyncio.to_thread(self.local.runtime_for, twin)
        ids = self.local.user_options(runtime.account)  # {} unless a root router switches
        uid, gid = ids.get("user"), ids.get("group")
        directory = await asyncio.to_thread(self._job_dir, twin, uid, gid)
        config_file = directory / "config.json"
        output = directory / "output"
        await asyncio.to_thread(
            _write_private, config_file, json.dumps({**config, "address": self.bind_ip}), uid, gid
        )
        home = runtime.home or self.local.cwd or ""
        home = home if home and os.path.isdir(home) else str(directory)
        env = self.job_env({CONFIG_FILE_ENV: str(config_file), "HOME": home})
        args = sbatch_args(
            resources,
            name=f"{JOB_PREFIX}{twin}",
            output=output,
            chdir=home,
            partition=self.partition,
            account=self.account,
            uid=uid,
            gid=gid,
        )
        wrap = "exec " + shlex.join(runtime.command)
        code, out, err = await _run("sbatch", *args, f"--wrap={wrap}", env=env)
        if code != 0 or not out.strip():
            shutil.rmtree(directory, ignore_errors=True)
            raise StartFailed(f"sbatch refused the job: {err.strip()[:500] or code}")
        job = SlurmJob(out.strip().split(";")[0], "", 0, directory, env, runtime.key)
        try:
            job.port, job.host = await asyncio.wait_for(self._ready(job, output), timeout)
        except BaseException:
            await job.end(0)
            raise
        with contextlib.suppress(OSError):
            config_file.unlink()  # read: the secret stays with the router and the process
        log.info("dashboard of %s is Slurm job %s at %s", twin, job.job_id, job.base)
        return job

    async def _ready(self, job: SlurmJob, output: Path) -> tuple[int, str]:
        """Wait for the READY line in the job's output; StartFailed if the job ends first."""
        checked = 0.0
        while True:
            data = await asyncio.to_thread(_read_head, output)
            port = ready_port(data)
            if port is not None:
                return port, await self._host(job)
            if time.monotonic() - checked > WATCH_SECONDS:
                checked = time.monotonic()
                state = await job.state()
                if state is None or state in ENDED_STATES:
                    data = await asyncio.to_thread(_read_head, output)
                    if (port := ready_port(data)) is not None:
                        return port, await self._host(job)
                    reason = tail(data) or await job_summary(job.job_id, job.env) or "no output"
                    raise StartFailed(f"Slurm job {job.job_id} ended ({state}): {reason}")
            await asyncio.sleep(POLL_SECONDS)

    async def _host(self, job: SlurmJob) -> str:
        if self.bind_ip not in ("0.0.0.0", "::", ""):
            return self.bind_ip
        code, out, _ = await _run("squeue", "-h", "-j", job.job_id, "-o", "%N", env=job.env)
        node = out.strip().split(",")[0] if code == 0 else ""
        if not node:
            raise StartFailed(f"Slurm job {job.job_id} names no node")
        return node

    def _job_dir(self, twin: str, uid: int | None, gid: int | None) -> Path:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.jobs_dir.chmod(0o711)  # each job's account reaches its own folder only
        directory = self.jobs_dir / f"{twin}-{secrets.token_hex(6)}"
        directory.mkdir(mode=0o700)
        if uid is not None:
            os.chown(directory, uid, gid)
        return directory


def _write_private(path: Path, text: str, uid: int | None, gid: int | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    if uid is not None:
        os.chown(path, uid, gid)


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(MAX_OUTPUT)
    except OSError:
        return b""  # not created yet (the job is pending)


ProfileSource = Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass
class ProfileLaunch(_LikeTheLocalLauncher):
    """Local processes, except for twins whose profile carries Slurm resources: jobs."""

    slurm: SlurmLaunch
    profile: ProfileSource
    """A profile by slug (the registry's record's ``profile``), None if there is none."""

    async def resources(self, manifest: dict[str, Any]) -> SlurmResources | None:
        """The Slurm resources of the twin's profile, None for a profile without them."""
        slug = manifest.get("profile") or "small"
        try:
            profile = await self.profile(str(slug))
        except RegistryUnavailable as e:
            raise StartFailed(f"its profile {slug!r} could not be read: {e}") from e
        if not profile or not profile.get("slurm"):
            return None
        return SlurmResources.model_validate(profile["slurm"])

    async def start(self, twin: str, config: dict[str, Any], timeout: float):
        resources = await self.resources(config.get("manifest") or {})
        if resources is None:
            return await self.local.start(twin, config, timeout)
        return await self.slurm.start(twin, config, timeout, resources)


class RegistryProfiles:
    """Profiles as the registry gives them to the router's own service token, remembered
    for :data:`PROFILE_CACHE_SECONDS` (a profile edited through the API applies to the next
    start after that). A profile restricted to groups is not the router's to see: its twins
    stay local."""

    def __init__(self, token: str):
        self.token = token
        self._answers: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def __call__(self, slug: str) -> dict[str, Any] | None:
        now = time.monotonic()
        cached = self._answers.get(slug)
        if cached is not None and now - cached[0] < PROFILE_CACHE_SECONDS:
            return cached[1]
        url = f"{api_url()}/profiles/{quote(slug, safe='')}"
        try:
            async with httpx.AsyncClient(timeout=15) as client:
                r = await client.get(url, headers={"Authorization": f"token {self.token}"})
        except httpx.HTTPError as e:
            raise RegistryUnavailable(str(e)) from e
        if r.status_code == 404:
            profile = None
        elif r.status_code != 200:
            raise RegistryUnavailable(f"{r.status_code} from the registry")
        else:
            profile = r.json().get("profile")
        if len(self._answers) > 1000:
            self._answers.clear()
        self._answers[slug] = (now, profile)
        return profile
