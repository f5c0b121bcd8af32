"""Twin framework: runs leave PROV-JSON that replays bit for bit, Dask gives the in-process
numbers, bad parameters are refused by name, records are kept when no registry is configured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr
from dask.distributed import Client, LocalCluster
from prov.model import ProvAlternate, ProvCommunication
from twinhub.twins import publish
from twinhub.twins.flood import calibrate
from twinhub.twins.flood.forecast import forecast
from twinhub.twins.manifest import ManifestError, entry_point_errors, load_manifest
from twinhub.twins.params import ParameterError
from twinhub.twins.provenance import read_prov_json
from twinhub.twins.runs import ReplayError, RunRecord, replay, rerun
from twinhub.twins.twin import Twin, load_twin

from tests.support.data import ensure_built
from tests.support.prov import assert_describes_run, read_prov


@pytest.fixture(scope="module")
def twin() -> Twin:
    ensure_built()
    return load_twin("flood")


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as c,
    ):
        yield c


SMALL = {"ensemble_size": 10, "precip_sigma": 0.25, "seed": 3, "block": 4}


def test_manifest_is_valid_and_entry_points_import(twin: Twin) -> None:
    manifest = load_manifest(twin.folder / "twin.yaml")
    assert manifest.name == "flood" and manifest.catalog == ["fulda_daily"]
    assert entry_point_errors(manifest) == []


def test_provenance_is_prov_json_with_inputs_agent_and_outputs(twin, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "hydrologist")
    out, record = twin.run(SMALL)
    doc = read_prov_json(record.provenance())  # prov parses it back
    assert len(doc.get_records()) > 5
    back = RunRecord.from_provenance(json.dumps(record.provenance()))
    assert back.agent == "hydrologist"
    assert back.inputs[0].entry == "fulda_daily" and back.inputs[0].version == "1.0.0"
    assert back.parameters == record.parameters and back.parameters["seed"] == 3
    assert back.outputs == record.outputs and len(back.outputs["discharge"]) == 64
    assert back.started <= back.ended and back.code_version == record.code_version
    assert out.sizes["member"] == 10


def test_replay_from_provenance_reproduces_output_bit_for_bit(twin) -> None:
    out, record = twin.run(SMALL)
    again = replay(record.provenance())
    assert again.discharge.values.tobytes() == out.discharge.values.tobytes()
    xr.testing.assert_identical(again, out)


def test_a_replays_prov_is_its_own_run_naming_the_run_it_reproduced(twin, monkeypatch) -> None:
    """The person who replays and when are the replay's own; the link to the original is PROV
    (wasInformedBy the run, each output alternateOf the recorded one), read back by ``prov``."""
    monkeypatch.setenv("JUPYTERHUB_USER", "hydrologist")
    _, record = twin.run(SMALL)
    monkeypatch.setenv("JUPYTERHUB_USER", "reviewer")
    _, document = rerun(record.provenance())
    again = RunRecord.from_provenance(document)
    assert again.id != record.id and again.reproduces == record.id
    assert again.agent == "reviewer" and again.started >= record.ended
    assert again.outputs == record.outputs and again.parameters == record.parameters
    doc = read_prov_json(document)
    informed = {
        (str(r.args[0]), str(r.args[1]))
        for r in doc.get_records(ProvCommunication)  # wasInformedBy
    }
    assert informed == {(f"twinhub:run/{again.id}", f"twinhub:run/{record.id}")}
    alternates = {(str(r.args[0]), str(r.args[1])) for r in doc.get_records(ProvAlternate)}
    assert alternates == {
        (f"twinhub:output/{again.id}/{name}", f"twinhub:output/{record.id}/{name}")
        for name in record.outputs
    }
    assert RunRecord.from_provenance(record.provenance()).reproduces is None


def test_replay_refuses_a_record_whose_outputs_differ(twin) -> None:
    _, record = twin.run(SMALL)
    record.outputs = {**record.outputs, "discharge": "0" * 64}
    with pytest.raises(ReplayError, match="discharge"):
        replay(record)


def test_local_cluster_gives_the_in_process_ensemble(twin, client) -> None:
    local, _ = twin.run(SMALL)
    distributed, _ = twin.run(SMALL, client=client)
    assert distributed.discharge.values.tobytes() == local.discharge.values.tobytes()


def test_calibration_on_cluster_finds_the_in_process_optimum(twin, client) -> None:
    inputs = twin.inputs().load()
    budget = {"generations": 4, "popsize": 4, "progress": False}
    here = calibrate.calibrate_flood(inputs, **budget)
    there = calibrate.calibrate_flood(inputs, client=client, **budget)
    assert here.best == there.best and here.score == there.score


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"precip_scale": -0.5}, "parameters.precip_scale"),
        ({"ensemble_size": 0}, "parameters.ensemble_size"),
        ({"ensemble_size": 201}, "parameters.ensemble_size"),
        ({"storm_mm": -3}, "parameters.storm_mm"),
    ],
)
def test_bad_parameters_are_refused_by_name(twin, params, name) -> None:
    with pytest.raises(ManifestError) as err:
        twin.run(params)
    assert name in str(err.value)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"precip_scale": -1.0}, "precip_scale"),
        ({"ensemble_size": 0}, "ensemble_size"),
        ({"ensemble_size": 1000}, "ensemble_size"),
        ({"storm_mm": 50.0, "storm_day": "2001-01-01"}, "storm_day"),
        ({"parameter_sets": {"TT": [0.0]}}, "parameter_sets"),
    ],
)
def test_model_refuses_bad_parameters_by_name(twin, params, name) -> None:
    with pytest.raises(ParameterError) as err:
        forecast(twin.inputs(), params)
    assert err.value.name == name and name in str(err.value)


def test_unknown_catalog_entry_is_refused_by_name(twin) -> None:
    with pytest.raises(ParameterError, match="'entry'.*'rhine_daily'") as err:
        twin.run({}, entry="rhine_daily")
    assert err.value.name == "entry"


def test_record_is_saved_as_a_prov_json_file_without_registry(
    twin, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("TWINHUB_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    out, record = twin.run({"ensemble_size": 2})
    where = publish.publish(record)
    assert where.url is None and where.path.parent == tmp_path / publish.RUNS_FOLDER
    assert where.path.name == f"flood-{record.id}.prov.json"
    assert_describes_run(read_prov(where.path), record)  # the W3C PROV-JSON file itself
    back = RunRecord.from_provenance(where.path)
    assert back.status == "finished" and back.parameters["ensemble_size"] == 2
    assert back.outputs == record.outputs
    xr.testing.assert_identical(replay(where.path), out)  # the saved file replays the run
    assert not list(where.path.parent.glob("*.partial"))


def test_failed_run_records_the_error(twin) -> None:
    with pytest.raises(ParameterError) as err:
        twin.run({"storm_mm": 10.0, "storm_day": None})
    record = err.value.record
    assert record.status == "failed" and "storm_day" in record.error


def test_unreachable_registry_raises_and_keeps_the_record(twin, tmp_path: Path) -> None:
    from tests.support.gateway import free_ports

    _, record = twin.run({"ensemble_size": 1})
    (port,) = free_ports(1)  # nothing listens there
    with pytest.warns(UserWarning), pytest.raises(publish.RegistryError, match="saved in") as err:
        publish.publish(record, api_url=f"http://127.0.0.1:{port}/api", folder=tmp_path)
    assert "/twins/flood/runs" in str(err.value)
    (kept,) = tmp_path.glob("flood-*.prov.json")
    assert_describes_run(read_prov(kept), record)
