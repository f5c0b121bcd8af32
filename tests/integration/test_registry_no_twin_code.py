"""The registry starts without importing any twin's code, and the platform's services run
without any twin's science stack installed (issue 17 section 2).

The real registry process, as the hub starts it, discovers the five shipped twins from their
twin.yaml files; what it imported is read from outside, from the module list it writes when
TWINHUB_REGISTRY_MODULES_FILE is set (a test-only setting): no twin package, none of the twins'
science stack. The services of the real gateway are asked from outside too: their interpreters
cannot find that stack at all (the platform's environment; docs/twin-runtimes.md).
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import psutil

from tests.support.registry import registry_process

SHIPPED = ("drought", "extremes", "flood", "gwnoise", "lattice")
SCIENCE_STACK = ("numba", "llvmlite", "bilby", "aquacrop", "xclim", "spotpy", "matplotlib")


def test_the_registry_discovers_the_shipped_twins_without_importing_them(tmp_path: Path) -> None:
    with registry_process(tmp_path) as registry:
        modules = registry.modules()
    assert "twinhub.extensions.registry.app" in modules  # the list is the registry's own
    assert "twinhub.twins.manifest" in modules  # the manifest contract is read, as YAML
    twin_modules = {m for m in modules for name in SHIPPED if m.startswith(f"twinhub.twins.{name}")}
    assert twin_modules == set()
    assert {m for m in modules if m.partition(".")[0] in SCIENCE_STACK} == set()
    log = (tmp_path / "registry.log").read_text()
    discovered = next(line for line in log.splitlines() if "twins from" in line)
    for name in SHIPPED:
        assert f"'{name}': 'created'" in discovered


PLATFORM_SERVICES = {
    "hub": ["-m", "twinhub.hub.app"],
    "registry": ["-m", "twinhub.extensions.registry"],
    "dashboard router": ["-m", "twinhub.extensions.dashboards"],
    "run executor": ["-m", "twinhub.extensions.executor"],
    "gateway front": ["-m", "twinhub.extensions.gateway_front"],
    "gateway server": ["dask-gateway-server"],
    "idle culler": ["-m", "jupyterhub_idle_culler"],
}
"""How each platform service's command line reads (hub/services.py; a twin's dashboard process
is ``-m twinhub.extensions.dashboards.server``, a job's ``...executor.runner``: not these)."""
TWIN_SIDE = ("twinhub.extensions.gateway_backends.prefork", "jupyterhub-singleuser", "dask")
"""Processes that run twin code, whichever of them the session's gateway runs now: the warm
process Dask schedulers are forked from, users' servers, Dask schedulers and workers."""
FIND = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"


def _findable(python: str, pythonpath: str) -> set[str]:
    """Which of the science stack and the platform ``python`` finds with ``pythonpath``."""
    done = subprocess.run(
        [python, "-c", FIND, *SCIENCE_STACK, "twinhub", "jupyterhub"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=True,
    )
    return set(ast.literal_eval(done.stdout))


def _service(cmdline: list[str]) -> str | None:
    for name, marker in PLATFORM_SERVICES.items():
        if marker[0] == "-m" and any(cmdline[i : i + 2] == marker for i in range(len(cmdline))):
            return name
        if marker[0] != "-m" and any(Path(part).name == marker[0] for part in cmdline[:2]):
            return name
    return None


def test_the_platform_services_run_without_the_twins_science_stack(gateway) -> None:
    """Every platform service of the real gateway runs an interpreter in whose environment
    (its own ``sys.path``, with the process's ``PYTHONPATH``) no twin's science stack can be
    found (issue 17 section 2): `make up` and the tests run the launcher from the platform's
    environment, with this venv (where the twins are) as the twin runtime, which what runs
    twin code runs (the rest of the suite runs twins on this gateway)."""
    found: dict[str, list[tuple[int, str, set[str]]]] = {}
    twin_side = []
    for p in [psutil.Process(gateway.process.pid), *gateway.descendants()]:
        try:
            cmdline, environ = p.cmdline(), p.environ()
        except psutil.Error:
            continue
        # the interpreter the process was started with (a venv's python is a link to the base
        # interpreter, which /proc/<pid>/exe would name), and the PYTHONPATH it runs with
        python, pythonpath = cmdline[0], environ.get("PYTHONPATH", "")
        name = "launcher" if p.pid == gateway.process.pid else _service(cmdline)
        if name is not None:
            found.setdefault(name, []).append((p.pid, python, _findable(python, pythonpath)))
        elif any(part.rsplit("/", 1)[-1] in TWIN_SIDE for part in cmdline[:3]):
            twin_side.append((p.pid, cmdline[:3], python, _findable(python, pythonpath)))
    assert set(found) == {"launcher", *PLATFORM_SERVICES}, found
    assert twin_side, "no process of the gateway runs twin code (not even the warm scheduler)"
    for pid, what, python, modules in twin_side:
        assert python == gateway.env["TWINHUB_TWIN_PYTHON"], (pid, what)
        assert set(SCIENCE_STACK) <= modules, (pid, what, python, modules)
    for name, processes in found.items():
        for pid, python, modules in processes:
            # the platform itself is there (the check reads this environment)
            assert {"twinhub", "jupyterhub"} <= set(modules), (name, pid, python)
            found_stack = set(modules) & set(SCIENCE_STACK)
            assert not found_stack, (
                f"{name} (pid {pid}) runs {python}, whose environment has {sorted(found_stack)}: "
                "`make install` builds the platform's environment (.venv-platform) it should run"
            )
