"""Run the launcher (`make up`'s ``python -m twinhub.hub.launch``) as an operator does, for
tests of what it refuses before any hub starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.gateway import free_ports


def launch(state_dir: Path) -> tuple[subprocess.CompletedProcess, float]:
    """The launcher's result and seconds, on free ports, expected to refuse (60 s at most)."""
    names = (
        "PORT",
        "HUB_PORT",
        "PROXY_API_PORT",
        "GATEWAY_API_PORT",
        "GATEWAY_HTTP_PORT",
        "GATEWAY_TCP_PORT",
        "REGISTRY_PORT",
    )
    env = dict(os.environ, TWINHUB_STATE_DIR=str(state_dir))
    env.update({f"TWINHUB_{n}": str(p) for n, p in zip(names, free_ports(7), strict=True)})
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "twinhub.hub.launch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - start
