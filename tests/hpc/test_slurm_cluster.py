"""The project's single-node Slurm cluster: the node is up and batch jobs really run."""

from __future__ import annotations

import os
import sys

import pytest
from twinhub.extensions.gateway_backends.slurm import batch_script

from tests.support.slurm import SlurmCluster
from tests.support.titled import IGNORING_TERM
from tests.support.waiting import wait_for

pytestmark = pytest.mark.hpc


def test_node_is_idle_with_the_machines_cpus(slurm: SlurmCluster) -> None:
    assert slurm.node_state() in ("idle", "mix")
    cpus = int(slurm.run("sinfo", "-h", "-n", "localhost", "-o", "%c").strip())
    assert cpus == os.cpu_count()


def test_batch_job_runs_and_writes_its_output(slurm: SlurmCluster, tmp_path) -> None:
    out = tmp_path / "job.out"
    script = (
        "#!/bin/bash\n"
        'echo "node=$SLURMD_NODENAME cpus=$SLURM_CPUS_PER_TASK"\n'
        # Gauss: 1 + 2 + ... + 100 = 5050, computed by the job's own Python
        'python3 -c "print(sum(range(1, 101)))"\n'
    )
    job_id = slurm.run(
        "sbatch",
        "--parsable",
        "--cpus-per-task=1",
        "--mem=64M",
        f"--output={out}",
        input=script,
    ).strip()
    assert job_id.isdigit()
    slurm.wait_for(lambda jobs: all(j.job_id != job_id for j in jobs), 60, f"end of job {job_id}")
    state = slurm.run("scontrol", "show", "job", job_id)
    assert "JobState=COMPLETED" in state and "ExitCode=0:0" in state
    assert out.read_text().split() == ["node=localhost", "cpus=1", "5050"]


def test_request_beyond_the_node_is_refused_with_a_reason(slurm: SlurmCluster) -> None:
    with pytest.raises(RuntimeError, match="More processors requested than permitted"):
        slurm.run("sbatch", "--cpus-per-task=512", "--wrap", "true")


def test_cancelled_dask_job_ends_processes_slurm_cannot_see_even_deaf_to_term(
    slurm: SlurmCluster, tmp_path
) -> None:
    # the Dask jobs' batch script around a titled process that ignores TERM, as is: with the
    # cluster's proctrack/linuxproc, slurmstepd signals neither it nor its child
    out = tmp_path / "job.out"
    script = batch_script("", [sys.executable, "-c", IGNORING_TERM], grace=2)
    job_id = slurm.run(
        "sbatch", "--parsable", "--mem=256M", f"--chdir={tmp_path}", f"--output={out}", input=script
    ).strip()
    wait_for(
        lambda: out.exists() and out.read_text().strip(),
        timeout=60,
        interval=0.2,
        message=f"job {job_id} starting its processes",
    )
    running = slurm.job_processes([job_id], workdirs=[tmp_path])
    assert int(out.read_text()) in {p.pid for p in running}  # found: the check below is real
    slurm.run("scancel", job_id)
    try:
        slurm.wait_for(lambda js: all(j.job_id != job_id for j in js), 30, f"end of {job_id}")
        slurm.wait_processes_gone([job_id], workdirs=[tmp_path], what=f"cancelled job {job_id}")
    finally:
        for proc in slurm.job_processes([job_id], workdirs=[tmp_path]):
            proc.kill()  # a survivor, reported above
