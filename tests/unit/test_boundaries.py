"""The import graph keeps the boundaries of the architecture (docs: DESIGN "Boundaries", issue 17):
nothing imports ``hub/`` (configuration), ``contracts/`` imports nothing of ours, a twin imports
only the contracts, the catalogs, the twin framework and itself, and no platform part imports a
particular twin. Read with ``ast`` from the source, so nothing is imported to check it."""

from __future__ import annotations

import ast
from pathlib import Path

from twinhub.contracts.settings import REPO_ROOT

PARTS = ("contracts", "hub", "extensions", "kernels", "catalogs", "twins")


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "twinhub." + ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``twinhub.*`` module (or name in one) that ``path`` imports, absolute."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found += [(node.lineno, target)]
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("twinhub.")]


def _twin_of(module: str) -> str | None:
    """The particular twin a module belongs to (``twinhub.twins.<name>...``), or None."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "twins" and (REPO_ROOT / "twins" / parts[2]).is_dir():
        return parts[2]
    return None


def crossings() -> list[str]:
    problems = []
    for part in PARTS:
        for path in sorted((REPO_ROOT / part).rglob("*.py")):
            if "helm" in path.parts:
                continue
            source = _module(path)
            for line, target in _imports(path):
                where = f"{path.relative_to(REPO_ROOT)}:{line} imports {target}"
                kind = target.split(".")[1]
                if kind == "hub" and part != "hub":
                    problems.append(f"{where}: nothing imports hub/ (configuration)")
                if part == "contracts" and kind != "contracts":
                    problems.append(f"{where}: contracts import nothing of ours")
                twin, target_twin = _twin_of(source), _twin_of(target)
                if twin is not None:
                    if kind not in ("contracts", "catalogs", "twins"):
                        problems.append(f"{where}: a twin imports contracts, catalogs, framework")
                    if target_twin not in (None, twin):
                        problems.append(f"{where}: a twin never imports another twin")
                elif target_twin is not None:
                    problems.append(f"{where}: only the twin itself imports its code")
    return problems


def test_imports_respect_the_boundaries() -> None:
    assert crossings() == []


def test_the_check_sees_a_wrong_way_import() -> None:
    """The walker itself: a catalog module importing the hub or a twin is reported."""
    fake = REPO_ROOT / "catalogs" / "_boundary_probe.py"
    fake.write_text(
        "from twinhub.hub.state import Secrets\nfrom twinhub.twins.flood import model\n"
    )
    try:
        found = crossings()
    finally:
        fake.unlink()
    assert any("_boundary_probe.py:1 imports twinhub.hub.state" in p for p in found)
    assert any("_boundary_probe.py:2 imports twinhub.twins.flood" in p for p in found)


def test_the_contracts_hold_what_platform_and_twins_agree_on() -> None:
    """The manifest, the Dask spec, the infrastructure profile and the run record are defined
    in ``contracts/`` (issue 17 section 1); the twin framework's old names are the same
    objects, for twin packages that import them from there."""
    from twinhub.contracts import manifest, profile, runs
    from twinhub.twins import manifest as framework

    for model in (
        manifest.TwinManifest,
        manifest.DaskSpec,
        profile.InfraProfile,
        profile.SlurmResources,
        runs.RunRequest,
        runs.RunRecord,
    ):
        assert model.__module__.startswith("twinhub.contracts."), model
    assert framework.TwinManifest is manifest.TwinManifest
    assert framework.parse_manifest is manifest.parse_manifest


PLATFORM_BASES = ("Spawner", "Backend", "Authenticator")
"""Base classes of code the hub loads by name: spawners, dask-gateway backends, authenticators."""


def platform_classes_in_hub() -> list[str]:
    """Spawners, gateway backends and authenticators defined in ``hub/``: they belong in
    ``extensions/`` (hub/ is configuration, issue 17), named for what they are."""
    found = []
    for path in sorted((REPO_ROOT / "hub").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base).rpartition(".")[2] for base in node.bases]
                if any(base.endswith(PLATFORM_BASES) for base in bases):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}")
    return found


def test_hub_holds_configuration_not_spawners_backends_or_authenticators() -> None:
    assert platform_classes_in_hub() == []
