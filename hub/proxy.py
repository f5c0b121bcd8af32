"""configurable-http-proxy, run by the launcher next to the hub (JupyterHub's external proxy).

The proxy holds the routing table in memory. Run as the hub's child, it would die with the hub
and take every user's route with it; run by the launcher, it keeps sending ``/user/<name>/`` to
the running servers while a crashed hub is restarted, and the new hub finds its routes there
(as on Kubernetes, where z2jh runs the proxy in a pod of its own). The command line is the one
JupyterHub's ``ConfigurableHTTPProxy.start`` builds, so nothing else changes for the hub.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
from twinhub.contracts.settings import REPO_ROOT, Settings

from .state import Secrets

PROXY_START_TIMEOUT = 15.0
"""Seconds the proxy gets to listen on its ports (JupyterHub waits as long for its own)."""
PROXY_STOP_GRACE = 10.0


class ProxyError(RuntimeError):
    """The proxy could not be started; the message says why."""


def proxy_executable() -> str:
    """configurable-http-proxy from ``npm ci`` (``make install``), or ``$TWINHUB_PROXY_CMD``."""
    default = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    return os.environ.get("TWINHUB_PROXY_CMD", str(default))


def proxy_command(settings: Settings) -> list[str]:
    """The proxy's command line: public and API addresses, and the hub's error page."""
    return [
        proxy_executable(),
        "--ip",
        settings.ip,
        "--port",
        str(settings.port),
        "--api-ip",
        "127.0.0.1",
        "--api-port",
        str(settings.proxy_api_port),
        # when a server is gone the proxy asks the hub for an error page (a plain 503 while
        # the hub itself is down)
        "--error-target",
        f"http://{settings.hub_local_host}:{settings.hub_port}/hub/error",
        "--log-level",
        "info",
    ]


def hub_routed(settings: Settings, proxy_auth_token: str) -> bool:
    """Whether the hub answers on its own port and the proxy routes ``/`` to it.

    JupyterHub listens first, then starts its services (tens of seconds: the registry loads
    every twin), and only then adds its routes to the proxy. A request through the proxy
    before that finds no route, and the proxy logs it as an error and asks the hub for its
    error page (refused while the hub is not yet listening). So whoever waits for the gateway
    asks the hub and the proxy's routing table first, and the public URL only then.
    """
    hub = f"http://{settings.hub_local_host}:{settings.hub_port}/hub/health"
    routes = f"http://127.0.0.1:{settings.proxy_api_port}/api/routes"
    try:
        if httpx.get(hub, timeout=2).status_code != 200:
            return False
        response = httpx.get(
            routes, headers={"Authorization": f"token {proxy_auth_token}"}, timeout=2
        )
        return response.status_code == 200 and "/" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


def resync_routes(settings: Settings, launcher_token: str, hub: subprocess.Popen) -> bool:
    """Ask the hub to put every route (its own, the services', each ready server's) into a
    proxy that has just been restarted with an empty table; return whether it did.

    The hub checks its routes by itself only every ``JupyterHub.last_activity_interval``
    (5 minutes); ``POST /hub/api/proxy`` runs the same check (``Proxy.check_routes``) now.
    Asked until the hub answers (it may be starting); a hub that exits meanwhile is
    restarted by the launcher, and a new hub checks its routes as it starts.
    """
    url = f"http://{settings.hub_local_host}:{settings.hub_port}/hub/api/proxy"
    headers = {"Authorization": f"token {launcher_token}"}
    while hub.poll() is None:
        try:
            # the hub adds the routes before it answers: allow for a busy hub
            status = httpx.post(url, headers=headers, timeout=60).status_code
            if status == 200:
                return True
            if 400 <= status < 500:
                return False  # the token is refused: asking again will not help
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def pid_file(settings: Settings) -> Path:
    return settings.state_dir / "jupyterhub-proxy.pid"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_proxy(settings: Settings, secrets: Secrets, env: dict[str, str]) -> subprocess.Popen:
    """Start the proxy in a session of its own (Ctrl-C reaches the launcher only) and wait
    until its API answers, since the hub's first act is to read the routing table."""
    proxy_env = {**env, "CONFIGPROXY_AUTH_TOKEN": secrets.proxy_auth_token}
    try:
        proc = subprocess.Popen(
            proxy_command(settings), env=proxy_env, cwd=settings.state_dir, start_new_session=True
        )
    except OSError as e:
        raise ProxyError(f"cannot run {proxy_executable()}: {e.strerror}") from e
    pid_file(settings).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + PROXY_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file(settings).unlink(missing_ok=True)
            raise ProxyError(f"configurable-http-proxy exited with status {proc.returncode}")
        if _listening(settings.proxy_api_port):
            return proc
        time.sleep(0.2)
    stop_proxy(settings, proc)
    raise ProxyError(
        f"configurable-http-proxy did not listen on TWINHUB_PROXY_API_PORT="
        f"{settings.proxy_api_port} within {PROXY_START_TIMEOUT:.0f}s"
    )


def stop_proxy(settings: Settings, proc: subprocess.Popen) -> None:
    """Stop the proxy (SIGTERM, then SIGKILL after a grace period) and remove its pid file."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(PROXY_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    pid_file(settings).unlink(missing_ok=True)
