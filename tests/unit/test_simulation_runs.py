"""Simulation twins (no input data) leave provenance like the others and replay bit for bit."""

from __future__ import annotations

import json

import pytest
import xarray as xr
from prov.model import ProvDocument
from twinhub.twins.runs import ReplayError, RunRecord, replay
from twinhub.twins.twin import load_twin

SMALL = {
    "lattice": {"sizes": [4], "temperatures": [2.0, 2.5], "sweeps": 200, "replicas": 2, "seed": 7},
    "gwnoise": {"duration": 16, "seed": 5, "glitch_rate": 0.5},
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_simulation_run_records_parameters_agent_and_outputs(name: str, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "physicist")
    twin = load_twin(name)
    out, record = twin.run(SMALL[name])
    assert record.status == "finished" and record.inputs == []
    doc = ProvDocument.deserialize(content=json.dumps(record.provenance()), format="json")
    assert len(doc.get_records()) > 3
    back = RunRecord.from_provenance(json.dumps(record.provenance()))
    assert back.agent == "physicist"
    assert back.parameters["seed"] == SMALL[name]["seed"]
    assert back.outputs == record.outputs
    assert set(out.data_vars) <= set(back.outputs)  # a checksum per variable (and the whole)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_simulation_run_replays_bit_for_bit(name: str) -> None:
    out, record = load_twin(name).run(SMALL[name])
    again = replay(record.provenance())
    xr.testing.assert_identical(again, out)
    tampered = RunRecord.from_provenance(json.dumps(record.provenance()))
    first = next(iter(tampered.outputs))
    tampered.outputs = {**tampered.outputs, first: "0" * 64}
    with pytest.raises(ReplayError, match=first):
        replay(tampered)
