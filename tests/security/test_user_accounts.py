"""Every hub user is a unix account of their own: tried from a real kernel of another user.

On the real gateway (run as root, as `make up` is on the embedded default), alice and bob each
start a server and a Dask cluster. From bob's kernel, what a curious or hostile user would try:
alice's home, every file of the platform's secrets and databases, ``/proc/<pid>/environ`` of
every process that is not bob's (other users' server tokens, the services' tokens). All fail.
Seen from the machine (psutil, as ``ps``), bob's server, kernel, scheduler and workers run as
bob's account; alice's notebook still computes on alice's own cluster.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from twinhub.extensions.registry.config import default_database

from tests.support.gateway import Gateway, Session
from tests.support.kernel import RemoteKernel

pytestmark = [
    pytest.mark.integration,
    pytest.mark.security,
    pytest.mark.skipif(os.geteuid() != 0, reason="unix accounts per user need a root platform"),
]

N = 200_000
CLUSTER_CODE = """
import json, os
from dask_gateway import GatewayCluster
cluster = GatewayCluster()
cluster.scale(1)
client = cluster.get_client()
client.wait_for_workers(1, timeout=180)
workers = client.run(lambda: (os.getpid(), os.getppid(), os.getuid()))
print(json.dumps({
    "name": cluster.name,
    "sum": client.submit(sum, range(N)).result(),
    "scheduler": client.run_on_scheduler(lambda: (os.getpid(), os.getuid())),
    "workers": list(workers.values()),
}))
""".replace("range(N)", f"range({N})")


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def _whoami(kernel: RemoteKernel) -> dict:
    return _last_json(
        kernel.execute(
            "import os, json, pwd; print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), "
            "'pid': os.getpid(), 'home': os.environ['HOME'], "
            "'name': pwd.getpwuid(os.getuid()).pw_name}))"
        ).stdout
    )


class User:
    """A logged-in user with a running server, a kernel in it and a Dask cluster."""

    def __init__(self, gateway: Gateway, name: str) -> None:
        self.session: Session = gateway.login(name)
        gateway.start_server(self.session)
        self.kernel = RemoteKernel(gateway.url, f"/user/{name}", self.session.token)
        self.who = _whoami(self.kernel)
        self.cluster = _last_json(self.kernel.execute(CLUSTER_CODE).stdout)


@pytest.fixture(scope="module")
def alice(gateway: Gateway) -> Iterator[User]:
    user = User(gateway, "sec-alice")
    user.kernel.execute("open(os.path.join(os.environ['HOME'], 'diary.txt'), 'w').write('private')")
    yield user
    user.kernel.execute("cluster.shutdown()")
    user.kernel.close()


@pytest.fixture(scope="module")
def bob(gateway: Gateway) -> Iterator[User]:
    user = User(gateway, "sec-bob")
    yield user
    user.kernel.execute("cluster.shutdown()")
    user.kernel.close()


def _attempts(kernel: RemoteKernel, paths: list[str]) -> dict[str, str]:
    """Read each path (a file: its first byte; a folder: its listing) from the kernel; what
    came back for each: 'read' or the error's name."""
    code = f"""
import json, os
outcome = {{}}
for path in {paths!r}:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, 'rb') as f:
                f.read(1)
        outcome[path] = 'read'
    except OSError as e:
        outcome[path] = type(e).__name__
print(json.dumps(outcome))
"""
    return _last_json(kernel.execute(code).stdout)


def test_each_user_runs_as_an_account_of_their_own(alice: User, bob: User) -> None:
    prefix = os.environ["TWINHUB_ACCOUNT_PREFIX"]
    for user in (alice, bob):
        assert user.who["uid"] != 0 and user.who["gid"] != 0
        assert user.who["name"].startswith(prefix)
        home = Path(user.who["home"])
        assert home.stat().st_uid == user.who["uid"]
        assert home.stat().st_mode & 0o777 == 0o700
    assert alice.who["uid"] != bob.who["uid"]


def test_bob_cannot_read_alices_home(alice: User, bob: User) -> None:
    home = alice.who["home"]
    outcome = _attempts(bob.kernel, [home, f"{home}/diary.txt"])
    assert outcome == {home: "PermissionError", f"{home}/diary.txt": "PermissionError"}


def test_bob_cannot_read_the_platforms_secrets_and_databases(gateway: Gateway, bob: User) -> None:
    state = gateway.settings.state_dir
    private = [
        p
        for p in state.rglob("*")
        if p.is_file()
        and not p.is_relative_to(state / "data")
        and not p.is_relative_to(state / "users")
        and not p.is_relative_to(state / "dask-gateway" / "clusters")
    ]
    names = {p.name for p in private}
    # what must be among them: every secret, both databases, the hub's cookie secret
    assert {"proxy_auth_token", "gateway_api_token", "admin_password"} <= names
    assert {"jupyterhub.sqlite", "registry.sqlite", "gateway.sqlite"} <= names
    assert "jupyterhub_cookie_secret" in names
    outcome = _attempts(bob.kernel, [str(p) for p in private] + [str(state / "secrets")])
    readable = [path for path, what in outcome.items() if what == "read"]
    assert not readable, f"bob read the platform's {readable}"


