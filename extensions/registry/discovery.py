"""Start-up discovery: default profiles from ``hub/profiles.yaml`` and every ``twins/*/twin.yaml``.

Adding a twin is adding a folder: the registry finds it here and registers it, or replaces the
stored twin when the folder holds a newer version. A broken manifest is logged with its field
errors and skipped; it never stops the registry (the others still load).
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from twinhub.contracts.manifest import ManifestError
from twinhub.twins.manifest import discover, load_manifest, safe_yaml

from .errors import RegistryError
from .store import Store

log = logging.getLogger("twinhub.registry")


def load_profiles_file(store: Store, path: Path) -> dict[str, str]:
    if not path.exists():
        log.warning("no default profiles: %s does not exist", path)
        return {}
    entries = safe_yaml(path.read_text()) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path} must hold a YAML list of profiles")
    outcome = {}
    for i, entry in enumerate(entries):
        slug = entry.get("slug", f"#{i}") if isinstance(entry, dict) else f"#{i}"
        try:
            outcome[slug] = store.upsert_file_profile(entry)
        except RegistryError as e:
            log.error("profile %s in %s is invalid, skipped: %s", slug, path, e.body()["detail"])
            outcome[slug] = "invalid"
    return outcome


def load_twins(store: Store, root: Path) -> dict[str, str]:
    outcome = {}
    for path in discover(root):
        try:
            outcome[path.parent.name] = store.upsert_discovered_twin(load_manifest(path))
        except ManifestError as e:
            log.error("%s", e)
            outcome[path.parent.name] = "invalid"
        except RegistryError as e:
            log.error("%s is invalid, skipped: %s", path, e.body()["detail"])
            outcome[path.parent.name] = "invalid"
    return outcome


def load_pipelines(store: Store, root: Path) -> dict[str, str]:
    """Every ``twins/*/pipeline.yaml`` (after the twins: its steps are checked against them)."""
    outcome = {}
    for path in sorted(root.glob("*/pipeline.yaml")) if root.is_dir() else []:
        try:
            data = safe_yaml(path.read_text())
            outcome[path.parent.name] = store.upsert_discovered_pipeline(data)
        except (ManifestError, yaml.YAMLError, OSError) as e:
            log.error("%s is invalid, skipped: %s", path, e)
            outcome[path.parent.name] = "invalid"
        except RegistryError as e:
            log.error("%s is invalid, skipped: %s", path, e.body()["detail"])
            outcome[path.parent.name] = "invalid"
    return outcome


def discover_all(store: Store, profiles_file: Path, twins_dir: Path) -> None:
    profiles = load_profiles_file(store, profiles_file)
    twins = load_twins(store, twins_dir)
    log.info("profiles from %s: %s", profiles_file, profiles or "none")
    pipelines = load_pipelines(store, twins_dir)
    log.info("twins from %s: %s", twins_dir, twins or "none")
    log.info("pipelines from %s: %s", twins_dir, pipelines or "none")
