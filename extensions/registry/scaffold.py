"""``twinhub new NAME``: a working twin folder from the template shipped with this package.

The template (``twin_template/``, package data) is a complete twin: manifest, model reading its
own sample data, a Panel app on :class:`twinhub.twins.dashboard.TwinDashboard`, a notebook, its
own test and a ``pyproject.toml`` whose entry point (group ``twinhub.twins``) names the package.
``{{name}}``, ``{{package}}``, ``{{title}}`` and ``{{user}}`` are filled in; nothing else is.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

from twinhub.contracts.manifest import SLUG

TEMPLATE = Path(__file__).resolve().parent / "twin_template"
SUFFIX = ".tmpl"


class ScaffoldError(ValueError):
    pass


def package_name(name: str) -> str:
    """The twin's top-level Python package: ``twinhub_`` and the name with '_' for '-'."""
    return "twinhub_" + name.replace("-", "_")


def title(name: str) -> str:
    """'heat-demo' -> 'Heat demo twin'; a name that says twin already keeps one."""
    words = name.replace("-", " ").capitalize()
    return words if words.split()[-1] == "twin" else f"{words} twin"


def new_twin(name: str, parent: Path, user: str | None = None) -> Path:
    """Write the twin folder ``parent/name`` (which must not exist); return it."""
    if not re.match(SLUG, name) or len(name) > 40:
        raise ScaffoldError(
            f"{name[:60]!r} is not a twin name: 2-40 lower-case letters, digits or '-', "
            "starting with a letter"
        )
    folder = parent / name
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already: choose another name or folder")
    user = user or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    values = {
        "{{name}}": name,
        "{{package}}": package_name(name),
        "{{title}}": title(name),
        "{{user}}": user,
    }
    folder.mkdir(parents=True)
    for source in sorted(TEMPLATE.rglob("*")):
        target = folder / source.relative_to(TEMPLATE)
        if source.is_dir():
            target.mkdir(exist_ok=True)
            continue
        if source.name.endswith(SUFFIX):
            text = source.read_text()
            for key, value in values.items():
                text = text.replace(key, value)
            target.with_name(source.name.removesuffix(SUFFIX)).write_text(text)
        else:
            target.write_bytes(source.read_bytes())
    return folder
