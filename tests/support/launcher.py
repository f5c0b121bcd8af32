"""Run the launcher (`make up`'s ``python -m twinhub.hub.launch``) as an operator does, for
tests of what it refuses before any hub starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.gateway import free_ports

PORT_VARIABLES = (
    "PORT",
    "HUB_PORT",
    "PROXY_API_PORT",
    "GATEWAY_API_PORT",
    "GATEWAY_HTTP_PORT",
    "GATEWAY_TCP_PORT",
    "GATEWAY_FRONT_PORT",
    "REGISTRY_PORT",
)


def launcher_env(state_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with a state directory and free ports for every service."""
    env = dict(os.environ, TWINHUB_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1")
    ports = free_ports(len(PORT_VARIABLES))
    env.update({f"TWINHUB_{n}": str(p) for n, p in zip(PORT_VARIABLES, ports, strict=True)})
    env.update(extra or {})
    return env


def launch(state_dir: Path) -> tuple[subprocess.CompletedProcess, float]:
    """The launcher's result and seconds, on free ports, expected to refuse (60 s at most)."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "twinhub.hub.launch"],
        env=launcher_env(state_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - start
