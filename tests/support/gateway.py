"""Start the real gateway (launcher, hub, proxy, dask-gateway) for tests, and talk to it.

The gateway runs exactly as `make up` runs it (``python -m twinhub.hub.launch`` with the
platform's environment's interpreter, this venv as the twin runtime), on free loopback ports and
in a temporary state directory, so tests exercise the shipped config.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from twinhub.contracts.settings import Settings
from twinhub.extensions.runtimes import platform_python
from twinhub.hub.proxy import hub_routed
from twinhub.hub.targets.slurm import slurm_staging_root

from tests.support import netns
from tests.support.waiting import WaitTimeout, wait_for

TWIN_PACKAGES = Path(__file__).parent / "twin_packages"
"""Twin packages of the tests (hostile twins), on the test gateways' ``PYTHONPATH``."""


def free_ports(n: int) -> list[int]:
    """n distinct ports that are free right now on loopback."""
    sockets, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def launcher_command(*args: str) -> list[str]:
    """`make up`'s command: the launcher with the platform's environment's interpreter (next to
    this venv when `make install` built it; else this one, a single environment)."""
    return [str(platform_python()), "-m", "twinhub.hub.launch", *args]


def launcher_env(state_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with a state directory and a free loopback port for every
    port setting (``Settings.ports``: hub, proxy, services, every gateway), then ``extra``."""
    env = dict(os.environ, TWINHUB_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1")
    # as `make up`: this venv (the tests' own) is the twin runtime, the launcher and its
    # services run from the platform's environment (launcher_command)
    env.setdefault("TWINHUB_TWIN_PYTHON", sys.executable)
    # hostile twins' code for the dashboard isolation tests (imported only by their processes)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(TWIN_PACKAGES), os.environ.get("PYTHONPATH", "")) if p
    )
    names = Settings.from_env({}).ports
    env.update({var: str(port) for var, port in zip(names, free_ports(len(names)), strict=True)})
    env.update(extra or {})
    return env


@dataclass
class Session:
    """A logged-in user: cookies of the browser login plus an API token."""

    name: str
    token: str
    cookies: httpx.Cookies

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


@dataclass
class Gateway:
    """A running gateway started by :func:`start_gateway`."""

    settings: Settings
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str]
    seen_pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def secrets_dir(self) -> Path:
        return self.settings.state_dir / "secrets"

    def secret(self, name: str) -> str:
        return (self.secrets_dir / name).read_text().strip()

    @property
    def slurm_staging_dir(self) -> Path:
        """Where the Slurm backend's Dask jobs work (one directory per user and cluster)."""
        return slurm_staging_root(self.settings)

    @property
    def user_password(self) -> str:
        return self.secret("user_password")

    @property
    def admin_password(self) -> str:
        return self.secret("admin_password")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    # --- the browser login, done over HTTP ------------------------------------------------
    def login_response(self, name: str, password: str) -> httpx.Response:
        """POST the hub's login form as a browser does (with its XSRF token)."""
        with self.client() as c:
            page = c.get("/hub/login")
            page.raise_for_status()
            xsrf = c.cookies.get("_xsrf")
            response = c.post(
                "/hub/login",
                data={"username": name, "password": password, "_xsrf": xsrf},
                follow_redirects=False,
            )
            response.extensions["cookies"] = httpx.Cookies(c.cookies)
            return response

    def login(self, name: str, password: str | None = None) -> Session:
        """Log in through the form, then create an API token with the login cookie."""
        password = password or self.user_password
        response = self.login_response(name, password)
        assert response.status_code == 302, f"login of {name} failed: {response.status_code}"
        cookies = response.extensions["cookies"]
        with self.client(cookies=cookies) as c:
            r = c.post(
                f"/hub/api/users/{name}/tokens",
                json={"note": "tests", "expires_in": 3600},
                headers={"X-XSRFToken": cookies.get("_xsrf") or ""},
            )
            r.raise_for_status()
            return Session(name=name, token=r.json()["token"], cookies=cookies)

    # --- servers ---------------------------------------------------------------------------
    def start_server(
        self, user: Session, server: str = "", timeout: float = 120, options: dict | None = None
    ) -> dict:
        """Start a user's (named) server through the REST API and wait until it is ready;
        ``options`` are the spawn's user_options (e.g. ``{"profile": "hpc-slurm"}``)."""
        path = (
            f"/hub/api/users/{user.name}/servers/{server}"
            if server
            else (f"/hub/api/users/{user.name}/server")
        )
        with self.client(headers=user.headers) as c:
            r = c.post(path, json=options or {})
            assert r.status_code in (201, 202), f"spawn failed: {r.status_code} {r.text}"
            return wait_for(
                lambda: c.get(f"/hub/api/users/{user.name}").json()["servers"].get(server),
                until=lambda info: info and info["ready"],
                timeout=timeout,
                message=f"server {user.name}/{server} ready",
            )

    def stop_server(self, user: Session, server: str = "", timeout: float = 60) -> None:
        path = (
            f"/hub/api/users/{user.name}/servers/{server}"
            if server
            else (f"/hub/api/users/{user.name}/server")
        )
        with self.client(headers=user.headers) as c:
            r = c.delete(path)
            assert r.status_code in (202, 204), f"stop failed: {r.status_code} {r.text}"
            wait_for(
                lambda: c.get(f"/hub/api/users/{user.name}").json()["servers"],
                until=lambda servers: server not in servers,
                timeout=timeout,
                message=f"server {user.name}/{server} stopped",
            )

    def up(self) -> bool:
        """The hub, Dask Gateway and the registry answer through the proxy (asked only once
        the hub has its route there, as the launcher does: no errors in the proxy's log)."""
        try:
            token = self.secret("proxy_auth_token")
        except OSError:  # the launcher has not written its secrets yet
            return False
        if not hub_routed(self.settings, token):
            return False
        try:
            return (
                httpx.get(f"{self.url}/hub/health", timeout=2).status_code == 200
                and _gateway_service_up(self)
                and _registry_service_up(self)
            )
        except httpx.HTTPError:
            return False

    def wait_until_up(self, timeout: float) -> None:
        """Wait for :meth:`up` (at start, or after the launcher restarted the hub)."""

        def up_while_running() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited ({self.process.returncode}):\n{self.log()}")
            return self.up()

        try:
            wait_for(up_while_running, timeout=timeout, message="hub, gateway and registry up")
        except WaitTimeout as e:
            raise WaitTimeout(f"{e}:\n{self.log()}") from None

    # --- processes -------------------------------------------------------------------------
    def descendants(self) -> list[psutil.Process]:
        try:
            procs = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []
        self.seen_pids.update(p.pid for p in procs)
        return procs

    def twin_processes(self, twin: str) -> list[psutil.Process]:
        """The dashboard processes of ``twin`` (their command line names it)."""
        found = []
        for p in self.descendants():
            try:
                argv = p.cmdline()
            except psutil.Error:  # ended meanwhile
                continue
            if "twinhub.extensions.dashboards.server" in argv and argv[-1] == twin:
                found.append(p)
        return found

    def stop(self, timeout: float = 150) -> int:
        """Stop as Ctrl-C does; return the launcher's exit status."""
        self.descendants()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def survivors(self) -> list[psutil.Process]:
        """Processes started under this gateway that are still alive."""
        alive = []
        for pid in self.seen_pids:
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.Error:
                pass
        return alive


START_TIMEOUT = 180
"""Seconds to wait for hub, registry and Dask Gateway: generous, since a loaded 2-core machine
imports the services' twin code slowly (the hub itself waits up to 120 s for each service)."""


def start_gateway(
    state_dir: Path,
    log_path: Path,
    extra_env: dict | None = None,
    ignore_sigint: bool = False,
    hub_args: list[str] | None = None,
    host: str | None = None,
    start_timeout: float = START_TIMEOUT,
) -> Gateway:
    """Start the launcher with free ports in ``state_dir`` and wait until the hub answers.

    ``ignore_sigint`` starts it the way a script starts a background job: with SIGINT ignored,
    a disposition that children inherit unless the launcher resets it. ``hub_args`` are
    JupyterHub options, passed on by the launcher (e.g. ``--JupyterHub.service_check_interval=1``).
    ``host`` starts it on a host of a :class:`~tests.support.netns.Network` (the multi-node
    tests), whose network the calling thread must be in (:func:`~tests.support.netns.inside`).
    """
    env = launcher_env(state_dir, extra_env)
    settings = Settings.from_env(env)
    log = open(log_path, "wb")
    command = launcher_command(*(hub_args or []))
    process = subprocess.Popen(
        netns.command(host, command) if host else command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if ignore_sigint
        else None,
    )
    gateway = Gateway(settings=settings, process=process, log_path=log_path, env=env)
    try:
        gateway.wait_until_up(start_timeout)
    except TimeoutError:
        gateway.stop()
        raise
    return gateway


def _gateway_service_up(gateway: Gateway) -> bool:
    """Every dask-gateway of the hub answers its health check through the hub's proxy."""
    from twinhub.hub.services import gateway_instances

    return all(
        httpx.get(f"{gateway.url}{g.prefix}/api/health", timeout=2).status_code == 200
        for g in gateway_instances(gateway.settings)
    )


def _registry_service_up(gateway: Gateway) -> bool:
    """The twin registry answers its (unauthenticated) health check through the hub's proxy."""
    r = httpx.get(f"{gateway.url}/services/twinhub/api/health", timeout=2)
    return r.status_code == 200


def dask_gateway_api(gateway: Gateway, user: Session) -> httpx.Client:
    """Dask Gateway's REST API as ``user`` (their hub token), through the hub's public proxy.

    Tests outside a user's server speak the API directly rather than through the
    ``dask_gateway`` client, whose shared event-loop thread can hang on close in a long test
    session; notebooks in the tests use the client as users do.
    """
    return httpx.Client(
        base_url=f"{gateway.url}/services/dask-gateway/api/v1",
        headers={"Authorization": f"jupyterhub {user.token}"},
        timeout=30,
    )


def cluster_names(gateway: Gateway, user: Session) -> set[str]:
    """The names of the user's running (or starting) Dask clusters."""
    with dask_gateway_api(gateway, user) as api:
        response = api.get("/clusters/")
        response.raise_for_status()
        return set(response.json())


def submit_cluster(gateway: Gateway, user: Session, **options: object) -> str:
    """Ask the gateway for a cluster as ``user`` (as ``Gateway.submit`` does); its name."""
    with dask_gateway_api(gateway, user) as api:
        response = api.post("/clusters/", json={"cluster_options": options})
        response.raise_for_status()
        return response.json()["name"]


def start_cluster(api: httpx.Client, timeout: float = 120, **options: object) -> str:
    """Ask for a cluster through ``api`` (:func:`dask_gateway_api`) and wait until it runs;
    its name."""
    response = api.post("/clusters/", json={"cluster_options": options})
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    wait_for(
        lambda: api.get(f"/clusters/{name}").json()["status"],
        until=lambda status: status == "RUNNING",
        timeout=timeout,
        message=f"cluster {name} running",
    )
    return name


def gateway_client(gateway: Gateway, user: Session):
    """The ``dask_gateway`` client as ``user``, from the test process (to compute there)."""
    from dask_gateway import Gateway as GatewayClient
    from dask_gateway import JupyterHubAuth

    return GatewayClient(
        address=f"{gateway.url}/services/dask-gateway",
        proxy_address=f"gateway://127.0.0.1:{gateway.settings.gateway_tcp_port}",
        auth=JupyterHubAuth(api_token=user.token),
    )
