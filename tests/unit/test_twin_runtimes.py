"""Twin runtime environments (issue 17 section 2): the registry checks a twin's entry points in a
process of the twin's environment, never in its own, and environments are built with uv."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from twinhub.extensions import runtimes
from twinhub.extensions.registry.auth import SCOPE_PROFILES_WRITE, SCOPE_TWINS_WRITE, User
from twinhub.extensions.registry.db import open_database
from twinhub.extensions.registry.errors import Invalid
from twinhub.extensions.registry.store import Store

from tests.support.twins import make_twins_dir, manifest

ADMIN = User("root", frozenset(), frozenset({SCOPE_PROFILES_WRITE, SCOPE_TWINS_WRITE}), "user", "t")
PROFILE = {"slug": "small", "display_name": "Small", "cpu": 1, "memory": "2G"}
HOSTILE = """
import os, time
if os.environ.get("TWINHUB_TEST_HANG"):
    time.sleep(600)
os._exit(3)  # ends whatever process imports it
"""


def _settings(tmp_path: Path, timeout: float = 60) -> SimpleNamespace:
    return SimpleNamespace(
        state_dir=tmp_path,
        twin_python="",
        twin_envs_dir=str(tmp_path / "envs"),
        entry_point_check_timeout=timeout,
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    _, pythonpath = make_twins_dir(tmp_path, [])
    (pythonpath / "twinhub_testtwins" / "hostile.py").write_text(HOSTILE)
    monkeypatch.setenv("PYTHONPATH", str(pythonpath))
    store = Store(
        open_database(f"sqlite:///{tmp_path / 'registry.sqlite'}"),
        check_entry_points=functools.partial(
            runtimes.entry_point_errors, settings=_settings(tmp_path, timeout=120)
        ),
    )
    store.create_profile(ADMIN, PROFILE)
    return store


def test_entry_points_import_in_another_process_not_the_registrys(store: Store) -> None:
    assert store.create_twin(ADMIN, manifest("growth")).name == "growth"
    assert not any(m.startswith("twinhub_testtwins") for m in sys.modules)


def test_an_entry_point_that_ends_its_process_is_refused_and_the_registry_lives_on(
    store: Store,
) -> None:
    bad = manifest("killer", model="twinhub_testtwins.hostile:run")
    with pytest.raises(Invalid) as refused:
        store.create_twin(ADMIN, bad)
    fields = dict(refused.value.detail)
    assert "ended the process (exit 3)" in fields["model"]
    assert store.list_twins(ADMIN)[1] == 0  # nothing stored


def test_an_entry_point_that_hangs_is_refused_within_the_timeout(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINHUB_TEST_HANG", "1")  # not passed on: the child's env is minimal
    monkeypatch.setattr(runtimes, "CHILD_ENV", (*runtimes.CHILD_ENV, "TWINHUB_TEST_HANG"))
    store.check_entry_points.keywords["settings"].entry_point_check_timeout = 5
    start = time.monotonic()
    with pytest.raises(Invalid) as refused:
        store.create_twin(ADMIN, manifest("hang", model="twinhub_testtwins.hostile:run"))
    assert time.monotonic() - start < 60
    assert "did not import within 5 s" in dict(refused.value.detail)["model"]


def test_a_missing_module_names_the_field(store: Store) -> None:
    with pytest.raises(Invalid) as refused:
        store.create_twin(ADMIN, manifest("gone", app="twinhub_testtwins.nothing:create_app"))
    assert "does not import: ModuleNotFoundError" in dict(refused.value.detail)["app"]


def test_pip_configuration_reaches_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///nowhere/a file:///nowhere/b")
    options = runtimes.pip_index_options()
    pairs = set(zip(options[::2], options[1::2], strict=True))
    assert ("--find-links", str(tmp_path / "wheels")) in pairs
    assert {
        ("--extra-index-url", "file:///nowhere/a"),
        ("--extra-index-url", "file:///nowhere/b"),
    } <= pairs


def test_build_environment_layers_a_twin_package_on_the_platform(tmp_path: Path) -> None:
    package = tmp_path / "mytwin"
    (package / "twinhub_mytwin").mkdir(parents=True)
    (package / "twinhub_mytwin" / "__init__.py").write_text("ANSWER = 42\n")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "twinhub-mytwin"\nversion = "1.0.0"\n'
    )
    settings = _settings(tmp_path)
    assert runtimes.runtime_python("mytwin", settings) == Path(sys.executable)  # shared one
    python = runtimes.build_environment("mytwin", [], settings, editable=[package])
    assert runtimes.runtime_python("mytwin", settings) == python
    probe = "import twinhub_mytwin, twinhub.twins.manifest, numpy; print(twinhub_mytwin.ANSWER)"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "42"
    # the platform's own environment stays without the twin
    assert subprocess.run([sys.executable, "-c", "import twinhub_mytwin"]).returncode != 0
    # the same inputs: the same environment, reused
    again = runtimes.build_environment("mytwin", [], settings, editable=[package])
    assert again.resolve() == python.resolve()


def test_a_twins_requirement_installs_at_the_twin_runtimes_version(tmp_path: Path) -> None:
    """The environment's own copy, at the version pip installed in the twin runtime, wherever
    among pip's indexes that version is (on this machine's, jsonschema's pinned version is not
    on the first index that has jsonschema)."""
    python = runtimes.build_environment("needs-schema", ["jsonschema"], _settings(tmp_path))
    probe = (
        "import jsonschema as j, importlib.metadata as m; print(j.__file__, m.version(j.__name__))"
    )
    where, version = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert Path(where).resolve().is_relative_to(python.parent.parent.resolve())
    assert version == importlib.metadata.version("jsonschema")


def test_the_platform_environment_is_found_next_to_the_twin_runtime(tmp_path: Path) -> None:
    """`make install` builds it as <venv>-platform; without one (a plain pip install) the
    platform and the twins share this interpreter's environment."""
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    assert runtimes.platform_python(venv) == Path(sys.executable)
    python = tmp_path / ".venv-platform" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert runtimes.platform_python(venv) == python


