"""The calibrated HBV parameter sets the flood twin ships, with how they were obtained.

A run that names no ``parameter_sets`` (the manifest's default: from the API, a dashboard, a
notebook or a schedule) uses these, so the default run is the model the twin's summary and card
describe: HBV calibrated on 1980-1984, not a first guess. They live in ``calibrated.json`` next
to this module, a small file with its provenance: the calibration routine and its settings (seed,
budget, objective, periods), the catalog entry and the SHA-256 of its data (the same checksum a
run's PROV record holds), the sampling of the sets, and the skill of the best set.

Shipping the result instead of calibrating at each run keeps a default run fast and its numbers
fixed. So that the file cannot drift from the code and data, ``python -m
twinhub.twins.flood.calibrated --check`` re-derives it and fails on any difference (a test runs
the same check); without ``--check`` it rewrites the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from twinhub.catalogs.access import dataset_checksum, open_entry
from twinhub.twins.calibration import Calibration
from twinhub.twins.flood import calibrate, model

FILE = Path(__file__).with_name("calibrated.json")
ENTRY = "fulda_daily"
ROUTINE = "twinhub.twins.flood.calibrate:calibrate_flood"
SETTINGS: dict[str, Any] = {"objective": "nse", "generations": 40, "popsize": 8, "seed": 42}
"""Differential evolution: 40 generations of 8 x 11 candidates (3608 simulations), seed 42."""
SAMPLE: dict[str, Any] = {"n": 20, "seed": 0, "tolerance": 0.05}
"""The shipped sets: the best set, then 19 draws from the sets within 0.05 NSE of the best."""


def run_calibration(inputs: Any) -> tuple[Calibration, dict[str, dict[str, Any]]]:
    """The twin's calibration (``SETTINGS``) on ``inputs`` and the skill of its best set."""
    cal = calibrate.calibrate_flood(inputs, progress=False, **SETTINGS)
    return cal, calibrate.skill(inputs, model.run(inputs, cal.best))


def derive() -> dict[str, Any]:
    """The document of ``calibrated.json``, computed from the catalog data (a few seconds)."""
    inputs = open_entry(ENTRY)
    checksum = dataset_checksum(inputs)
    cal, skill = run_calibration(inputs.load())
    sets = cal.sample(SAMPLE["n"], seed=SAMPLE["seed"], tolerance=SAMPLE["tolerance"])
    return {
        "parameter_sets": {name: [float(v) for v in values] for name, values in sets.items()},
        "provenance": {
            "routine": ROUTINE,
            "settings": SETTINGS,
            "periods": {
                "spin_up": [calibrate.SPIN_UP.start, calibrate.SPIN_UP.stop],
                "calibration": [calibrate.CALIBRATION.start, calibrate.CALIBRATION.stop],
                "validation": [calibrate.VALIDATION.start, calibrate.VALIDATION.stop],
            },
            "catalog_entry": ENTRY,
            "catalog_version": str(inputs.attrs.get("catalog_version", "unversioned")),
            "data_sha256": checksum,
            "sample": {**SAMPLE, "first": "the best set"},
            "evaluations": cal.evaluations,
            "best": cal.best,
            "skill": skill,
            "rederive": "python -m twinhub.twins.flood.calibrated --check",
        },
    }


@cache
def shipped() -> dict[str, Any]:
    """The shipped document (read once per process)."""
    return json.loads(FILE.read_text())


def parameter_sets() -> dict[str, list[float]]:
    """The shipped calibrated sets (name -> values; member ``i`` of a run uses set ``i mod n``)."""
    return {name: list(values) for name, values in shipped()["parameter_sets"].items()}


def differences(derived: dict[str, Any], kept: dict[str, Any], rtol: float = 1e-9) -> list[str]:
    """Where two documents differ (numbers within ``rtol``): empty when they agree."""
    found: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{where}.{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{where}[{i}]")
        elif isinstance(a, float) and isinstance(b, float):
            if abs(a - b) > rtol * max(abs(a), abs(b), 1e-12):
                found.append(f"{where}: {b!r} shipped, {a!r} derived")
        elif a != b:
            found.append(f"{where}: {b!r} shipped, {a!r} derived")

    walk(derived, kept, "calibrated")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m twinhub.twins.flood.calibrated",
        description="Re-derive the flood twin's shipped calibrated parameter sets.",
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the shipped file, write nothing"
    )
    args = parser.parse_args(argv)
    derived = derive()
    if args.check:
        found = differences(derived, json.loads(FILE.read_text()))
        for line in found:
            print(line, file=sys.stderr)
        print(f"{FILE.name}: {'differs' if found else 'matches the re-derived calibration'}")
        return 1 if found else 0
    FILE.write_text(json.dumps(derived, indent=1) + "\n")
    print(f"wrote {FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
