"""A twin's dashboard as a Slurm job (extensions/dashboards/slurmjobs.py): the READY line in
the job's output, whatever else the job prints, the job's sbatch options from its profile, and
which twins go to Slurm (issue 17 section 3), and the registry URL a job gets on a multi-node
cluster. The job itself: tests/hpc/test_slurm_profile.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from twinhub.contracts.profile import SlurmResources
from twinhub.contracts.settings import Settings
from twinhub.extensions.dashboards.router import launch_for
from twinhub.extensions.dashboards.slurmjobs import (
    MAX_OUTPUT,
    ProfileLaunch,
    SlurmLaunch,
    ready_port,
    sbatch_args,
    tail,
)
from twinhub.extensions.dashboards.supervisor import MAX_LINE, Launch
from twinhub.hub.services import server_registry_api_url


@pytest.mark.parametrize(
    ("output", "port"),
    [
        (b"READY 8123\n", 8123),
        (b"2026 INFO starting\nREADY 41000\nmore\n", 41000),
        (b"READY 8123", None),  # not a whole line yet
        (b"", None),
        (b"READY\n", None),
        (b"READY 0\n", None),
        (b"READY 70000\n", None),
        (b"READY 123456789012345678901234567890\n", None),
        (b"READY -5\nREADY abc\nREADY 12 13\n", None),
        (b"\xff\xfe READY 1\nREADY 2000\n", 2000),  # undecodable bytes: skipped, no crash
        (b"x" * (MAX_LINE + 1) + b"\nREADY 3000\n", 3000),
        (b"READY " + b"9" * (MAX_LINE + 10) + b"\n", None),
        (b"\n" * (MAX_OUTPUT + 1) + b"READY 4000\n", None),  # beyond what is read
    ],
)
def test_ready_port_of_hostile_job_output(output: bytes, port: int | None) -> None:
    assert ready_port(output) == port


def test_ready_port_is_linear_on_a_large_output() -> None:
    assert ready_port(b"a" * (50 * MAX_OUTPUT)) is None  # one unterminated line, bounded read
    assert ready_port(b"READY 9\n" * 100_000) == 9


def test_tail_is_bounded_text() -> None:
    text = tail(b"\xff" * 10_000 + b"\nTraceback\nValueError: bad twin\n" + b"y" * 5000)
    assert "ValueError: bad twin" in text and len(text) < 2000


def test_sbatch_args_carry_the_profiles_resources_and_the_operators_defaults(
    tmp_path: Path,
) -> None:
    resources = SlurmResources(time_limit="1:30:00", cores=2, memory_gib=1.5)
    args = sbatch_args(
        resources, name="twinhub-app-x", output=tmp_path / "out", chdir="/home/a",
        partition="interactive", account="", uid=1234, gid=1235,
    )  # fmt: skip
    assert "--time=1:30:00" in args and "--cpus-per-task=2" in args
    assert "--mem=1536M" in args and "--partition=interactive" in args
    assert "--uid=1234" in args and "--gid=1235" in args
    assert not any(a.startswith("--account") for a in args)
    own = SlurmResources(partition="twinhub", account="proj1")
    args = sbatch_args(own, name="n", output=tmp_path / "o", chdir="/", partition="other")
    assert "--partition=twinhub" in args and "--account=proj1" in args
    assert not any(a.startswith("--uid") for a in args)


PROFILES = {
    "small": {"slug": "small", "cpu": 1},
    "hpc-slurm": {"slug": "hpc-slurm", "slurm": {"cores": 2, "memory_gib": 3}},
}


async def _profile(slug: str):
    return PROFILES.get(slug)


def test_only_a_twin_whose_profile_has_slurm_resources_is_a_job() -> None:
    local = Launch(command=lambda twin: ["true"], env={})
    launch = ProfileLaunch(local, SlurmLaunch(local), _profile)

    def resources(manifest):
        return asyncio.run(launch.resources(manifest))

    assert resources({"profile": "small"}) is None
    assert resources({}) is None  # the manifest's default profile
    assert resources({"profile": "retired-or-hidden"}) is None
    assert resources({"profile": "hpc-slurm"}) == SlurmResources(cores=2, memory_gib=3)
    assert launch.prefix == local.prefix


def test_a_dashboard_job_reaches_the_registry_where_user_servers_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a multi-node cluster (docs/hpc.md, Network) a dashboard job runs on a compute node,
    whose loopback is its own: the job's TWINHUB_API_URL (where the process reads the twin and
    records the user's runs) is the public proxy's, as user servers' is; the router and local
    processes, on the hub's machine, keep loopback; on one node, so do jobs."""
    loopback = "http://127.0.0.1:8004/services/twinhub/api"
    monkeypatch.setenv("TWINHUB_API_URL", loopback)  # the router's, as the hub starts it
    one_node = {"TWINHUB_STATE_DIR": str(tmp_path), "TWINHUB_SLURM": "1"}
    multinode = Settings.from_env(
        {
            **one_node,
            "TWINHUB_IP": "10.1.0.5",
            "TWINHUB_HUB_BIND_IP": "10.1.0.5",
            "TWINHUB_HUB_CONNECT_HOST": "login1.cluster",
            "TWINHUB_SLURM_JOB_BIND_IP": "0.0.0.0",
        }
    )
    launch = launch_for(multinode, "/services/twinhub-apps/")
    job = launch.slurm.job_env({"HOME": "/home/x"})
    assert job["TWINHUB_API_URL"] == "http://10.1.0.5:8000/services/twinhub/api"
    assert job["TWINHUB_API_URL"] == server_registry_api_url(multinode)  # a server's
    assert launch.local.env["TWINHUB_API_URL"] == loopback
    single = launch_for(Settings.from_env(one_node), "/services/twinhub-apps/")
    assert single.slurm.job_env({})["TWINHUB_API_URL"] == loopback
