"""Slurm per profile (TWINHUB_SLURM=1): one hub where the `hpc-slurm` profile's servers and
Dask workers are Slurm jobs while the default profile's servers stay local processes."""

from __future__ import annotations

import getpass
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from twinhub.extensions.accounts import ensure_account, home_dir_template

from tests.hpc.conftest import hpc_server, run_in_kernel, start_profile_gateway
from tests.support.gateway import Gateway, Session
from tests.support.publishing import as_user, user_home
from tests.support.slurm import Job, SlurmCluster
from tests.unit.twins.test_lattice import exact_4x4

pytestmark = [pytest.mark.hpc, pytest.mark.integration]

SERVER_JOB = "spawner-jupyterhub"
DASK_JOB = "dask-gateway"
# what the operator sets for the centre's interactive partition, through the registry's API
HPC_RESOURCES = {"partition": "twinhub", "time_limit": "1:30:00", "cores": 2, "memory_gib": 1.5}
LATTICE = {
    "sizes": [4],
    "temperatures": [2.5],
    "sweeps": 10000,
    "algorithm": "wolff",
    "replicas": 2,
}

# a scientist's cell in the twinhub kernel: the lattice twin on the session's cluster()
TWIN_ON_CLUSTER = f"""
import json, os
from twinhub.twins.lattice.model import run
c = cluster()
c.scale(1)
client = c.get_client()
client.wait_for_workers(1, timeout=180)
ds = run(None, {LATTICE!r}).sel(size=4, temperature=2.5)
worker_jobs = client.run(lambda: os.environ.get("SLURM_JOB_ID"))
c.shutdown()
print(json.dumps({{
    "server_job": os.environ.get("SLURM_JOB_ID"),
    "gateway": os.environ["DASK_GATEWAY__ADDRESS"],
    "worker_jobs": sorted(str(j) for j in worker_jobs.values()),
    "observables": {{k: [float(ds[k]), float(ds[k + "_error"])]
                    for k in ("abs_magnetisation", "energy", "binder")}},
}}))
"""


def jobs_named(slurm: SlurmCluster, name: str) -> list[Job]:
    return [j for j in slurm.jobs() if j.name == name]


@pytest.fixture(scope="module")
def gw(slurm: SlurmCluster, tmp_path_factory, artifacts_dir) -> Iterator[Gateway]:
    gateway = start_profile_gateway(
        slurm, tmp_path_factory.mktemp("profile-state"), artifacts_dir / "hpc-profile.log"
    )
    try:
        admin = gateway.login("admin", gateway.admin_password)
        with gateway.client(headers=admin.headers) as c:
            path = "/services/twinhub/api/profiles/hpc-slurm"
            profile = c.get(path).json()["profile"]
            # the profile offers what its job holds (the registry checks it)
            resized = {**profile, "cpu": 2, "memory": "1536M", "slurm": HPC_RESOURCES}
            r = c.put(path, json=resized)
            assert r.status_code == 200, r.text
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def alice(gw: Gateway) -> Iterator[Session]:
    """Alice's server on the hpc-slurm profile (a Slurm job)."""
    with hpc_server(gw, "alice", timeout=120) as user:
        yield user


@pytest.fixture(scope="module")
def bob(gw: Gateway) -> Iterator[Session]:
    """Bob's server on the default profile (a local process), in the same hub."""
    user = gw.login("bob")
    gw.start_server(user, timeout=120)
    yield user
    gw.stop_server(user)


ENV_CODE = "import json, os; print(json.dumps({'job': os.environ.get('SLURM_JOB_ID')}))"


def test_hpc_profile_server_is_a_job_with_the_profiles_resources_and_default_is_local(
    gw: Gateway, alice: Session, bob: Session, slurm: SlurmCluster
) -> None:
    (job,) = jobs_named(slurm, SERVER_JOB)  # alice's only: bob's server is no job
    assert (job.state, job.cpus, job.memory) == (
        "RUNNING",
        2,
        "1.50G",
    )  # 1536M, as squeue prints it
    assert (job.partition, job.time_limit) == ("twinhub", "1:30:00")
    assert run_in_kernel(gw, alice, ENV_CODE)["job"] == job.job_id
    assert run_in_kernel(gw, bob, ENV_CODE)["job"] is None
    # this hub offers the profile in the spawn form
    with gw.client(cookies=bob.cookies) as c:
        assert 'value="hpc-slurm"' in c.get(f"/hub/spawn/{bob.name}/second").text


