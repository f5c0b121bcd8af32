"""Run a twin's model from catalog data and keep a record that can replay it bit for bit.

:func:`execute` opens the inputs through the catalog, checksums them, calls the model entry
point, computes the result (in-process or on a Dask client), checksums the outputs and returns
both with a :class:`RunRecord`. On a Dask cluster it also notes the workers lost during the run
(Dask reran their tasks; the record keeps the incident), and turns a lost scheduler into a
:class:`RunFailed` that says what to do, with the failed run recorded. :func:`replay` takes a
record, or its PROV-JSON alone, reopens the same catalog entry, refuses if the data changed,
reruns and checks the outputs are identical; the PROV-JSON may be a saved file
(``twinhub-runs/<twin>-<id>.prov.json``).
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from typing import Any

import xarray as xr
from twinhub.catalogs.access import dataset_checksum, open_entry
from twinhub.contracts.settings import REPO_ROOT
from twinhub.twins.daskfaults import ClusterWatch, RunFailed, WorkerLoss, infrastructure_failure
from twinhub.twins.ensemble import compute
from twinhub.twins.manifest import resolve_entry_point
from twinhub.twins.provenance import ProvJson, record_fields, to_prov_json


class ReplayError(RuntimeError):
    """A replay could not reproduce the recorded run (changed data or different output)."""


@dataclass(frozen=True)
class InputRef:
    """A catalog entry as a run used it."""

    entry: str
    version: str
    checksum: str


@dataclass
class RunRecord:
    """What ran, on what, with which parameters, by whom, when, and what came out."""

    twin: str
    twin_version: str
    entry_point: str
    parameters: dict[str, Any]
    inputs: list[InputRef]
    agent: str
    code_version: str
    started: datetime
    ended: datetime
    status: str = "finished"
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    incidents: list[WorkerLoss] = field(default_factory=list)
    """Dask workers lost during the run (their tasks were computed again elsewhere)."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    reproduces: str | None = None
    """The run this one replayed (:func:`rerun`), whose outputs it matched bit for bit."""

    def provenance(self) -> dict[str, Any]:
        """W3C PROV-JSON of this run."""
        return to_prov_json(self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started"] = self.started.isoformat()
        data["ended"] = self.ended.isoformat()
        data["incidents"] = [loss.to_dict() for loss in self.incidents]
        return data

    @classmethod
    def from_provenance(cls, document: ProvJson) -> RunRecord:
        """The record back from its PROV-JSON (a dict, its text, or a saved file's path)."""
        fields = record_fields(document)
        fields["inputs"] = [InputRef(**ref) for ref in fields["inputs"]]
        losses = [WorkerLoss.from_dict(loss) for loss in fields["incidents"]]
        fields["incidents"] = sorted(losses, key=lambda loss: (loss.at, loss.worker))
        for key in ("started", "ended"):
            value = fields[key]
            fields[key] = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return cls(**fields)


def current_agent(client: Any = None) -> str:
    """The hub user the run is for: named by the client when a service computes on behalf of
    someone (``client.twinhub_user``, the dashboard service), else the user of this server
    (``JUPYTERHUB_USER``), else the local account."""
    return (
        getattr(client, "twinhub_user", None)
        or os.environ.get("JUPYTERHUB_USER")
        or f"local-{getpass.getuser()}"
    )


@cache
def code_version() -> str:
    """The git commit of the checkout (``+dirty`` if modified), else the package version."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        return f"git:{commit}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return f"twinhub=={metadata.version('twinhub')}"


def output_checksums(ds: xr.Dataset) -> dict[str, str]:
    """One checksum per output variable (with its coordinates), plus one of the whole dataset."""
    sums = {str(name): dataset_checksum(ds[[name]]) for name in ds.data_vars}
    sums["dataset"] = dataset_checksum(ds)
    return sums


def execute(
    entry_point: str,
    entry: str | None,
    parameters: Mapping[str, Any],
    *,
    twin: str = "",
    twin_version: str = "",
    client: Any = None,
) -> tuple[xr.Dataset, RunRecord]:
    """Run ``entry_point(inputs, parameters)`` on catalog ``entry``; returns output and record.

    ``entry`` is None for simulation twins that read no data (``inputs`` is then None): their
    parameters, seeds included, determine the run. Parameters must be JSON-serialisable (they go
    into the record as they are). A failing model still yields no output; the exception
    propagates with the record attached as ``.record``. When the Dask cluster is what failed
    (the scheduler was lost, or workers kept dying), the exception is a :class:`RunFailed`
    and the failed run is recorded at once (see :func:`keep_failed_run`).
    """
    model = resolve_entry_point(entry_point)
    started = datetime.now(UTC)
    record = RunRecord(
        twin=twin, twin_version=twin_version, entry_point=entry_point,
        parameters=dict(parameters), inputs=[], agent=current_agent(client),
        code_version=code_version(), started=started, ended=started,
    )  # fmt: skip
    # the watch starts before the inputs are read: their checksum may compute on the cluster
    watch = ClusterWatch(client) if client is not None else None
    try:
        inputs = open_entry(entry) if entry is not None else None
        if inputs is not None:
            record.inputs.append(
                InputRef(
                    entry=inputs.attrs.get("catalog_entry", entry),
                    version=str(inputs.attrs.get("catalog_version", "unversioned")),
                    checksum=dataset_checksum(inputs),
                )
            )
        output = compute(model(inputs, dict(parameters)), client)
    except Exception as e:
        record.status, record.ended = "failed", _now()
        record.incidents = watch.worker_losses() if watch else []
        failure = infrastructure_failure(e, client, twin) if client is not None else None
        record.error = f"{type(failure or e).__name__}: {failure or e}"
        if failure is None:
            e.record = record  # type: ignore[attr-defined]
            raise
        failure.record = record
        if not getattr(client, "twinhub_user", None):
            # a notebook: keep the record now. A service computing for someone (a dashboard)
            # keeps it itself, with that person's token (see publish.failure_message)
            keep_failed_run(failure)
        raise failure from e
    record.ended = _now()
    record.incidents = watch.worker_losses() if watch else []
    record.outputs = output_checksums(output)
    return output, record


def keep_failed_run(failure: RunFailed) -> str:
    """Record a run the cluster broke (registry, or a local file) once; where it went.

    The message of ``failure`` gains that place, so the error a person reads says where the
    failed run's record is. Keeping the record never hides the run's own failure: if neither
    the registry nor a file takes it, the message says so.
    """
    from twinhub.twins.publish import RegistryError, publish, save_record  # (import cycle)

    if failure.kept is not None or failure.record is None:
        return failure.kept or ""
    try:
        where = publish(failure.record)
        failure.kept = str(where.url or where.path)
    except RegistryError as e:  # the registry is down too: publish saved it in a file
        failure.kept = str(e).rsplit("the record is saved in ", 1)[-1]
    except Exception as e:  # e.g. an unexpected reply: keep a file instead
        try:
            failure.kept = str(save_record(failure.record))
        except OSError as disk:
            note = f"{type(e).__name__}: {e}; {type(disk).__name__}: {disk}"
            failure.args = (f"{failure.args[0]} The failed run could not be recorded ({note}).",)
            return ""
    failure.args = (f"{failure.args[0]} The failed run is recorded at {failure.kept}.",)
    return failure.kept


def _now() -> datetime:
    return datetime.now(UTC)


def replay(record: RunRecord | ProvJson, client: Any = None) -> Any:
    """Rerun a recorded run and check the output is bit-for-bit the recorded one.

    ``record`` is a :class:`RunRecord` or its PROV-JSON: a dict, its text, or the path of a
    saved record (``replay(Path("twinhub-runs/flood-<id>.prov.json"))``). A pipeline's PROV
    document replays the whole pipeline (:func:`twinhub.twins.pipeline.replay_pipeline`) and
    returns its outputs (with each step's dataset as ``.steps``).
    """
    return rerun(record, client)[0]


def rerun(record: RunRecord | ProvJson, client: Any = None) -> tuple[Any, dict[str, Any]]:
    """:func:`replay`, with the PROV-JSON of the replay itself: a run of its own (who asked,
    when, on which code) that names the run it reproduced (``reproduces``; PROV
    ``wasInformedBy`` that run, each output an ``alternateOf`` the recorded one). For a
    pipeline, the rerun's own document."""
    if not isinstance(record, RunRecord):
        from twinhub.twins.pipeline import is_pipeline_document, replay_pipeline  # (import cycle)

        if is_pipeline_document(record):
            outputs, document = replay_pipeline(record, client)
            return outputs, json.loads(document.serialize(format="json"))
        record = RunRecord.from_provenance(record)
    if len(record.inputs) > 1:
        raise ReplayError(f"run {record.id}: replay supports one input, got {len(record.inputs)}")
    entry = None
    for ref in record.inputs:
        current = dataset_checksum(open_entry(ref.entry))
        if current != ref.checksum:
            raise ReplayError(
                f"run {record.id}: catalog entry {ref.entry!r} changed since the run "
                f"(recorded sha256 {ref.checksum[:12]}..., now {current[:12]}...)"
            )
        entry = ref.entry
    output, again = execute(
        record.entry_point, entry, record.parameters,
        twin=record.twin, twin_version=record.twin_version, client=client,
    )  # fmt: skip
    if again.outputs != record.outputs:
        differing = sorted(k for k in record.outputs if again.outputs.get(k) != record.outputs[k])
        raise ReplayError(f"run {record.id}: outputs differ from the record: {differing}")
    again.reproduces = record.id
    return output, again.provenance()
