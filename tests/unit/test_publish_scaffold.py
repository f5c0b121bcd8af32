"""``twinhub new NAME``: a twin folder that runs as it is (its own test passes before it is
installed) and whose manifest is valid; names that are not twin names are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from twinhub.extensions.registry.cli import check_folder, main
from twinhub.extensions.registry.scaffold import title
from twinhub.twins.manifest import load_manifest


def test_new_twin_runs_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert main(["new", "heat-demo", "--dir", str(tmp_path)]) == 0
    folder = tmp_path / "heat-demo"
    manifest = load_manifest(folder / "twin.yaml")
    assert (manifest.name, manifest.model) == ("heat-demo", "twinhub_heat_demo.model:run")
    assert manifest.maintainers[0].name == "alice"  # so that she sees her private twin
    assert check_folder(folder) == "heat-demo"
    assert 'heat-demo = "twinhub_heat_demo"' in (folder / "pyproject.toml").read_text()
    assert (folder / "data" / "sample.csv").stat().st_size > 1000
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [("heat-demo", "Heat demo twin"), ("zoes-twin", "Zoes twin"), ("twinkle", "Twinkle twin")],
)
def test_the_title_says_twin_once(name: str, expected: str) -> None:
    assert title(name) == expected


@pytest.mark.parametrize("name", ["Heat", "1heat", "h", "heat_demo", "../x", "x" * 41])
def test_bad_names_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    assert main(["new", name, "--dir", str(tmp_path)]) == 1
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    assert main(["new", "taken", "--dir", str(tmp_path)]) == 1
