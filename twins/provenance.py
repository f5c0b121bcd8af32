"""W3C PROV-JSON for a run record (the ``prov`` package writes and reads it).

The document says: the run (an activity, with start and end times, the twin and its code
version) used the input datasets (catalog entry, version, checksum) and the parameters, was
associated with the hub user (agent) and the twinhub software, and generated the outputs (with
checksums). The attributes are complete enough to replay the run (see :mod:`twinhub.twins.runs`).
A failed run keeps what is known (its error on the activity, no outputs): partial provenance.
Each Dask worker lost during the run is an entity ``twinhub:WorkerLost`` (worker address, time,
the tasks Dask computed again) that influenced the run: the numbers are the same, yet a reader
sees that the cluster was disturbed.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prov.model import ProvDocument

if TYPE_CHECKING:
    from twinhub.twins.runs import RunRecord

NAMESPACE = ("twinhub", "urn:twinhub:")


def _attr(name: str) -> str:
    return f"twinhub:{name}"


def to_prov(record: RunRecord) -> ProvDocument:
    doc = ProvDocument()
    doc.add_namespace(*NAMESPACE)
    attributes = {
        "prov:type": "twinhub:ModelRun",
        _attr("twin"): record.twin,
        _attr("twinVersion"): record.twin_version,
        _attr("entryPoint"): record.entry_point,
        _attr("status"): record.status,
        _attr("codeVersion"): record.code_version,
        _attr("workerLosses"): len(record.incidents),
    }
    if record.error:
        attributes[_attr("error")] = record.error
    if record.reproduces:
        attributes[_attr("reproduces")] = record.reproduces
    run = doc.activity(
        f"twinhub:run/{record.id}",
        startTime=record.started,
        endTime=record.ended,
        other_attributes=attributes,
    )
    if record.reproduces:  # a replay: informed by the run it repeated
        doc.wasInformedBy(run, f"twinhub:run/{record.reproduces}")
    for n, loss in enumerate(record.incidents):
        incident = doc.entity(
            f"twinhub:incident/{record.id}/{n}",
            {
                "prov:type": "twinhub:WorkerLost",
                _attr("worker"): loss.worker,
                _attr("at"): loss.at.isoformat(),
                _attr("tasksRetried"): json.dumps(list(loss.tasks_retried)),
                _attr("expected"): "true" if loss.expected else "false",
            },
        )
        doc.wasInfluencedBy(run, incident)
    user = doc.agent(
        f"twinhub:user/{record.agent}",
        {"prov:type": "prov:Person", _attr("name"): record.agent},
    )
    software = doc.agent(
        f"twinhub:software/{record.code_version}",
        {"prov:type": "prov:SoftwareAgent", _attr("codeVersion"): record.code_version},
    )
    doc.wasAssociatedWith(run, user)
    doc.wasAssociatedWith(run, software)
    doc.actedOnBehalfOf(software, user)
    params = doc.entity(
        f"twinhub:parameters/{record.id}",
        {
            "prov:type": "twinhub:Parameters",
            "prov:value": json.dumps(record.parameters, sort_keys=True),
        },
    )
    doc.used(run, params)
    inputs = []
    for ref in record.inputs:
        entity = doc.entity(
            f"twinhub:data/{ref.entry}/{ref.version}/{ref.checksum[:16]}",
            {
                "prov:type": "twinhub:Dataset",
                _attr("catalogEntry"): ref.entry,
                _attr("version"): ref.version,
                _attr("sha256"): ref.checksum,
            },
        )
        doc.used(run, entity)
        inputs.append(entity)
    for name, checksum in record.outputs.items():
        out = doc.entity(
            f"twinhub:output/{record.id}/{name}",
            {"prov:type": "twinhub:Output", _attr("name"): name, _attr("sha256"): checksum},
        )
        doc.wasGeneratedBy(out, run, record.ended)
        doc.wasAttributedTo(out, user)
        if record.reproduces:  # the same bits as the reproduced run's output
            doc.alternateOf(out, f"twinhub:output/{record.reproduces}/{name}")
        for entity in inputs:
            doc.wasDerivedFrom(out, entity)
    return doc


def to_prov_json(record: RunRecord) -> dict[str, Any]:
    """The PROV-JSON document as a dict (what the registry stores and serves)."""
    return json.loads(to_prov(record).serialize(format="json"))


ProvJson = dict[str, Any] | str | os.PathLike[str]
"""A PROV-JSON document: parsed, as text, or a saved file (``twinhub-runs/*.prov.json``)."""


def read_prov_json(document: ProvJson) -> ProvDocument:
    """Parse PROV-JSON with ``prov`` (raises if it is not valid PROV-JSON)."""
    if isinstance(document, os.PathLike):
        text = Path(document).read_text()
    else:
        text = document if isinstance(document, str) else json.dumps(document)
    return ProvDocument.deserialize(content=text, format="json")


def _value(v: Any) -> Any:
    return getattr(v, "value", v) if not isinstance(v, str | int | float | datetime) else v


def record_fields(document: ProvJson) -> dict[str, Any]:
    """The run's fields back from a PROV-JSON document (inverse of :func:`to_prov_json`)."""
    doc = read_prov_json(document)
    fields: dict[str, Any] = {"inputs": [], "outputs": {}, "incidents": []}
    for rec in doc.get_records():
        attrs = {str(k): _value(v) for k, v in rec.attributes}
        kind = str(attrs.get("prov:type", ""))
        ident = str(rec.identifier)
        if kind == "twinhub:ModelRun":
            fields.update(
                id=ident.split("run/", 1)[1],
                twin=attrs["twinhub:twin"],
                twin_version=attrs["twinhub:twinVersion"],
                entry_point=attrs["twinhub:entryPoint"],
                status=attrs["twinhub:status"],
                code_version=attrs["twinhub:codeVersion"],
                started=attrs["prov:startTime"],
                ended=attrs["prov:endTime"],
                error=attrs.get("twinhub:error"),
                reproduces=attrs.get("twinhub:reproduces"),
            )
        elif kind == "twinhub:Parameters":
            fields["parameters"] = json.loads(str(attrs["prov:value"]))
        elif kind == "twinhub:Dataset":
            fields["inputs"].append(
                {
                    "entry": attrs["twinhub:catalogEntry"],
                    "version": attrs["twinhub:version"],
                    "checksum": attrs["twinhub:sha256"],
                }
            )
        elif kind == "twinhub:Output":
            fields["outputs"][attrs["twinhub:name"]] = attrs["twinhub:sha256"]
        elif kind == "twinhub:WorkerLost":
            fields["incidents"].append(
                {
                    "worker": attrs["twinhub:worker"],
                    "at": attrs["twinhub:at"],
                    "tasks_retried": json.loads(str(attrs["twinhub:tasksRetried"])),
                    "expected": str(attrs["twinhub:expected"]) == "true",
                }
            )
        elif kind == "prov:Person":
            fields["agent"] = attrs["twinhub:name"]
    return fields
