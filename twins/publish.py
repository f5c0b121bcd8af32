"""Send a run record to the registry, or keep it as a file when no registry is configured.

Inside a hub server the spawner sets ``TWINHUB_API_URL`` (the registry's ``/api`` base) and
``JUPYTERHUB_API_TOKEN``; the record goes to ``POST {api}/twins/{name}/runs``. On a laptop or on
Binder there is no registry: the PROV-JSON is written to ``twinhub-runs/<twin>-<id>.prov.json``
in the working folder, so no run is ever left without its provenance. That file is the W3C
PROV-JSON document itself (``prov.read(path, format="json")`` reads it, ``replay(path)`` reruns
it): the document holds every field of the run record, so no second file is needed.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from twinhub.twins.daskfaults import RunFailed
from twinhub.twins.runs import RunRecord, keep_failed_run

RUNS_FOLDER = "twinhub-runs"
ERROR_LENGTH = 2000
"""The registry keeps this much of a failed run's error message (the PROV-JSON has it all)."""


class RegistryError(RuntimeError):
    """The registry refused or could not be reached; the record was saved locally instead."""


@dataclass(frozen=True)
class Published:
    """Where a record went: ``url`` (registry) or ``path`` (a local file), and the reply."""

    url: str | None = None
    path: Path | None = None
    response: dict[str, Any] | None = None


def registry_run(record: RunRecord) -> dict[str, Any]:
    """``POST /api/twins/{name}/runs``: parameters, the registry's status vocabulary, error."""
    run: dict[str, Any] = {
        "parameters": record.parameters,
        "status": "succeeded" if record.status == "finished" else "failed",
    }
    if record.status != "finished" and record.error:
        run["error"] = record.error[:ERROR_LENGTH]
    return run


def save_record(record: RunRecord, folder: Path | None = None) -> Path:
    """Write the run's PROV-JSON document under ``folder``; returns the path.

    Written to a ``.partial`` file first and renamed, so a reader never sees half a document.
    """
    folder = Path(folder or Path.cwd() / RUNS_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.twin or 'run'}-{record.id}.prov.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record.provenance(), indent=1, sort_keys=True))
    partial.rename(path)
    return path


def session_token() -> str | None:
    """The hub token of the person using a Panel session, when called from one.

    In the dashboard service many people share one process; a run is recorded with the token
    of the person who clicked (their OAuth token), never with the service's own.
    """
    panel = sys.modules.get("panel")
    if panel is None or panel.state.curdoc is None:
        return None
    try:
        return panel.state.access_token
    except Exception:  # no session context (e.g. a notebook cell): not a dashboard user
        return None


def publish(
    record: RunRecord,
    api_url: str | None = None,
    token: str | None = None,
    folder: Path | None = None,
) -> Published:
    """Post the record to the registry when one is configured, else save it as a file."""
    api_url = api_url or os.environ.get("TWINHUB_API_URL")
    token = token or session_token() or os.environ.get("JUPYTERHUB_API_TOKEN")
    if not api_url:
        return Published(path=save_record(record, folder))
    base = api_url.rstrip("/")
    url = f"{base}/twins/{record.twin}/runs"
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        # the registry's contract: the run (parameters, status), then its PROV-JSON
        response = httpx.post(url, json=registry_run(record), headers=headers, timeout=30)
        response.raise_for_status()
        url = f"{base}/runs/{response.json()['id']}"
        stored = httpx.put(
            f"{url}/provenance", json=record.provenance(), headers=headers, timeout=30
        )
        stored.raise_for_status()
    except httpx.HTTPError as e:
        path = save_record(record, folder)
        detail = getattr(getattr(e, "response", None), "text", "") or str(e)
        warnings.warn(f"registry refused the run ({detail}); saved to {path}", stacklevel=2)
        raise RegistryError(f"POST {url} failed: {detail}; the record is saved in {path}") from e
    return Published(url=url, response=stored.json())


def failure_message(error: BaseException) -> str:
    """What a dashboard shows when a run failed: one line, never a traceback.

    A run the Dask cluster broke (:class:`RunFailed`) is recorded first, with the token of the
    person looking at the dashboard (call this in their session, not in a worker thread), and
    the message says where the record is.
    """
    if isinstance(error, RunFailed):
        keep_failed_run(error)
    return f"{type(error).__name__}: {error}"
