"""A twin as code sees it: its manifest, its model, its data, and runs that leave provenance.

``load_twin("flood")`` finds ``twins/flood/twin.yaml`` (or any folder discovered by the manifest
module) for the twin's code and data; inside a hub server the manifest itself is the one the
registry holds (:func:`registry_manifest`), so a ``PUT`` that changes a twin changes what
notebooks run, as it changes what its dashboard runs. :meth:`Twin.run` checks the parameters
against the manifest's JSON schema, runs the model entry point on the twin's catalog entry and
returns the output with its run record.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import xarray as xr
from twinhub.catalogs import entry_ids, open_entry
from twinhub.contracts.manifest import ManifestError, parse_manifest
from twinhub.twins.manifest import (
    MANIFEST_FILE,
    TwinManifest,
    discover,
    load_manifest,
    resolve_entry_point,
)
from twinhub.twins.params import ParameterError
from twinhub.twins.runs import RunRecord, execute


class UnknownTwinError(LookupError):
    pass


@dataclass
class Twin:
    manifest: TwinManifest
    folder: Path

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def model(self):
        """The model entry point (``run(inputs, params) -> Dataset``)."""
        return resolve_entry_point(self.manifest.model)

    def inputs(self, entry: str | None = None) -> xr.Dataset | None:
        """The twin's input data from the catalog (its first entry by default)."""
        chosen = self._entry(entry)
        return open_entry(chosen) if chosen is not None else None

    def _entry(self, entry: str | None) -> str | None:
        """The catalog entry to read; None for a simulation twin that reads no data."""
        if entry is None and not self.manifest.catalog:
            return None
        entry = entry or self.manifest.catalog[0]
        if entry not in self.manifest.catalog:
            known = entry_ids()
            why = "is not in the catalog" if entry not in known else "is not an input of this twin"
            raise ParameterError(
                "entry", f"catalog entry {entry!r} {why}; use one of {self.manifest.catalog}"
            )
        return entry

    def run(
        self, params: Mapping[str, Any] | None = None, *, entry: str | None = None, client=None
    ) -> tuple[xr.Dataset, RunRecord]:
        """Run the model with checked parameters (defaults filled in); see :func:`execute`."""
        checked = self.manifest.check_parameters(dict(params or {}))
        return execute(
            self.manifest.model, self._entry(entry), checked,
            twin=self.name, twin_version=self.manifest.version, client=client,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"<Twin {self.name} {self.manifest.version}: {self.manifest.title}>"


ENTRY_POINT_GROUP = "twinhub.twins"
"""Installed twin packages name themselves here: ``<twin> = "<package>"`` (the package folder
holds the twin.yaml); ``twinhub new`` writes such a ``pyproject.toml``."""


def installed_twins() -> dict[str, Path]:
    """Twins installed as packages (entry point group ``twinhub.twins``), nothing imported."""
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = importlib.util.find_spec(ep.module)
        except (ImportError, ValueError):
            continue
        locations = list(spec.submodule_search_locations or []) if spec else []
        for location in locations:
            manifest = Path(location) / MANIFEST_FILE
            if manifest.is_file():
                found[ep.name] = manifest
                break
    return found


def available_twins() -> dict[str, Path]:
    """The platform's twins (folders under ``twins/``), then installed twin packages."""
    twins = installed_twins()
    twins.update({path.parent.name: path for path in discover()})
    return twins


REGISTRY_TIMEOUT = 10.0


def registry_manifest(name: str) -> TwinManifest | None:
    """The manifest the registry holds for ``name``, asked as the server's user.

    Only inside a hub server (``TWINHUB_API_URL`` and the server's ``JUPYTERHUB_API_TOKEN``):
    elsewhere (a laptop, Binder) there is no registry and the folder's manifest is the twin.
    A twin the registry does not show this user (unknown, private to others, retired) is not
    theirs to run: :class:`UnknownTwinError`. A registry that does not answer leaves the
    folder's manifest in use, with a warning: a notebook keeps working while it restarts.
    """
    api, token = os.environ.get("TWINHUB_API_URL"), os.environ.get("JUPYTERHUB_API_TOKEN")
    if not api or not token:
        return None
    url = f"{api.rstrip('/')}/twins/{quote(name, safe='')}"
    try:
        r = httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=REGISTRY_TIMEOUT)
    except httpx.HTTPError as e:
        warnings.warn(f"the twin registry did not answer ({e}): {name}'s folder manifest is used",
                      stacklevel=3)  # fmt: skip
        return None
    if r.status_code == 404:
        raise UnknownTwinError(f"the registry has no twin named {name!r} that you may use")
    if r.status_code != 200:
        warnings.warn(f"the twin registry answered {r.status_code}: {name}'s folder manifest is "
                      "used", stacklevel=3)  # fmt: skip
        return None
    record = r.json()
    if record.get("retired"):
        raise UnknownTwinError(f"twin {name!r} is retired")
    try:
        return parse_manifest(record["manifest"], f"the registry's twin {name!r}")
    except (KeyError, TypeError, ManifestError) as e:
        warnings.warn(f"the registry's manifest of {name} is not usable ({e}): its folder's is "
                      "used", stacklevel=3)  # fmt: skip
        return None


def load_twin(name: str) -> Twin:
    """The twin of that name: its folder (code, data) and its manifest, the registry's inside a
    hub server (:func:`registry_manifest`), else the folder's."""
    twins = available_twins()
    if name not in twins:
        raise UnknownTwinError(f"no twin named {name!r}; available: {', '.join(sorted(twins))}")
    manifest = registry_manifest(name) or load_manifest(twins[name])
    return Twin(manifest, twins[name].parent)