def test_twin_runs_on_slurm_workers_with_the_local_backends_result(
    gw: Gateway, alice: Session, bob: Session, slurm: SlurmCluster
) -> None:
    on_slurm = run_in_kernel(gw, alice, TWIN_ON_CLUSTER)
    on_local = run_in_kernel(gw, bob, TWIN_ON_CLUSTER)
    # alice's cluster came from the Slurm gateway and its worker was a Slurm job
    assert on_slurm["gateway"].endswith("/services/dask-gateway-slurm")
    (worker_job,) = on_slurm["worker_jobs"]
    assert worker_job.isdigit() and worker_job != on_slurm["server_job"]
    # bob's came from the local gateway, with workers that are plain processes
    assert on_local["gateway"].endswith("/services/dask-gateway")
    assert on_local["worker_jobs"] == ["None"]
    # same seeds, same numbers, wherever the replicas ran
    assert on_slurm["observables"] == on_local["observables"]
    # and the numbers are right: exhaustive enumeration of the 4x4 Ising model's 65536 states
    for name, exact in exact_4x4(2.5).items():
        value, error = on_slurm["observables"][name]
        assert error < 0.01 and abs(value - exact) < 4 * error, (name, value, exact, error)
    # shutting the cluster down cancelled its Slurm jobs and ended their processes
    slurm.wait_for(lambda js: not any(j.name == DASK_JOB for j in js), 60, "dask jobs gone")
    slurm.wait_processes_gone(
        exclude=[on_slurm["server_job"]],
        workdirs=[gw.slurm_staging_dir],
        what="the shut-down cluster's scheduler and worker",
    )


def test_stopping_the_hpc_server_cancels_its_server_and_worker_jobs(
    gw: Gateway, alice: Session, slurm: SlurmCluster
) -> None:
    # a cluster left running when the notebook's kernel goes away (shutdown_on_close=False)
    code = (
        "c = cluster(shutdown_on_close=False); c.scale(1); "
        "c.get_client().wait_for_workers(1, timeout=180); print('{}')"
    )
    run_in_kernel(gw, alice, code)
    jobs = slurm.wait_for(
        lambda js: sum(j.name == DASK_JOB and j.state == "RUNNING" for j in js) == 2,
        90,
        "scheduler and worker jobs running",
    )
    assert jobs_named(slurm, SERVER_JOB)
    gw.stop_server(alice)
    slurm.wait_for(
        lambda js: not any(j.name in (SERVER_JOB, DASK_JOB) for j in js),
        60,
        "server, scheduler and worker jobs cancelled",
    )
    ours = {j.job_id for j in jobs if j.name in (SERVER_JOB, DASK_JOB)}
    slurm.wait_processes_gone(
        ours, workdirs=[gw.slurm_staging_dir], what="the stopped server's jobs"
    )


APP_JOB = "twinhub-app-flood"
TWIN_API = "/services/twinhub/api/twins/flood"


def app_jobs(slurm: SlurmCluster) -> list[tuple[str, str, str]]:
    """The flood dashboard's jobs: (id, user, state)."""
    out = slurm.run("squeue", "-h", "-n", APP_JOB, "-o", "%i|%u|%T")
    return [tuple(line.split("|", 2)) for line in out.splitlines() if line.strip()]


def test_a_twin_on_the_hpc_profile_has_its_dashboard_as_a_slurm_job(
    gw: Gateway, slurm: SlurmCluster
) -> None:
    """Issue 17 section 3: the twin's profile says Slurm, so its dashboard is a job of the
    account a local process would run as; the router forwards to it and scancels it when
    the twin goes back to a local profile."""
    admin = gw.login("admin", gw.admin_password)
    with gw.client(headers=admin.headers) as c:
        manifest = c.get(TWIN_API).json()["manifest"]
        r = c.put(TWIN_API, json={**manifest, "profile": "hpc-slurm"})
        assert r.status_code == 200, r.text
    with gw.client(cookies=gw.login("carol").cookies) as c:
        page = c.get("/services/twinhub-apps/flood", follow_redirects=True, timeout=180)
        assert page.status_code == 200, page.text[:500]
    expected = gw.settings.apps_account if gw.settings.user_accounts else getpass.getuser()
    ((job_id, user, state),) = app_jobs(slurm)
    assert (user, state) == (expected, "RUNNING")
    assert not gw.twin_processes("flood")  # no local process serves it
    with gw.client(headers=admin.headers) as c:
        assert c.put(TWIN_API, json=manifest).status_code == 200  # back to its own profile
    # a visitor whose lookup sees the new manifest: the job is cancelled, a local one serves
    with gw.client(cookies=gw.login("dave").cookies) as c:
        page = c.get("/services/twinhub-apps/flood", follow_redirects=True, timeout=180)
        assert page.status_code == 200, page.text[:500]
    slurm.wait_for(lambda js: not any(j.name == APP_JOB for j in js), 60, "the app job gone")
    slurm.wait_processes_gone([job_id], what="the dashboard job's processes")
    assert gw.twin_processes("flood")


