"""Pipelines (issue 18 section 4): the extremes -> flood pipeline gives what running the two
twins by hand gives, bit for bit; its one PROV document reads back with ``prov`` and shows the
chain across the twins; it replays end to end (in-process and as one graph on a Dask cluster);
its 100-year rainfall matches scipy's GEV fit; hostile specs are refused naming the field."""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import prov
import pytest
import xarray as xr
from dask.distributed import Client, LocalCluster
from scipy import stats
from twinhub.catalogs.access import open_entry
from twinhub.twins.pipeline import (
    MAX_STEPS,
    PipelineError,
    check_pipeline,
    load_pipeline,
    parse_pipeline,
    run_pipeline,
)
from twinhub.twins.runs import ReplayError, output_checksums, replay
from twinhub.twins.twin import load_twin

from tests.support.data import ensure_built

PIPELINE = "twins/extremes_flood/pipeline.yaml"
FLOOD = {"ensemble_size": 8, "seed": 5}
"""Overrides of the flood step: a small ensemble keeps the test short."""


@pytest.fixture(scope="module")
def spec():
    from twinhub.contracts.settings import REPO_ROOT

    return load_pipeline(REPO_ROOT / PIPELINE)


@pytest.fixture(scope="module")
def ran(spec):
    ensure_built()
    return run_pipeline(spec, {"flood": FLOOD})


def by_hand(spec) -> tuple[float, xr.Dataset, xr.Dataset]:
    """The two twins run one after the other, the 100-year rainfall passed on by hand."""
    extremes_step, flood_step = spec.step("extremes"), spec.step("flood")
    extremes, _ = load_twin("extremes").run(extremes_step.literals(), entry="fulda_daily")
    rain = float(extremes.return_level.sel(period=100))
    params = {**flood_step.literals(), **FLOOD, "storm_mm": rain}
    flood, _ = load_twin("flood").run(params, entry="fulda_daily")
    return rain, extremes, flood


def test_pipeline_equals_the_twins_run_by_hand(spec, ran):
    outputs, _ = ran
    rain, extremes, flood = by_hand(spec)
    assert outputs["rain_100y"] == rain
    xr.testing.assert_identical(outputs.steps["extremes"], extremes)
    xr.testing.assert_identical(outputs.steps["flood"], flood)
    assert outputs.records["flood"].outputs == output_checksums(flood)
    assert outputs.records["flood"].parameters["storm_mm"] == rain
    assert outputs["p_exceed_2y"] == float(flood.p_exceed.sel(period=2))
    assert outputs["p_exceed_10y"] == float(flood.p_exceed.sel(period=10))
    # the storm made a difference: without it fewer members exceed the 10-year flood
    calm, _ = load_twin("flood").run({**spec.step("flood").literals(), **FLOOD, "storm_mm": 0.0})
    assert float(calm.p_exceed.sel(period=10)) < outputs["p_exceed_10y"]


def test_gev_100_year_rainfall_matches_scipy(ran):
    """Independent reference: scipy's GEV fit to the annual maxima computed here with pandas."""
    outputs, _ = ran
    precip = open_entry("fulda_daily").precip.to_series()
    maxima = precip.groupby(precip.index.year).max().to_numpy()
    assert maxima.size == 10
    c, loc, scale = stats.genextreme.fit(maxima)
    reference = stats.genextreme.ppf(1 - 1 / 100, c, loc, scale)
    assert outputs["rain_100y"] == pytest.approx(reference, rel=1e-3)


def _relations(doc, kind) -> set[tuple[str, str]]:
    return {
        tuple(str(v) for _, v in list(rec.formal_attributes)[:2]) for rec in doc.get_records(kind)
    }


def test_pipeline_prov_reads_back_with_the_chain_across_twins(ran):
    outputs, document = ran
    doc = prov.read(io.StringIO(document.serialize(format="json")), format="json")
    extremes, flood = outputs.records["extremes"], outputs.records["flood"]
    ns = "twinhub:"
    produced = f"{ns}output/{extremes.id}/return_level"
    bound = f"{ns}bound/{flood.id}/storm_mm"
    flooded = f"{ns}output/{flood.id}/p_exceed"
    derived = _relations(doc, prov.model.ProvDerivation)
    used = _relations(doc, prov.model.ProvUsage)
    # extremes output -> flood input -> flood output
    assert (bound, produced) in derived
    assert (f"{ns}run/{flood.id}", bound) in used
    assert (flooded, bound) in derived
    entity = doc.get_record(bound)[0]
    assert entity.get_attribute("prov:value") == {outputs["rain_100y"]}
    runs = [r for r in doc.get_records(prov.model.ProvActivity)]
    kinds = sorted(str(next(iter(r.get_attribute("prov:type")))) for r in runs)
    assert kinds == ["twinhub:ModelRun", "twinhub:ModelRun", "twinhub:PipelineRun"]


