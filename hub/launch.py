"""Start the embedded gateway in the foreground and stop all of it on Ctrl-C (``make up``).

JupyterHub starts the proxy and the services; the services start Dask schedulers and workers;
the spawner starts user servers in sessions of their own. To make sure that none of these
outlive the gateway, the launcher

* becomes a *child subreaper*, so processes whose parent dies are re-parented to it rather than
  to init, and stay findable as its descendants;
* runs the hub in a session of its own, so Ctrl-C reaches the launcher only, which then stops
  the hub cleanly (the hub stops servers, proxy and services; the gateway stops clusters);
* finally terminates whatever descendant is still alive, and says so.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil

from .settings import REPO_ROOT, Settings, SettingsError, describe
from .state import Secrets, StateDirError, ensure_secrets

PR_SET_CHILD_SUBREAPER = 36
HUB_STOP_GRACE = 30.0
"""Seconds the hub gets to stop servers, proxy and services before we step in."""


def _become_subreaper() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the sweep below still covers direct children
        pass


def _port_in_use(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return True
    return False


def check_ports(settings: Settings) -> None:
    """Fail early, naming the variable, when a port we need is taken (e.g. a running gateway)."""
    wanted = {
        "TWINHUB_PORT": (settings.ip, settings.port),
        "TWINHUB_HUB_PORT": ("127.0.0.1", settings.hub_port),
        "TWINHUB_PROXY_API_PORT": ("127.0.0.1", settings.proxy_api_port),
        "TWINHUB_GATEWAY_API_PORT": ("127.0.0.1", settings.gateway_api_port),
        "TWINHUB_GATEWAY_HTTP_PORT": ("127.0.0.1", settings.gateway_http_port),
        "TWINHUB_GATEWAY_TCP_PORT": ("127.0.0.1", settings.gateway_tcp_port),
        "TWINHUB_REGISTRY_PORT": ("127.0.0.1", settings.registry_port),
    }
    if settings.slurm_profiles and settings.dask_backend != "slurm":
        # the second gateway, for the Slurm profiles' Dask clusters
        wanted.update(
            {
                "TWINHUB_GATEWAY_SLURM_API_PORT": ("127.0.0.1", settings.gateway_slurm_api_port),
                "TWINHUB_GATEWAY_SLURM_HTTP_PORT": ("127.0.0.1", settings.gateway_slurm_http_port),
                "TWINHUB_GATEWAY_SLURM_TCP_PORT": ("127.0.0.1", settings.gateway_slurm_tcp_port),
            }
        )
    busy = [f"{var}={port}" for var, (ip, port) in wanted.items() if _port_in_use(ip, port)]
    if busy:
        raise SettingsError(
            f"Port(s) already in use: {', '.join(busy)}. Is twinhub already running? "
            "Stop it, or choose other ports with these variables."
        )


def banner(settings: Settings, secrets: Secrets) -> str:
    if settings.oidc_enabled:
        login = "  Log in with your OIDC identity provider."
    else:
        admins = ", ".join(settings.admin_users)
        login = (
            f"  Log in with any user name and the password: {secrets.user_password}\n"
            f"  Admin users ({admins}) log in with the password: {secrets.admin_password}\n"
            f"  (kept in {settings.state_dir / 'secrets'}; delete a file and restart to change it)"
        )
    return (
        "\n"
        "================================================================================\n"
        f"  twinhub is running at {settings.url}\n"
        f"{login}\n"
        "  Stop with Ctrl-C.\n"
        "================================================================================\n"
    )


def _wait_until_up(settings: Settings, hub: subprocess.Popen, on_ready) -> None:
    url = f"{settings.url}/hub/health"
    while hub.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    on_ready()
                    return
        except OSError:
            pass
        time.sleep(0.5)


def _descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_all(hub: subprocess.Popen, grace: float = HUB_STOP_GRACE) -> int:
    """Stop the hub, then every remaining descendant; return how many had to be swept."""
    known = {p.pid: p for p in _descendants()}
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(grace)
        except subprocess.TimeoutExpired:
            print(f"twinhub: the hub did not stop within {grace:.0f}s, killing it", flush=True)
            hub.kill()
            hub.wait()
    for p in _descendants():
        known.setdefault(p.pid, p)
    alive = []
    for p in known.values():
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            pass
    names = sorted({_name(p) for p in alive})
    for p in alive:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, still = psutil.wait_procs(alive, timeout=5)
    for p in still:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(still, timeout=5)
    _reap_zombies()
    if alive:
        print(f"twinhub: stopped {len(alive)} leftover process(es): {', '.join(names)}")
    return len(alive)


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return str(p.pid)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print(describe())
        return 0
    try:
        settings = Settings.from_env()
        secrets = ensure_secrets(settings.state_dir)
        check_ports(settings)
    except (SettingsError, StateDirError) as e:
        print(f"twinhub: {e}", file=sys.stderr)
        return 2
    proxy = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if "TWINHUB_PROXY_CMD" not in os.environ and not proxy.exists():
        print(f"twinhub: {proxy} is missing: run `make install` (npm ci) first", file=sys.stderr)
        return 2

    _become_subreaper()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(settings.venv_bin), env.get("PATH", "/usr/bin:/bin")])
    env.update(settings.to_env())
    if settings.oidc_client_secret:
        env["TWINHUB_OIDC_CLIENT_SECRET"] = settings.oidc_client_secret
    if settings.hub_database_url:
        env["TWINHUB_HUB_DATABASE_URL"] = settings.hub_database_url
    cmd = [
        str(settings.venv_bin / "jupyterhub"),
        "--config",
        str(REPO_ROOT / "hub" / "jupyterhub_config.py"),
    ]
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    # Handlers go in before the hub starts: exec() resets handled signals to their defaults in
    # the children, whereas an *ignored* SIGINT (as in a background job of a script) would be
    # inherited by every service and server, which then could only be stopped by SIGKILL.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"twinhub: starting the gateway (state in {settings.state_dir}) ...", flush=True)
    hub = subprocess.Popen(cmd, env=env, cwd=settings.state_dir, start_new_session=True)
    threading.Thread(
        target=_wait_until_up,
        args=(settings, hub, lambda: print(banner(settings, secrets), flush=True)),
        daemon=True,
    ).start()

    while not stopping.is_set() and hub.poll() is None:
        stopping.wait(0.5)
        _reap_zombies_except(hub)
    if stopping.is_set():
        print("\ntwinhub: stopping ...", flush=True)
    code = hub.poll()
    stop_all(hub)
    print("twinhub: stopped.", flush=True)
    if code not in (None, 0):
        print(f"twinhub: the hub exited with status {code}; see the log above", file=sys.stderr)
        return code
    return 0


def _reap_zombies_except(hub: subprocess.Popen) -> None:
    """Reap re-parented orphans (we are their subreaper) without stealing the hub's status."""
    for p in _descendants():
        if p.pid == hub.pid:
            continue
        try:
            if p.ppid() == os.getpid() and p.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(p.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            pass


if __name__ == "__main__":
    sys.exit(main())
