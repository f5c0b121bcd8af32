"""Everything a twin or profile must satisfy before the registry stores it.

The manifest model checks the document; here we add what needs the world around it: the
catalog entries exist, the default profile is known, and whatever the caller found wrong with
the entry points (the store has them imported in the twin's own environment, a process of its
own: ``twinhub.extensions.runtimes``; the registry never imports twin code). All problems are
collected, not just the first, so an author fixes them in one go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from twinhub.catalogs import entry_ids
from twinhub.contracts.manifest import ManifestError, TwinManifest, parse_manifest
from twinhub.contracts.profile import InfraProfile, parse_profile
from twinhub.twins.pipeline import Pipeline, check_pipeline, parse_pipeline

from .errors import Invalid


def check_twin(
    data: Any, profiles: Iterable[str], entry_point_errors: Iterable[tuple[str, str]] = ()
) -> TwinManifest:
    """A valid manifest, or :class:`Invalid` naming every wrong field."""
    try:
        manifest = parse_manifest(data)
    except ManifestError as e:
        raise Invalid(e.errors) from None
    errors = list(entry_point_errors)
    if manifest.catalog:
        known = entry_ids()
        for i, entry in enumerate(manifest.catalog):
            if entry not in known:
                errors.append(
                    (
                        f"catalog.{i}",
                        f"{entry!r} is not an entry of the shipped catalogs "
                        f"(known: {', '.join(sorted(known)) or 'none'})",
                    )
                )
    profiles = set(profiles)
    if manifest.profile not in profiles:
        errors.append(
            (
                "profile",
                f"{manifest.profile!r} is not an active infrastructure profile "
                f"(known: {', '.join(sorted(profiles)) or 'none'})",
            )
        )
    if errors:
        raise Invalid(errors)
    return manifest


def check_pipeline_document(data: Any, manifests: Mapping[str, TwinManifest]) -> Pipeline:
    """A valid pipeline whose steps fit the given twins, or :class:`Invalid` naming each field."""
    try:
        return check_pipeline(parse_pipeline(data), manifests)
    except ManifestError as e:  # PipelineError is one
        raise Invalid(e.errors) from None


def check_profile(data: Any) -> InfraProfile:
    try:
        return parse_profile(data)
    except ManifestError as e:
        raise Invalid(e.errors) from None


def semver_key(version: str) -> tuple:
    """Order of semantic versions (semver.org §11): pre-releases sort before the release."""
    core, _, rest = version.partition("+")[0].partition("-")
    numbers = tuple(int(p) for p in core.split("."))
    if not rest:
        return (numbers, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in rest.split("."))
    return (numbers, 0, ids)