def test_pipeline_replays_bit_for_bit_on_a_dask_cluster(ran):
    """replay() of the pipeline's document reruns both steps as one graph on the cluster."""
    outputs, document = ran
    text = document.serialize(format="json")
    with (
        LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        again = replay(text, client=client)
        tasks = client.run_on_scheduler(
            lambda dask_scheduler: sorted(map(str, dask_scheduler.task_prefixes))
        )
    assert dict(again) == dict(outputs)
    for step in ("extremes", "flood"):
        xr.testing.assert_identical(again.steps[step], outputs.steps[step])
    assert {"step_extremes", "step_flood", "extremes.return_level_100y"} <= set(tasks)
    tampered = json.loads(text)
    for entity in tampered["entity"].values():
        if entity.get("twinhub:name") == "p_exceed":
            entity["twinhub:sha256"] = "0" * 64
    with pytest.raises(ReplayError, match=r"flood\.p_exceed"):
        replay(tampered)


def _spec(spec) -> dict:
    return copy.deepcopy(spec.model_dump(mode="json", by_alias=True))


def _cycle(d):
    d["steps"][0]["inputs"]["bootstrap"] = {"from": "flood.p_exceed_2y"}


def _unknown_step(d):
    d["steps"][1]["inputs"]["storm_mm"] = {"from": "rain.return_level_100y"}


def _self(d):
    d["steps"][1]["inputs"]["storm_mm"] = {"from": "flood.p_exceed_2y"}


def _duplicate(d):
    d["steps"][1]["id"] = "extremes"


def _deep(d):
    nested: dict = {}
    for _ in range(500):
        nested = {"x": nested}
    d["steps"][1]["inputs"]["parameter_sets"] = nested


def _huge(d):
    d["steps"] = [copy.deepcopy(d["steps"][0]) | {"id": f"s{n}"} for n in range(5000)]


def _long_name(d):
    d["steps"][0]["inputs"]["gev_indicator"] = "x" * 1_000_000


def _bad_binding(d):
    d["steps"][1]["inputs"]["storm_mm"] = {"from": "extremes"}


@pytest.mark.parametrize(
    ("hostile", "field", "words"),
    [
        (_cycle, "steps.0.inputs", "cycle"),
        (_unknown_step, "steps.1.inputs.storm_mm", "unknown step 'rain'"),
        (_self, "steps.1.inputs.storm_mm", "itself"),
        (_duplicate, "steps.1.id", "two steps"),
        (_deep, "steps.1.inputs", "deep"),
        (_huge, "steps", f"at most {MAX_STEPS}"),
        (_long_name, "steps.0.inputs", "long"),
        (_bad_binding, "steps.1.inputs.storm_mm", ""),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_hostile_pipeline_specs_refused_naming_the_field(spec, hostile, field, words):
    data = _spec(spec)
    hostile(data)
    with pytest.raises(PipelineError) as refused:
        check_pipeline(parse_pipeline(data))
    fields = [loc for loc, _ in refused.value.errors]
    assert any(loc.startswith(field) for loc in fields), refused.value.errors
    assert words in str(refused.value)
    assert len(str(refused.value)) < 5000


@pytest.mark.parametrize(
    ("step", "name", "value", "words"),
    [
        (1, "storm_mm", {"from": "extremes.nonsense"}, "declares no output 'nonsense'"),
        (1, "ensemble_size", {"from": "extremes.return_level_100y"}, "does not accept"),
        (1, "rainfall", 3.0, "not a parameter of 'flood'"),
        (1, "ensemble_size", 100_000, "maximum"),
    ],
)
def test_steps_checked_against_their_twins(spec, step, name, value, words):
    data = _spec(spec)
    data["steps"][step]["inputs"][name] = value
    with pytest.raises(PipelineError) as refused:
        check_pipeline(parse_pipeline(data))
    assert [loc for loc, _ in refused.value.errors] == [f"steps.{step}.inputs.{name}"]
    assert words in str(refused.value)


def test_unknown_twin_and_overrides_of_bound_inputs_refused(spec):
    data = _spec(spec)
    data["steps"][0]["twin"] = "nosuchtwin"
    with pytest.raises(PipelineError, match=r"steps\.0\.twin: no twin named 'nosuchtwin'"):
        check_pipeline(parse_pipeline(data))
    with pytest.raises(PipelineError, match=r"inputs\.flood\.storm_mm: is bound"):
        run_pipeline(spec, {"flood": {"storm_mm": 1.0}})
    with pytest.raises(PipelineError, match=r"inputs\.tide: no step"):
        run_pipeline(spec, {"tide": {}})


def test_shipped_pipeline_is_valid(spec):
    assert [s.id for s in check_pipeline(spec).order()] == ["extremes", "flood"]
    assert np.isin(100, spec.step("extremes").inputs["return_periods"])


def test_pipeline_runs_on_the_dashboards_per_user_client(spec, ran, service_cluster):
    """The pipeline's dashboard hands run_pipeline the dashboards' per-user client (one of the
    user's slots per computation), not a plain dask Client: the same result, in the user's name."""
    from twinhub.extensions.dashboards.cluster import UserClient

    outputs, _ = ran
    again, document = run_pipeline(spec, {"flood": FLOOD}, client=UserClient("alice"))
    assert dict(again) == dict(outputs)
    assert "alice" in document.serialize(format="json")
