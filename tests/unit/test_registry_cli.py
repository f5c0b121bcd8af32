"""``twinhub validate``: exit 0 for a good manifest, 1 with field-level messages otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.twins import make_twins_dir, manifest


def validate(path: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twinhub.extensions.registry.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def test_validate_accepts_a_good_twin_folder(tmp_path: Path) -> None:
    twins, pythonpath = make_twins_dir(tmp_path, [manifest("good")])
    result = validate(twins / "good", pythonpath)
    assert result.returncode == 0, result.stderr
    assert "'good' 1.0.0 is valid" in result.stdout


def test_validate_names_each_wrong_field(tmp_path: Path) -> None:
    twins, pythonpath = make_twins_dir(tmp_path, [])
    bad = manifest("bad", version="v1", model="twinhub_testtwins.growth:absent", colour="red")
    path = tmp_path / "twin.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = validate(path, pythonpath)
    assert result.returncode == 1
    assert "version: 'v1' is not a semantic version" in result.stderr
    assert "colour: unknown field" in result.stderr
    # the entry points are checked once the document itself is valid
    path.write_text(yaml.safe_dump(manifest("bad", model="twinhub_testtwins.growth:absent")))
    result = validate(path, pythonpath)
    assert result.returncode == 1 and "model: " in result.stderr and "absent" in result.stderr
