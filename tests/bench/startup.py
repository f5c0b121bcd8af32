"""Benchmark: the registry's start and a twin dashboard's cold start (issue 17).

Registry, start to its first answer (``tests.support.registry.registry_process``), alternating
in each round:

- before: the registry as it was before twins were packages behind a boundary, whose discovery
  imported every shipped twin's model and app to check its manifest: the same registry process
  after importing those modules (named by each ``twins/*/twin.yaml``), in the twin runtime;
- now: the registry as ``make up`` starts it, from the platform's environment, reading the
  manifests as YAML and importing no twin code.

Dashboard, a twin's page through the dashboard router of a running gateway (the shipped flood
twin, as a logged-in user): cold, after the router stopped its idle process (an idle time of
seconds here) so that it starts one on demand, alternating with warm, the same page while that
process runs. The difference is what a user waits for when opening a twin nobody used lately.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import yaml
from twinhub.contracts.settings import REPO_ROOT
from twinhub.extensions.runtimes import platform_python

from tests.support.gateway import start_gateway
from tests.support.registry import registry_process
from tests.support.waiting import wait_for

from .stats import compare, load_average, summary

APPS = "/services/twinhub-apps"
TWIN = "flood"
IDLE = 3
"""Seconds without a request before the router stops the twin's process (600 by default)."""

IMPORT_THEN_REGISTRY = (
    "import importlib, runpy, sys\n"
    "for name in sys.argv[1:]: importlib.import_module(name)\n"
    "sys.argv[1:] = []\n"
    "runpy.run_module('twinhub.extensions.registry', run_name='__main__', alter_sys=True)\n"
)


def twin_code_modules(twins_dir: Path = REPO_ROOT / "twins") -> list[str]:
    """The modules the old discovery imported: each shipped twin's ``model`` and ``app``."""
    modules = []
    for manifest in sorted(twins_dir.glob("*/twin.yaml")):
        spec = yaml.safe_load(manifest.read_text())
        for field in ("model", "app"):
            module = str(spec.get(field) or "").partition(":")[0]
            if module and module not in modules:
                modules.append(module)
    return modules


def _registry_start(root: Path, command: list[str]) -> float:
    with registry_process(root, command=command) as registry:
        return registry.start_seconds


def registry_start(root: Path, rounds: int) -> dict:
    commands = {
        "before": [sys.executable, "-c", IMPORT_THEN_REGISTRY, *twin_code_modules()],
        "now": [str(platform_python()), "-m", "twinhub.extensions.registry"],
    }
    samples: dict[str, list[float]] = {label: [] for label in commands}
    loads = [load_average()]
    for i in range(rounds):
        order = list(commands) if i % 2 == 0 else list(commands)[::-1]
        for label in order:
            samples[label].append(_registry_start(root / f"{label}-{i}", commands[label]))
        loads.append(load_average())
    return {
        "before": summary(samples["before"]),
        "now": summary(samples["now"]),
        "ratio": compare(samples["now"], samples["before"]),
        "modules_imported_before": len(commands["before"]) - 3,
        "load_average": {"min": min(x[0] for x in loads), "max": max(x[0] for x in loads)},
    }


def _page_seconds(client: httpx.Client) -> float:
    t = time.monotonic()
    page = client.get(f"{APPS}/{TWIN}")
    seconds = time.monotonic() - t
    if page.status_code != 200:
        raise RuntimeError(f"{APPS}/{TWIN}: {page.status_code} {page.text[:300]}")
    return seconds


def dashboard_start(root: Path, rounds: int) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    gateway = start_gateway(
        root / "state", root / "gateway.log", {"TWINHUB_DASHBOARDS_IDLE_SECONDS": str(IDLE)}
    )
    samples: dict[str, list[float]] = {"cold": [], "warm": []}
    loads = [load_average()]
    try:
        user = gateway.login("benchstart")
        with httpx.Client(base_url=gateway.url, headers=user.headers, timeout=300) as client:
            _page_seconds(client)  # the twin runtime's files in the page cache, as for both
            for i in range(rounds):
                for label in ("cold", "warm") if i % 2 == 0 else ("warm", "cold"):
                    if label == "cold":  # stopped by the router as idle, as in use
                        wait_for(
                            lambda: not gateway.twin_processes(TWIN),
                            timeout=120,
                            message="the router stopping the idle dashboard process",
                        )
                    samples[label].append(_page_seconds(client))
                loads.append(load_average())
    finally:
        gateway.stop()
    return {
        "cold": summary(samples["cold"]),
        "warm": summary(samples["warm"]),
        "ratio": compare(samples["cold"], samples["warm"]),
        "load_average": {"min": min(x[0] for x in loads), "max": max(x[0] for x in loads)},
    }


def run(root: Path, rounds: int = 5) -> dict:
    return {
        "registry": registry_start(root / "registry", rounds),
        "dashboard": dashboard_start(root / "dashboard", rounds),
    }
