"""Dashboard runs (twins/dashboard.py) as the service makes them, without a browser.

A run started by a dashboard is a twin run: its PROV record names the person the service said
is looking (``UserClient.twinhub_user``), keeps the widget values as parameters, and replays
bit for bit. The lattice scan reports each finished temperature while it runs, yet the record
covers the whole sweep, and the replay (unwatched: all points in one go) reproduces it exactly.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date

import numpy as np
import pytest
import xarray as xr
from twinhub.extensions.dashboards.cluster import UserClient
from twinhub.twins.flood.app import FloodDashboard
from twinhub.twins.gwnoise.app import TIME_SERIES, NoiseDashboard
from twinhub.twins.lattice.app import LatticeDashboard
from twinhub.twins.runs import RunRecord, replay

from tests.support.gateway import free_ports
from tests.support.prov import assert_describes_run, read_prov
from tests.support.waiting import async_wait_for


def test_lattice_scan_grows_point_by_point_and_one_record_covers_the_sweep() -> None:
    state = LatticeDashboard(
        client=UserClient("physicist"), size=8, sweeps=200, n_temperatures=4, t_max=2.6
    )
    drawn: list[list[float]] = []
    state.param.watch(lambda e: drawn.append(list(e.new.get("temperature", []))), "results")
    asyncio.run(state.refresh())

    temps = [1.8, 2.0666666666666664, 2.3333333333333335, 2.6]
    np.testing.assert_allclose(state.temperatures(), temps)
    # empty at the start, then one more temperature each time a point finished, then the whole
    assert [len(t) for t in drawn] == [0, 1, 2, 3, 4, 4]
    assert drawn[3] == state.temperatures()[:3]
    assert not state.busy and state.error == ""

    record = state.outcome.record
    assert record.twin == "lattice" and record.agent == "physicist"
    document = state.provenance().getvalue().decode()  # the "Download provenance" button
    assert_describes_run(read_prov(document), record)  # W3C PROV-JSON, as prov reads it
    back = RunRecord.from_provenance(document)
    assert back.agent == "physicist"
    assert back.parameters["sizes"] == [8] and back.parameters["sweeps"] == 200
    assert back.parameters["temperatures"] == state.temperatures()
    assert back.parameters["theory"] == "ising" and back.parameters["algorithm"] == "wolff"
    # replay computes all points at once (nobody listens): the same numbers, bit for bit
    xr.testing.assert_identical(replay(document), state.outcome.result)
    assert len(state.results) == 4


def test_gwnoise_run_is_recorded_for_the_dashboard_user_and_replays(service_cluster) -> None:
    state = NoiseDashboard(
        client=UserClient("astro"), duration=32, curve="aLIGO", glitch_snr=15.0, seed=3
    )
    asyncio.run(state.refresh())
    assert state.error == "" and state.outcome is not None
    record = RunRecord.from_provenance(json.dumps(state.outcome.record.provenance()))
    assert record.agent == "astro" and record.twin == "gwnoise"
    widgets = {"curve": "aLIGO", "duration": 32, "glitch_rate": 0.2, "glitch_snr": 15.0,
               "witness_coupling": 3.0, "seed": 3}  # fmt: skip
    assert {k: record.parameters[k] for k in widgets} == widgets
    # computed on the service's cluster, replayed in-process: identical, time series included
    again = replay(record)
    assert set(TIME_SERIES) <= set(again.variables)
    xr.testing.assert_identical(again.drop_vars(TIME_SERIES), state.outcome.result)


def test_a_newer_scan_supersedes_an_older_one() -> None:
    state = LatticeDashboard(size=8, sweeps=2000, n_temperatures=12)

    async def change_midway() -> None:
        first = asyncio.ensure_future(state.refresh())
        await async_wait_for(  # the long scan has drawn its first point
            lambda: len(state.results), timeout=300, interval=0.05, message="a first point"
        )
        state.param.update(n_temperatures=3, sweeps=200)  # the watcher starts the new scan
        await first
        await async_wait_for(
            lambda: not state.busy and state.outcome is not None,
            timeout=300,
            interval=0.05,
            message="the new scan's outcome",
        )

    asyncio.run(change_midway())
    assert state.outcome.record.parameters["temperatures"] == [1.8, 2.4, 3.0]
    assert list(state.results["temperature"]) == [1.8, 2.4, 3.0]
    assert state.error == ""


def test_a_refused_run_shows_a_readable_error_and_no_outcome() -> None:
    state = FloodDashboard(start=date(1986, 6, 1), end=date(1986, 1, 1))
    asyncio.run(state.refresh())
    assert state.outcome is None and not state.busy
    assert state.error == "ValueError: end: the period must end after it starts"
    with pytest.raises(RuntimeError, match="no run has finished yet"):
        state.provenance()


def test_record_button_keeps_the_run_when_the_registry_is_down(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    state = LatticeDashboard(size=8, sweeps=100, n_temperatures=3)
    assert state.save_run() == "no finished run to record yet"
    asyncio.run(state.refresh())

    monkeypatch.setenv("TWINHUB_API_URL", "")  # no registry (a laptop): a local file
    said = state.save_run()
    kept = sorted((tmp_path / "twinhub-runs").glob("lattice-*.prov.json"))
    assert said == f"saved to {kept[0]}" and len(kept) == 1

    (port,) = free_ports(1)  # nothing listens there: the registry is down
    monkeypatch.setenv("TWINHUB_API_URL", f"http://127.0.0.1:{port}/services/twinhub/api")
    with pytest.warns(UserWarning, match="registry refused the run"):
        said = state.save_run()
    assert said.startswith("not recorded in the registry: POST http://127.0.0.1:")
    assert len(list((tmp_path / "twinhub-runs").glob("lattice-*.prov.json"))) == 1  # same id
    assert_describes_run(read_prov(kept[0]), state.outcome.record)  # a PROV-JSON file
    assert RunRecord.from_provenance(kept[0]).outputs == state.outcome.record.outputs