# what a user's server imports first, and what the hub and the registry do
_STARTUP_IMPORTS = (
    "jupyterhub.singleuser.app",
    "jupyterhub.app",
    "twinhub.extensions.server.notebook",
    "twinhub.extensions.registry.app",
)
_UNCOMPILED_PROBE = f"""
import importlib.util, json, os, sys
import {", ".join(_STARTUP_IMPORTS)}
files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
files = [f for f in files if f.endswith(".py")]
print(json.dumps({{
    "uncompiled": [f for f in files if not os.path.exists(importlib.util.cache_from_source(f))],
    "rfc3987_syntax": "rfc3987_syntax" in sys.modules,
}}))
"""


@pytest.mark.parametrize("environment", ["twin runtime", "platform"])
def test_the_installed_environments_start_from_bytecode(environment: str) -> None:
    """Servers, kernels and workers run as users' accounts, which cannot write __pycache__ in
    the environments or the project, and the services run with PYTHONDONTWRITEBYTECODE where
    the launcher has it: every module they import must be compiled at install (`make install`;
    uv compiles only when asked), and jsonschema must not build rfc3987-syntax's parsers
    (about 2.7 s of CPU per Jupyter process, pyproject.toml)."""
    python = sys.executable if environment == "twin runtime" else runtimes.platform_python()
    out = subprocess.run(
        [str(python), "-B", "-c", _UNCOMPILED_PROBE],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    found = json.loads(out.stdout)
    assert found["uncompiled"] == []
    assert not found["rfc3987_syntax"]


COUNTED = """
with open({log!r}, "a") as f:
    f.write("imported\\n")
run = create_app = {value}
"""


def test_the_same_entry_points_pass_again_without_a_process_until_their_code_changes(
    store: Store, tmp_path: Path
) -> None:
    """A check is a process importing the twin (a second or more of CPU): registering or
    updating the same twin again reuses a pass while the files it depended on are unchanged;
    a change, or a failing check, imports again."""
    module = Path(os.environ["PYTHONPATH"]) / "twinhub_testtwins" / "counted.py"
    log = tmp_path / "imports.log"
    entry = {"model": "twinhub_testtwins.counted:run", "app": "twinhub_testtwins.counted:run"}

    def imports() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    module.write_text(COUNTED.format(log=str(log), value="lambda: None"))
    store.create_twin(ADMIN, manifest("counted-a", **entry))
    store.create_twin(ADMIN, manifest("counted-b", **entry))
    store.update_twin(ADMIN, "counted-a", manifest("counted-a", title="Renamed", **entry))
    assert imports() == 1
    module.write_text(COUNTED.format(log=str(log), value="42"))
    with pytest.raises(Invalid, match="not callable"):
        store.create_twin(ADMIN, manifest("counted-c", **entry))
    with pytest.raises(Invalid, match="not callable"):  # a failure is never reused
        store.create_twin(ADMIN, manifest("counted-c", **entry))
    assert imports() == 3
    module.write_text(COUNTED.format(log=str(log), value="(lambda: None)"))
    store.create_twin(ADMIN, manifest("counted-c", **entry))
    store.create_twin(ADMIN, manifest("counted-d", **entry))
    assert imports() == 4