def test_bob_cannot_read_the_environment_of_any_process_not_his(bob: User) -> None:
    code = """
import json, os
uid = os.getuid()
read, own = [], 0
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        if os.stat(f'/proc/{pid}').st_uid == uid:
            own += 1
            continue
        with open(f'/proc/{pid}/environ', 'rb') as f:
            if f.read(1):
                read.append(int(pid))
    except OSError:
        pass
print(json.dumps({'read': read, 'own': own}))
"""
    result = _last_json(bob.kernel.execute(code).stdout)
    assert result["own"] >= 2  # his server and kernel at least: the check saw processes
    others = []
    for pid in result["read"]:
        try:
            others.append((pid, psutil.Process(pid).username(), psutil.Process(pid).name()))
        except psutil.Error:
            pass  # gone since
    assert not others, f"bob read the environment of {others}"


def test_no_platform_token_reaches_a_users_environment(gateway: Gateway, bob: User) -> None:
    env = _last_json(bob.kernel.execute("print(json.dumps(dict(os.environ)))").stdout)
    secrets = {p.read_text().strip() for p in gateway.secrets_dir.iterdir()}
    # and every token the hub handed its services (held in their own environments)
    for p in gateway.descendants():
        try:
            if p.uids().real == bob.who["uid"]:
                continue
            theirs = p.environ()
        except psutil.Error:
            continue
        for key in ("JUPYTERHUB_API_TOKEN", "CONFIGPROXY_AUTH_TOKEN"):
            if theirs.get(key):
                secrets.add(theirs[key])
    leaked = sorted(key for key, value in env.items() if value in secrets)
    assert not leaked, f"platform tokens in bob's environment: {leaked}"


def test_ps_shows_bobs_server_kernel_scheduler_and_workers_as_bob(
    gateway: Gateway, bob: User
) -> None:
    uid = bob.who["uid"]
    name = pwd.getpwuid(uid).pw_name
    assert uid != 0 and name.startswith(os.environ["TWINHUB_ACCOUNT_PREFIX"])
    kernel = psutil.Process(bob.who["pid"])
    server = next(p for p in kernel.parents() if "jupyterhub-singleuser" in " ".join(p.cmdline()))
    scheduler_pid, scheduler_uid = bob.cluster["scheduler"]
    assert scheduler_uid == uid
    processes = {"server": server, "kernel": kernel, "scheduler": psutil.Process(scheduler_pid)}
    for n, (worker, nanny, worker_uid) in enumerate(bob.cluster["workers"]):
        assert worker_uid == uid
        processes[f"worker {n}"] = psutil.Process(worker)
        processes[f"nanny {n}"] = psutil.Process(nanny)
    owners = {what: p.uids() for what, p in processes.items()}
    assert all(ids.real == ids.effective == uid for ids in owners.values()), owners
    assert {p.username() for p in processes.values()} == {name}


def test_alices_notebook_still_runs_on_her_own_cluster(alice: User, bob: User) -> None:
    assert alice.who["uid"] not in (0, bob.who["uid"])
    assert alice.cluster["sum"] == N * (N - 1) // 2
    assert alice.cluster["name"] != bob.cluster["name"]
    out = _last_json(
        alice.kernel.execute(
            "print(json.dumps({'sum': client.submit(sum, range(1000)).result(), "
            "'uid': client.run_on_scheduler(os.getuid)}))"
        ).stdout
    )
    assert out == {"sum": 499500, "uid": alice.who["uid"]}


def test_the_dashboards_run_as_an_account_that_is_not_root(gateway: Gateway) -> None:
    """The platform's twins' code runs in dashboard processes of the dashboards' account; the
    router in front of them (which holds the service's hub token) runs as the platform, out of
    their reach. (A published twin's runs as its owner: tests/integration/registry/
    test_registry_publish.py; other tests of this session may have opened one.)"""
    with gateway.client(cookies=gateway.login("dora").cookies) as c:
        assert c.get("/services/twinhub-apps/lattice", follow_redirects=True).status_code == 200
    twins = gateway.twin_processes("lattice")
    assert twins
    for process in twins:
        assert process.uids().real != 0
        assert process.username() == gateway.settings.apps_account


@pytest.mark.parametrize(
    "module",
    # the registry too: publishing builds run in the executor (issue 16 section 1)
    ["twinhub.extensions.registry", "twinhub.extensions.gateway_front", "jupyterhub_idle_culler"],
)
def test_services_that_need_no_root_run_as_the_platform_account(
    gateway: Gateway, module: str
) -> None:
    (service,) = [p for p in gateway.descendants() if module in " ".join(p.cmdline())]
    assert 0 not in service.uids()
    assert service.username() == gateway.settings.platform_account


def test_the_registry_database_belongs_to_the_platform_only(gateway: Gateway) -> None:
    database = default_database(gateway.settings.state_dir)
    platform = {0, pwd.getpwnam(gateway.settings.platform_account).pw_uid}
    for path in (database, database.parent):
        assert path.stat().st_uid in platform, path
        assert path.stat().st_mode & 0o077 == 0, oct(path.stat().st_mode)


def test_bob_cannot_open_alices_dashboard_on_the_gateways_own_port(
    gateway: Gateway, alice: User, bob: User
) -> None:
    """Past the front, on loopback: the gateway's HTTP proxy and the scheduler refuse (403) a
    dashboard request without the cluster's key, which only the front adds."""
    port = gateway.settings.gateway_http_port
    url = f"http://127.0.0.1:{port}/services/dask-gateway/clusters/{alice.cluster['name']}/status"
    code = f"""
import urllib.request, urllib.error
try:
    print(urllib.request.urlopen({url!r}, timeout=30).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""
    assert bob.kernel.execute(code).stdout.strip().splitlines()[-1] == "403"
