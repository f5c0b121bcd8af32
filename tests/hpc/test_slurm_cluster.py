"""The project's single-node Slurm cluster: the node is up and batch jobs really run."""

from __future__ import annotations

import os

import pytest

from tests.support.slurm import SlurmCluster

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