PUBLISHED = "erins-hpc-twin"


@pytest.mark.skipif(
    os.environ.get("TWINHUB_TEST_HPC_PUBLISH") != "1",
    reason="a real publish (uv build and the twin's test): in `make test-hpc` "
    "(TWINHUB_TEST_HPC_PUBLISH=1), not `make test`",
)
def test_a_published_twin_on_the_hpc_profile_is_a_slurm_job_of_its_owner(
    gw: Gateway, slurm: SlurmCluster
) -> None:
    """Issue 17 sections 3-4: erin publishes a twin whose manifest names the hpc-slurm profile;
    its dashboard is a Slurm job submitted as her unix account (the one its build ran as and
    that owns its version's folder, which no one else may read), running its served version's
    environment in her home, without platform tokens, reaching the registry."""
    erin = gw.login("erin")
    home = user_home(gw, "erin")
    made = as_user(gw, erin, "new", PUBLISHED, cwd=home)
    assert made.returncode == 0, made.stderr
    manifest = home / PUBLISHED / "twin.yaml"
    manifest.write_text(manifest.read_text().replace("profile: small", "profile: hpc-slurm"))
    published = as_user(gw, erin, "publish", cwd=home / PUBLISHED)
    assert "version 1 is served" in published.stdout, published.stdout + published.stderr

    with gw.client(cookies=erin.cookies) as c:
        page = c.get(f"/services/twinhub-apps/{PUBLISHED}", follow_redirects=True, timeout=180)
        assert page.status_code == 200, page.text[:500]
    s = gw.settings
    owner = None
    if os.geteuid() == 0:
        owner = ensure_account(s.state_dir, s.account_prefix, home_dir_template(s), "erin")
        account, uid = owner.name, owner.uid
    else:  # one account runs everything
        account, uid = getpass.getuser(), os.getuid()
    out = slurm.run("squeue", "-h", "-n", f"twinhub-app-{PUBLISHED}", "-o", "%i|%u|%T")
    ((job_id, user, state),) = [line.split("|", 2) for line in out.splitlines() if line]
    assert (user, state) == (account, "RUNNING")
    assert not gw.twin_processes(PUBLISHED)  # no local process serves it
    (process,) = [
        p for p in slurm.job_processes([job_id]) if PUBLISHED in p.cmdline()
    ]  # the dashboard server, as the job's own process
    assert process.uids().real == process.uids().effective == uid
    version = s.state_dir / "published" / PUBLISHED / "1"
    assert process.cmdline()[0] == str(version / "env" / "bin" / "python")
    environment = process.environ()
    assert not [k for k in environment if k.startswith("JUPYTERHUB_API")]
    assert environment["TWINHUB_API_URL"] == s.jobs_registry_api_url
    (job_dir,) = (s.state_dir / "dashboard-jobs").glob(f"{PUBLISHED}-*")
    assert job_dir.stat().st_uid == uid and stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    if os.geteuid() == 0:
        assert process.cwd() == owner.home and environment["HOME"] == owner.home
        frank = ensure_account(s.state_dir, s.account_prefix, home_dir_template(s), "frank")
        assert_private_to(version, owner, frank)

    slurm.run("scancel", job_id)  # (the router starts it again on the next visit)
    slurm.wait_processes_gone([job_id], what="the published twin's dashboard job")


def assert_private_to(version: Path, owner, other) -> None:
    """The version's folder is the owner's (the build log, root's, aside) and closed to others:
    ``other`` (another hub user's account) reads none of its files (code, environment,
    data), trying as that account."""
    files = []
    for path in [version, *version.rglob("*")]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or path == version / "build.log":
            continue  # links are not followed; the build log is root's
        assert info.st_uid == owner.uid, path
        if stat.S_ISREG(info.st_mode):
            files.append(str(path))
    assert not version.stat().st_mode & 0o007, oct(version.stat().st_mode)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], input="\n".join(files),
        user=other.uid, group=other.gid, extra_groups=[],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert len(files) > 10  # the code, its data, its environment
    assert probe.returncode == 0 and not probe.stdout.split(), probe.stdout + probe.stderr


PROBE = """
import sys
for path in sys.stdin.read().splitlines():
    try:
        open(path, "rb").read(1)
        print("read:" + path)
    except OSError:
        pass
"""
