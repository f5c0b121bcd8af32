"""The registry starts without importing any twin's code (issue 17 section 2).

The real registry process, as the hub starts it, discovers the five shipped twins from their
twin.yaml files; what it imported is read from outside, from the module list it writes when
TWINHUB_REGISTRY_MODULES_FILE is set (a test-only setting): no twin package, none of the twins'
science stack.
"""

from __future__ import annotations

from pathlib import Path

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
