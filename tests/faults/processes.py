"""Find the gateway's parts among its processes, to kill them the way a crash would."""

from __future__ import annotations

import time

import psutil

from tests.support.gateway import Gateway


def find(gateway: Gateway, needle: str, timeout: float = 30) -> psutil.Process:
    """The gateway's descendant whose command line contains ``needle``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in gateway.descendants():
            try:
                if needle in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    return p
            except psutil.Error:
                pass
        time.sleep(0.2)
    raise LookupError(f"no process of the gateway runs {needle!r}")


REGISTRY = "twinhub.extensions.registry"
HUB = "jupyterhub_config.py"
