"""Twin runtime environments: where a twin's code runs, and how a published twin's is built.

(The smallest version the ``publish`` work needs; the ``twinpkgs`` work owns this module's
full form, with the same two names.)

* :func:`runtime_python` is the interpreter of a twin's environment: the served version's for a
  published twin (``<state>/published/<twin>/served/env``), else the platform's own.
* :func:`build_environment` makes a published version's environment with ``uv``: a venv whose
  ``site`` also loads the platform's packages (the base: the twin framework, numpy, xarray,
  Panel...), plus the twin package and its declared requirements. ``uv`` ignores pip's
  configuration, so pip's configured index, extra indexes and find-links are passed to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

PUBLISHED = "published"
SERVED = "served"


def published_dir(state_dir: Path, twin: str) -> Path:
    return Path(state_dir) / PUBLISHED / twin


def runtime_python(twin: str, settings: Any) -> Path:
    """The interpreter a twin's code runs in (the served version's, for a published twin)."""
    python = published_dir(settings.state_dir, twin) / SERVED / "env" / "bin" / "python"
    return python if python.exists() else Path(sys.executable)


def uv_binary() -> str:
    found = shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}")
    if not found:
        raise FileNotFoundError("uv is not installed in the platform's environment")
    return found


def pip_index_options(env: Mapping[str, str] | None = None) -> list[str]:
    """pip's configured index, extra indexes and find-links as ``uv`` options (uv reads no
    pip.conf); read through pip itself (files and ``PIP_*`` variables), nothing hard-coded."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True, text=True, timeout=60, env=dict(env or os.environ), check=False,
    )  # fmt: skip
    options: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        name = key.rpartition(".")[2]
        values = value.strip().strip("'\"").split()
        if name in ("index-url", "extra-index-url", "find-links") and values:
            options[name] = values  # later lines (environment) override files
    args = []
    for url in options.get("index-url", []):
        args += ["--default-index", url]
    for url in options.get("extra-index-url", []):
        args += ["--index", url]
    for url in options.get("find-links", []):
        args += ["--find-links", url]
    return args


def base_site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def build_environment(
    source: Path,
    env_dir: Path,
    *,
    run: Callable[[list[str]], None],
) -> Path:
    """Build ``env_dir`` for the twin package in ``source``; return its interpreter.

    ``run(argv)`` runs one command (the caller decides as whom, with which environment and for
    how long, and keeps its output); it raises when the command fails.
    """
    uv = uv_binary()
    run([uv, "venv", "--quiet", "--python", sys.executable, str(env_dir)])
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    # the platform's packages as a site directory (its own .pth files, editable installs
    # included, are processed), after the twin's own
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in base_site_packages())
    pth = Path(site, "_twinhub_base.pth")
    pth.write_text(lines)
    os.chmod(pth, 0o644)  # read by the account the twin runs as (the caller may use umask 077)
    run([uv, "pip", "install", "--python", str(python), *pip_index_options(), str(source)])
    return python
