"""The two hubs a benchmark compares, both started the way their operators start them.

twinhub: the launcher (`make up`) with registry, profiles, spawn hooks, Dask Gateway, culler.
baseline: ``jupyterhub --config tests/bench/baseline_config.py``, a bare hub with the same
spawner, authenticator and limits. Both are :class:`tests.support.gateway.Gateway` objects, so
the same login/spawn/stop code drives them.
"""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

from twinhub.contracts.settings import Settings

from tests.support.gateway import Gateway, start_gateway
from tests.support.launcher import launcher_env
from tests.support.twins import make_twins_dir, manifest
from tests.support.waiting import WaitTimeout, wait_until_answers

HERE = Path(__file__).resolve().parent


def start_baseline(root: Path, extra: dict[str, str] | None = None) -> Gateway:
    """A bare JupyterHub on free ports; returns when /hub/health answers."""
    state = root / "baseline-state"
    state.mkdir(parents=True, exist_ok=True)
    env = launcher_env(state, extra)
    settings = Settings.from_env(env)
    log_path = root / "baseline.log"
    process = subprocess.Popen(
        [str(settings.venv_bin / "jupyterhub"), "--config", str(HERE / "baseline_config.py")],
        env=env,
        cwd=state,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    hub = Gateway(settings=settings, process=process, log_path=log_path, env=env)

    try:
        wait_until_answers(
            f"{hub.url}/hub/health",
            timeout=90,
            interval=0.3,
            timeout_each=2,
            process=process,
            message="the baseline hub answering /hub/health",
        )
    except (WaitTimeout, RuntimeError) as e:
        hub.stop()
        raise RuntimeError(f"{e}:\n{hub.log()[-3000:]}") from None
    return hub


def start_twinhub(root: Path, extra: dict[str, str] | None = None) -> Gateway:
    """The full gateway, its registry discovering one small test twin (``growth``)."""
    twins_dir, pythonpath = make_twins_dir(root / "twinhub-twins", [manifest("growth")])
    env = {"TWINHUB_TWINS_DIR": str(twins_dir), "PYTHONPATH": str(pythonpath)}
    env.update(extra or {})
    return start_gateway(root / "twinhub-state", root / "twinhub.log", env)


@contextmanager
def running(hub: Gateway):
    try:
        yield hub
    finally:
        hub.stop()
