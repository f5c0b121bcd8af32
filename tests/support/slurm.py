"""Start the project's single-node Slurm cluster (``scripts/slurm-up.sh``) for tests, and read it.

The cluster is the one ``make slurm-up`` starts, in a directory of the test session, on free
loopback ports: tests see real ``sbatch``/``squeue``/``scancel``, never a stand-in.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from twinhub.hub.settings import REPO_ROOT

SLURM_UP = REPO_ROOT / "scripts" / "slurm-up.sh"


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


@dataclass
class SlurmCluster:
    """A running cluster: its directory and the environment its clients need."""

    directory: Path

    @property
    def conf(self) -> Path:
        return self.directory / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Our environment plus SLURM_CONF, for sbatch/squeue/scancel and the gateway."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, input: str | None = None, timeout: float = 30) -> str:  # noqa: A002
        result = subprocess.run(
            cmd, env=self.env, input=input, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def jobs(self) -> list[Job]:
        """Jobs pending or running, with the resources Slurm allocated to them."""
        out = self.run("squeue", "-h", "-o", "%i|%j|%T|%C|%m|%P|%l|%o")
        jobs = []
        for line in out.splitlines():
            job_id, name, state, cpus, memory, partition, limit, command = line.split("|", 7)
            jobs.append(Job(job_id, name, state, int(cpus), memory, command, partition, limit))
        return jobs

    def wait_for(self, predicate, timeout: float = 60, what: str = "the jobs") -> list[Job]:
        """Poll ``squeue`` until ``predicate(jobs)`` holds; fail naming what was awaited."""
        deadline = time.monotonic() + timeout
        jobs = self.jobs()
        while not predicate(jobs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not reached in {timeout}s; squeue: {jobs}")
            time.sleep(0.5)
            jobs = self.jobs()
        return jobs

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-n", "localhost", "-o", "%t").strip()

    def stop(self) -> None:
        _script("down", self.directory)


def _script(action: str, directory: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TWINHUB_SLURM_DIR": str(directory)}
    return subprocess.run(
        ["bash", str(SLURM_UP), action], env=env, capture_output=True, text=True, timeout=600
    )


def start_slurm(directory: Path) -> SlurmCluster:
    """Start (installing Slurm if needed) the cluster in ``directory``; raise with its log."""
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            "the test Slurm cluster runs munged, slurmctld and slurmd as root (SlurmUser=root) "
            "and installs slurm-wlm with apt-get: run the HPC tests as root"
        )
    result = _script("up", directory)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/slurm-up.sh up failed:\n{result.stdout}\n{result.stderr}")
    return SlurmCluster(directory)
