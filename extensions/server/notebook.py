"""The twin's notebook in the user's twin server: a copy of it in the server's folder on start.

"Open in JupyterLab" on the Twins page starts a named server for the twin (``TWINHUB_TWIN``)
and opens its notebook, so the notebook must be in that server's files. The copy lands at
``<twin>/<notebook>`` under the server's root and is never overwritten: once copied it is the
user's own, edits included.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from twinhub.contracts.manifest import MANIFEST_FILE
from twinhub.contracts.settings import Settings
from twinhub.twins.manifest import load_manifest

log = logging.getLogger(__name__)


def notebook_path(twin: str, notebook: str | None) -> str | None:
    """Where the notebook of ``twin`` sits relative to the server's root (or None)."""
    return f"{twin}/{notebook}" if notebook else None


def provide_twin_notebook(root: Path, twin: str, twins_dir: Path | None = None) -> Path | None:
    """Copy the twin's notebook to ``root/<twin>/<notebook>`` unless there is one; its path."""
    if not twin:
        return None
    folder = (twins_dir or Settings.from_env().twins_dir) / twin
    if not (folder / MANIFEST_FILE).is_file():
        log.info("twin %r has no folder under %s: no notebook to provide", twin, folder.parent)
        return None
    manifest = load_manifest(folder / MANIFEST_FILE)
    relative = notebook_path(twin, manifest.notebook)
    if relative is None or not (folder / manifest.notebook).is_file():
        return None
    target = Path(root) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / manifest.notebook, target)
    return target
