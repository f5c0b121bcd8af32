"""Twin folders for tests: a small real model package and manifests, in a temporary directory.

The registry discovers ``<root>/*/twin.yaml`` (``TWINHUB_TWINS_DIR``) and imports the entry
points, so the model lives in a package on ``PYTHONPATH`` (``<root>/pkgs``), exactly as an
installed twin package would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MODEL = '''"""Logistic growth: a tiny real model with an exact solution, for registry tests."""

import numpy as np
import xarray as xr


def run(rate: float = 0.5, capacity: float = 10.0, days: int = 10) -> xr.Dataset:
    t = np.arange(days + 1, dtype=float)
    n = capacity / (1 + (capacity - 1) * np.exp(-rate * t))
    return xr.Dataset({"n": ("time", n, {"units": "1", "long_name": "population"})},
                      coords={"time": t})


def create_app():
    return None
'''


def manifest(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid manifest for the test model; override any field."""
    data: dict[str, Any] = {
        "name": name,
        "title": f"Growth twin {name}",
        "summary": "Logistic growth of a population, with its exact solution.",
        "domain": "environment",
        "version": "1.0.0",
        "maintainers": [{"name": "Ada Maintainer", "github": "ada"}],
        "model": "twinhub_testtwins.growth:run",
        "app": "twinhub_testtwins.growth:create_app",
        "parameters": {
            "type": "object",
            "properties": {
                "rate": {"type": "number", "minimum": 0, "default": 0.5, "description": "1/day"},
                "days": {"type": "integer", "minimum": 1, "maximum": 365, "default": 10},
            },
            "additionalProperties": False,
        },
        "profile": "small",
        "dask": {"min_workers": 0, "max_workers": 1, "worker_cores": 1, "worker_memory_gib": 0.5},
    }
    data.update(overrides)
    return data


def make_twins_dir(root: Path, twins: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Write the model package and one folder per manifest; return (twins_dir, pythonpath)."""
    pkgs = root / "pkgs" / "twinhub_testtwins"
    pkgs.mkdir(parents=True, exist_ok=True)
    (pkgs / "__init__.py").write_text("")
    (pkgs / "growth.py").write_text(MODEL)
    twins_dir = root / "twins"
    for data in twins:
        folder = twins_dir / data["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "twin.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return twins_dir, root / "pkgs"
