"""A run's Dask incidents and its failure travel in the PROV-JSON and to the registry intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from twinhub.twins.daskfaults import WorkerLoss
from twinhub.twins.provenance import read_prov_json
from twinhub.twins.publish import ERROR_LENGTH, registry_run
from twinhub.twins.runs import RunRecord

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def record(**fields) -> RunRecord:
    base = dict(
        twin="lattice", twin_version="0.1.0", entry_point="twinhub.twins.lattice.model:run",
        parameters={"sizes": [8]}, inputs=[], agent="ada", code_version="git:abc",
        started=START, ended=START + timedelta(seconds=9),
    )  # fmt: skip
    return RunRecord(**{**base, **fields})


def test_worker_losses_round_trip_through_prov_json_in_time_order() -> None:
    losses = [
        WorkerLoss("tls://127.0.0.1:4002", START + timedelta(seconds=5), ("b-1",), True),
        WorkerLoss("tls://127.0.0.1:4001", START + timedelta(seconds=2), ("a-1", "('x', 0)")),
    ]
    run = record(incidents=losses, outputs={"binder": "0" * 64})
    document = run.provenance()
    doc = read_prov_json(document)  # valid PROV-JSON for the prov package
    influences = [r for r in doc.get_records() if r.get_type().localpart == "Influence"]
    assert len(influences) == 2
    back = RunRecord.from_provenance(json.dumps(document))
    assert back.incidents == sorted(losses, key=lambda loss: loss.at)
    assert back.incidents[0].tasks_retried == ("a-1", "('x', 0)")
    assert back.incidents[1].expected and not back.incidents[0].expected
    assert back == record(incidents=back.incidents, outputs={"binder": "0" * 64}, id=run.id)


def test_failed_run_keeps_its_error_in_provenance_and_registry_payload() -> None:
    message = "SchedulerLost: the Dask scheduler at tls://x was lost " + "x" * 3000
    run = record(status="failed", error=message)
    back = RunRecord.from_provenance(run.provenance())
    assert back.status == "failed" and back.error == message and back.outputs == {}
    payload = registry_run(run)
    assert payload["status"] == "failed" and payload["error"] == message[:ERROR_LENGTH]


def test_finished_run_sends_no_error() -> None:
    payload = registry_run(record(outputs={"dataset": "1" * 64}))
    assert payload == {"parameters": {"sizes": [8]}, "status": "succeeded"}
