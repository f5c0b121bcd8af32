"""A run's Dask incidents and its failure travel in the PROV-JSON and to the registry intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from twinhub.twins.daskfaults import SchedulerLost, WorkerLoss
from twinhub.twins.provenance import read_prov_json
from twinhub.twins.publish import ERROR_LENGTH, registry_run
from twinhub.twins.runs import RunRecord, keep_failed_run

from tests.support.prov import assert_describes_run, read_prov

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


def test_failed_run_is_kept_in_a_file_without_registry(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("TWINHUB_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    failure = SchedulerLost("the Dask scheduler at tls://x was lost during the run.")
    failure.record = record(status="failed", error=f"SchedulerLost: {failure}")
    where = keep_failed_run(failure)
    assert keep_failed_run(failure) == where  # once only
    assert_describes_run(read_prov(Path(where)), failure.record)  # a PROV-JSON file
    saved = RunRecord.from_provenance(Path(where))
    assert saved.status == "failed" and saved.error.startswith("SchedulerLost: ")
    assert str(failure).endswith(f"The failed run is recorded at {where}.")
    assert len(list((tmp_path / "twinhub-runs").iterdir())) == 1


def test_model_errors_are_not_taken_for_a_lost_scheduler() -> None:
    from distributed.client import FutureCancelledError
    from twinhub.twins.daskfaults import infrastructure_failure
    from twinhub.twins.params import ParameterError

    lost = FutureCancelledError("finalize-x", "scheduler-connection-lost", "Client lost it")
    assert isinstance(infrastructure_failure(lost, object(), "lattice"), SchedulerLost)
    bad = ParameterError("sweeps", "must be at least 100")
    assert infrastructure_failure(bad, object(), "lattice") is None
