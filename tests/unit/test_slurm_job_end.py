"""The batch script of Dask jobs ends every process of its job on SIGTERM, as slurmstepd sends it
on scancel or at the time limit, even processes Slurm's proctrack/linuxproc cannot see.

The script runs here under /bin/sh as the leader of its own process group, the way slurmstepd
starts a batch script, with real processes in place of Dask: one titled as distributed titles
its processes (a space in the name: what linuxproc skips), one that also ignores SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from twinhub.extensions.gateway_backends.slurm import batch_script

from tests.support.titled import IGNORING_TERM, SCHEDULER_LIKE
from tests.support.waiting import wait_for

GRACE = 1.5

SHELLS = {"sh": ["/bin/sh"], "bash-as-sh": ["bash", "--posix"]}
"""Debian's /bin/sh (dash) and bash in POSIX mode, the /bin/sh of RHEL-like sites."""


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest) -> list[str]:
    return SHELLS[request.param]


def start_job(
    tmp_path: Path, code: str, started: list[psutil.Process], shell: list[str]
) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """The batch script for ``python -c code`` as slurmstepd runs it; its shell and the two
    processes of the job, once they run (all three also added to ``started``)."""
    script = tmp_path / "slurm_script"
    script.write_text(batch_script("", [sys.executable, "-c", code], GRACE))
    out = tmp_path / "job.out"
    with out.open("w") as stdout:  # the job has its own copy
        job = subprocess.Popen(
            [*shell, str(script)], stdout=stdout, start_new_session=True, cwd=tmp_path
        )

    def printed() -> str:
        assert job.poll() is None, f"the job ended early ({job.returncode})"
        return out.read_text().strip()

    wait_for(printed, timeout=30, interval=0.05, message="the job's command printing its pid")
    shell = psutil.Process(job.pid)
    (command,) = shell.children()
    child = psutil.Process(int(out.read_text()))
    started += [command, child, shell]
    return job, [command, child]


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """Processes of the jobs a test starts; whatever a failing test leaves of them is killed."""
    procs: list[psutil.Process] = []
    yield procs
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


def alive(proc: psutil.Process) -> bool:
    """Running; a zombie is dead, whether or not its new parent (init) has reaped it yet."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(procs: list[psutil.Process], timeout: float) -> float:
    """Seconds until all of ``procs`` are gone; fail naming those still alive."""
    start = time.monotonic()
    wait_for(
        lambda: [p for p in procs if alive(p)],
        until=lambda left: not left,
        timeout=timeout,
        interval=0.05,
        message="every process of the job gone after the job's end",
    )
    return time.monotonic() - start


def test_the_title_slurm_linuxproc_cannot_read_is_what_distributed_sets(
    tmp_path: Path, started: list
) -> None:
    job, (command, _) = start_job(tmp_path, SCHEDULER_LIKE, started, SHELLS["sh"])
    # /proc/PID/stat's command name has a space: sscanf("%ld %s %c %ld") cannot read it
    stat = Path(f"/proc/{command.pid}/stat").read_text()
    job.send_signal(signal.SIGTERM)
    job.wait(10)
    assert stat.startswith(f"{command.pid} (dask scheduler )")


def test_sigterm_ends_the_command_and_its_children_before_the_grace_period(
    tmp_path: Path, started: list, shell: list[str]
) -> None:
    job, procs = start_job(tmp_path, SCHEDULER_LIKE, started, shell)
    job.send_signal(signal.SIGTERM)  # what slurmstepd sends to the batch script it tracks
    assert wait_gone(procs, timeout=GRACE + 5) < GRACE  # the command died of TERM at once
    assert job.wait(5) == -signal.SIGKILL  # then the shell killed what was left, itself too


def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, started: list, shell: list[str]
) -> None:
    job, procs = start_job(tmp_path, IGNORING_TERM, started, shell)
    job.send_signal(signal.SIGTERM)
    # the shell has sent TERM on and its grace period runs (its `sleep` timer)
    wait_for(
        lambda: [p for p in psutil.Process(job.pid).children(recursive=True) if alive(p)],
        until=lambda children: any(p.name() == "sleep" for p in children),
        timeout=10,
        interval=0.05,
        ignore=(psutil.NoSuchProcess,),
        message="the job's grace timer",
    )
    assert all(alive(p) for p in procs)  # the command ignored TERM
    assert wait_gone(procs, timeout=GRACE + 5) >= GRACE / 2
    assert job.wait(5) == -signal.SIGKILL


def test_a_command_ending_by_itself_gives_the_job_its_exit_status(
    tmp_path: Path, shell: list[str]
) -> None:
    script = tmp_path / "slurm_script"
    script.write_text(batch_script("echo setup", [sys.executable, "-c", "raise SystemExit(3)"], 3))
    done = subprocess.run([*shell, str(script)], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (3, "setup\n")
