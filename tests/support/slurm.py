"""Start the project's Slurm cluster (``scripts/slurm-up.sh``) for tests, and read it.

The cluster is the one ``make slurm-up`` starts, in a directory of the test session, on free
loopback ports: tests see real ``sbatch``/``squeue``/``scancel``, never a stand-in. Given a
:class:`~tests.support.netns.Network`, the same script makes it a multi-node cluster: slurmctld
on the network's first host, one slurmd on each other host (a compute node), and the client
commands run on the controller's host.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil
from twinhub.contracts.settings import REPO_ROOT

from tests.support import netns
from tests.support.waiting import wait_for

SLURM_UP = REPO_ROOT / "scripts" / "slurm-up.sh"


PROCESS_END_TIMEOUT = 20
"""Seconds the processes of an ended job may take to go: the cluster's KillWait (5 s, from
TERM to KILL) plus slack for a loaded machine."""


class SlurmUnavailable(RuntimeError):
    """Slurm cannot run here at all (not root); tests skip with this message."""


@dataclass(frozen=True)
class Job:
    """One line of ``squeue``: what an operator sees of a job."""

    job_id: str
    name: str
    state: str
    cpus: int
    memory: str
    command: str
    partition: str = ""
    time_limit: str = ""
    nodes: str = ""
    """The node(s) the job runs on (empty while it is pending)."""


@dataclass
class SlurmCluster:
    """A running cluster: its directory and the environment its clients need."""

    directory: Path
    network: netns.Network | None = None
    """The hosts of a multi-node cluster (controller first); None: this machine, one node."""

    @property
    def nodes(self) -> list[str]:
        """The compute nodes' names (``NodeName``)."""
        return [h.name for h in self.network.hosts[1:]] if self.network else ["localhost"]

    @property
    def conf(self) -> Path:
        return self.directory / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Our environment plus SLURM_CONF, for sbatch/squeue/scancel and the gateway."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, input: str | None = None, timeout: float = 30) -> str:  # noqa: A002
        if self.network:  # the controller is reachable from its own host's network only
            cmd = netns.command(self.network.hub.name, cmd)
        result = subprocess.run(
            cmd, env=self.env, input=input, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def jobs(self) -> list[Job]:
        """Jobs pending or running, with the resources Slurm allocated to them."""
        out = self.run("squeue", "-h", "-o", "%i|%j|%T|%C|%m|%P|%l|%N|%o")
        jobs = []
        for line in out.splitlines():
            job_id, name, state, cpus, memory, partition, limit, nodes, command = line.split("|", 8)
            jobs.append(
                Job(job_id, name, state, int(cpus), memory, command, partition, limit, nodes)
            )
        return jobs

    def wait_for(self, predicate, timeout: float = 60, what: str = "the jobs") -> list[Job]:
        """Poll ``squeue`` until ``predicate(jobs)`` holds; fail naming what was awaited."""
        return wait_for(self.jobs, until=predicate, timeout=timeout, message=f"{what} (squeue)")

    @property
    def controller_port(self) -> str:
        """slurmctld's port: what tells this cluster's jobs from those of another on the machine."""
        match = re.search(r"^SlurmctldPort=(\d+)$", self.conf.read_text(), re.MULTILINE)
        if match is None:
            raise RuntimeError(f"{self.conf} names no SlurmctldPort")
        return match.group(1)

    def job_processes(
        self,
        job_ids: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        workdirs: Iterable[Path] = (),
    ) -> list[psutil.Process]:
        """Live processes of this cluster's jobs, whether Slurm still tracks them or not.

        A process belongs to a job by the SLURM_JOB_ID and SLURM_WORKING_CLUSTER
        (``name:host:port:...``, set by sbatch) it inherits: those of ``job_ids`` (default: any
        job) but not of ``exclude``. A process that titles itself (distributed does, with
        setproctitle) overwrites its environment with the title unless SPT_NOENV is set (our
        Dask jobs set it; a regression must not hide a leak), so any process working under
        one of ``workdirs`` (a gateway's Slurm staging directory) counts too, whatever its job.
        """
        wanted = None if job_ids is None else set(job_ids)
        excluded = set(exclude)
        roots = [str(d) for d in workdirs]
        port = self.controller_port
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue  # dead; only its parent (or init) has yet to reap it
                cwd = proc.cwd()
                env = proc.environ()
            except psutil.Error:
                continue
            if any(cwd == root or cwd.startswith(root + os.sep) for root in roots):
                found.append(proc)
                continue
            cluster = env.get("SLURM_WORKING_CLUSTER", "").split(":")
            if len(cluster) < 3 or cluster[2] != port or "SLURM_JOB_ID" not in env:
                continue
            job = env["SLURM_JOB_ID"]
            if (wanted is None or job in wanted) and job not in excluded:
                found.append(proc)
        return found

    def wait_processes_gone(
        self,
        job_ids: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        workdirs: Iterable[Path] = (),
        timeout: float = PROCESS_END_TIMEOUT,
        what: str = "the jobs",
    ) -> None:
        """Wait until :meth:`job_processes` finds none; fail naming the survivors, their job,
        command line and working directory."""
        job_ids = None if job_ids is None else list(job_ids)
        exclude, workdirs = list(exclude), list(workdirs)
        wait_for(
            lambda: [describe(p) for p in self.job_processes(job_ids, exclude, workdirs)],
            until=lambda survivors: not survivors,
            timeout=timeout,
            message=f"no process of {what} alive after their end",
        )

    def end_all_jobs(self, workdirs: Iterable[Path] = (), timeout: float = 60) -> None:
        """Cancel every job and wait until squeue is empty and no process of any job (or working
        under ``workdirs``) is left, so a test session leaves nothing behind; fail naming what
        outlived its job (and kill it)."""
        if ids := [j.job_id for j in self.jobs()]:
            self.run("scancel", *ids)
        self.wait_for(lambda jobs: not jobs, timeout, "all jobs ended")
        workdirs = list(workdirs)
        try:
            self.wait_processes_gone(workdirs=workdirs, what="all jobs")
        finally:
            for proc in self.job_processes(workdirs=workdirs):  # reported above; end them
                try:
                    proc.kill()
                except psutil.Error:
                    pass

    def node_state(self, node: str = "localhost") -> str:
        return self.run("sinfo", "-h", "-n", node, "-o", "%t").strip()

    def stop(self) -> None:
        _script("down", self.directory)


def staging_dirs(root: Path) -> list[Path]:
    """The Slurm staging directories (``<state>/dask-gateway/slurm``) of the gateways whose
    state directories are somewhere under ``root``: where Dask jobs work."""
    return sorted(root.glob("**/dask-gateway/slurm"))


def describe(proc: psutil.Process) -> str:
    """A process as a failure message shows it: pid, parent, job, command line and cwd."""
    try:
        with proc.oneshot():
            job = proc.environ().get("SLURM_JOB_ID")
            command = " ".join(proc.cmdline()).strip()  # a title is padded with spaces
            return f"pid {proc.pid} (ppid {proc.ppid()}, job {job}) {command!r} in {proc.cwd()}"
    except psutil.Error as exc:
        return f"pid {proc.pid} ({exc.__class__.__name__})"


def _script(
    action: str, directory: Path, network: netns.Network | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "TWINHUB_SLURM_DIR": str(directory)}
    if network:  # `down` reads these back from the cluster's directory
        env["TWINHUB_SLURM_CONTROLLER"] = f"{network.hub.name}:{network.hub.address}"
        env["TWINHUB_SLURM_NODES"] = " ".join(f"{h.name}:{h.address}" for h in network.hosts[1:])
        env["TWINHUB_SLURM_HOST_EXEC"] = str(netns.ON_HOST)
    return subprocess.run(
        ["bash", str(SLURM_UP), action], env=env, capture_output=True, text=True, timeout=600
    )


def start_slurm(directory: Path, network: netns.Network | None = None) -> SlurmCluster:
    """Start (installing Slurm if needed) the cluster in ``directory``, on this machine or on
    the hosts of ``network`` (which must exist); raise with its log."""
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            "the test Slurm cluster runs munged, slurmctld and slurmd as root (SlurmUser=root) "
            "and installs slurm-wlm with apt-get: run the HPC tests as root"
        )
    result = _script("up", directory, network)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/slurm-up.sh up failed:\n{result.stdout}\n{result.stderr}")
    return SlurmCluster(directory, network)
