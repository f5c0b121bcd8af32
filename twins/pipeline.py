"""Pipelines: twins composed into one run, one Dask graph and one PROV document.

A pipeline (``pipeline.yaml``, validated like a manifest) is a list of steps, each naming a twin,
optionally its catalog entry, and its inputs: a literal, or a binding ``{from: step.output}`` to a
value another step's twin declares under ``outputs`` in its manifest. :func:`run_pipeline` turns
the steps into one ``dask.delayed`` graph (a task per step, a task per bound value, chained by
the bindings), computes it in-process or on a Dask client, and records everything as one W3C PROV
document: each step's run as :mod:`twinhub.twins.provenance` writes it, plus the pipeline run,
the bound values (entities derived from the producing step's output, used by the consuming
step) and the pipeline's outputs. :func:`replay_pipeline` reruns the whole pipeline from that
document and checks every step's outputs bit for bit.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import dask
import xarray as xr
import yaml
from prov.model import ProvDocument
from pydantic import Field, ValidationError, field_validator, model_validator
from twinhub.catalogs.access import dataset_checksum, open_entry
from twinhub.contracts.jsonvalues import json_problems
from twinhub.contracts.manifest import (
    OUTPUT_NAME,
    SEMVER,
    EntryPoint,
    GroupVisibility,
    Maintainer,
    ManifestError,
    Slug,
    TwinManifest,
    _Strict,
    foreign_entry_point,
    pydantic_field_errors,
)
from twinhub.contracts.text import Line, Text
from twinhub.twins.manifest import safe_yaml
from twinhub.twins.provenance import NAMESPACE, ProvJson, read_prov_json, to_prov
from twinhub.twins.runs import ReplayError, RunRecord, current_agent

PIPELINE_FILE = "pipeline.yaml"
PIPELINE_NAME = r"^[a-z][a-z0-9_-]{0,38}[a-z0-9]$"
"""Like a twin's slug, with '_' allowed (a pipeline is named after the twins it joins)."""
STEP_ID = r"^[a-z][a-z0-9_]{0,39}$"
BINDING = r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,62}$"
MAX_STEPS = 20
MAX_INPUTS = 64
MAX_PIPELINE_OUTPUTS = 20
MAX_INPUT_DEPTH = 16
"""Nesting of a literal input (a parameter set is 2 deep); checked before anything walks it."""


class PipelineError(ManifestError):
    """A pipeline is invalid, or its inputs are; ``errors`` lists ``(field, message)``."""


class Binding(_Strict):
    """An input bound to a value another step's twin declares (``{from: step.output}``)."""

    from_: str = Field(alias="from", pattern=BINDING, max_length=103)

    @property
    def step(self) -> str:
        return self.from_.partition(".")[0]

    @property
    def output(self) -> str:
        return self.from_.partition(".")[2]


def _too_deep(value: Any, limit: int = MAX_INPUT_DEPTH) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _is_binding(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"from"}


class Step(_Strict):
    id: Annotated[str, Field(pattern=STEP_ID)]
    twin: Slug
    entry: Line(200, min_length=1) | None = None
    inputs: dict[Annotated[str, Field(max_length=100)], Any] = Field(
        default_factory=dict, max_length=MAX_INPUTS
    )

    @field_validator("inputs")
    @classmethod
    def _literals_and_bindings(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        # "[name] message": parse_pipeline moves the input's name into the error's field
        deep = [name for name, value in inputs.items() if _too_deep(value)]
        if deep:
            raise ValueError(f"[{deep[0][:100]}] nested deeper than {MAX_INPUT_DEPTH} levels")
        problems = json_problems(inputs, "inputs")
        if problems:
            where, message = problems[0]
            raise ValueError(f"[{where.removeprefix('inputs.')}] {message}")
        for name, value in inputs.items():
            if _is_binding(value) and not (
                isinstance(value["from"], str) and re.match(BINDING, value["from"])
            ):
                raise ValueError(
                    f"[{name}] a binding's 'from' is 'step.output', got {value!r:.100}"
                )
        return {k: Binding.model_validate(v) if _is_binding(v) else v for k, v in inputs.items()}

    def bindings(self) -> dict[str, Binding]:
        return {k: v for k, v in self.inputs.items() if isinstance(v, Binding)}

    def literals(self) -> dict[str, Any]:
        return {k: v for k, v in self.inputs.items() if not isinstance(v, Binding)}


class Pipeline(_Strict):
    """Twins run one after the other, inputs bound to earlier steps' outputs (docs/pipelines.md)."""

    kind: Literal["pipeline"] = "pipeline"
    name: Annotated[str, Field(pattern=PIPELINE_NAME, max_length=40)]
    title: Line(120, min_length=1)
    summary: Text(2000, min_length=1)
    version: str = Field(pattern=SEMVER)
    maintainers: list[Maintainer] = Field(min_length=1, max_length=20)
    visibility: Literal["public", "private"] | GroupVisibility = "public"
    app: EntryPoint | None = None
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    outputs: dict[Annotated[str, Field(pattern=OUTPUT_NAME)], Binding] = Field(
        default_factory=dict, max_length=MAX_PIPELINE_OUTPUTS
    )

    @field_validator("app")
    @classmethod
    def _app_in_own_package(cls, spec: str | None, info) -> str | None:
        name = info.data.get("name")
        if spec is not None and name is not None:
            problem = foreign_entry_point(name, spec, PIPELINE_FILE)
            if problem:
                raise ValueError(problem)
        return spec

    @model_validator(mode="after")
    def _steps_form_a_graph(self) -> Pipeline:
        errors = structure_errors(self)
        if errors:
            raise PipelineError("pipeline", errors)
        return self

    @property
    def groups(self) -> list[str]:
        return list(self.visibility.groups) if isinstance(self.visibility, GroupVisibility) else []

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def order(self) -> list[Step]:
        """The steps, each after the steps it binds to (the graph is checked acyclic)."""
        return [self.step(i) for i in _topological(self)[0]]


def _topological(pipeline: Pipeline) -> tuple[list[str], set[str]]:
    """Kahn's algorithm: the order, and the steps left on a cycle (linear in the bindings)."""
    needs = {s.id: {b.step for b in s.bindings().values()} for s in pipeline.steps}
    users: dict[str, list[str]] = {s.id: [] for s in pipeline.steps}
    for step_id, sources in needs.items():
        for source in sources:
            users.setdefault(source, []).append(step_id)
    waiting = {step_id: len(sources) for step_id, sources in needs.items()}
    ready = [s.id for s in pipeline.steps if waiting[s.id] == 0]
    order = []
    while ready:
        step_id = ready.pop(0)
        order.append(step_id)
        for user in users.get(step_id, []):
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    return order, {s for s, n in waiting.items() if n > 0}


def structure_errors(pipeline: Pipeline) -> list[tuple[str, str]]:
    """Unique step ids, bindings naming existing steps, no cycle (no twin is looked at)."""
    errors: list[tuple[str, str]] = []
    ids = [s.id for s in pipeline.steps]
    for n, step_id in enumerate(ids):
        if step_id in ids[:n]:
            errors.append((f"steps.{n}.id", f"{step_id!r} names two steps"))
    known = set(ids)
    for n, step in enumerate(pipeline.steps):
        for name, binding in step.bindings().items():
            if binding.step not in known:
                errors.append((f"steps.{n}.inputs.{name}", f"unknown step {binding.step!r}"))
            elif binding.step == step.id:
                errors.append((f"steps.{n}.inputs.{name}", "a step cannot bind to itself"))
    for name, binding in pipeline.outputs.items():
        if binding.step not in known:
            errors.append((f"outputs.{name}", f"unknown step {binding.step!r}"))
    if not errors:
        _, cyclic = _topological(pipeline)
        if cyclic:
            where = min(ids.index(s) for s in cyclic)
            errors.append(
                (f"steps.{where}.inputs", f"the bindings form a cycle through {sorted(cyclic)}")
            )
    return errors


def _accepts_number(schema: Any) -> bool:
    """Whether a parameter's schema takes any number (not only integers or listed values)."""
    if not isinstance(schema, dict) or "enum" in schema or "const" in schema:
        return False
    kind = schema.get("type", "number")
    return "number" in (kind if isinstance(kind, list) else [kind])


def twin_errors(pipeline: Pipeline, manifests: Mapping[str, TwinManifest]) -> list[tuple[str, str]]:
    """Steps checked against their twins: the twin exists, inputs are its parameters (literals
    valid), bindings name declared outputs whose type the bound parameter accepts."""
    errors: list[tuple[str, str]] = []
    for n, step in enumerate(pipeline.steps):
        manifest = manifests.get(step.twin)
        if manifest is None:
            errors.append((f"steps.{n}.twin", f"no twin named {step.twin!r}"))
            continue
        if step.entry is not None and step.entry not in manifest.catalog:
            errors.append((f"steps.{n}.entry", f"not an input of twin {step.twin!r}"))
        properties = manifest.parameters.get("properties", {})
        for name, value in step.inputs.items():
            if name not in properties:
                errors.append((f"steps.{n}.inputs.{name}", f"not a parameter of {step.twin!r}"))
                continue
            if not isinstance(value, Binding):
                continue
            source = manifests.get(pipeline.step(value.step).twin)
            declared = source.outputs.get(value.output) if source else None
            if source is not None and declared is None:
                errors.append(
                    (
                        f"steps.{n}.inputs.{name}",
                        f"twin {source.name!r} declares no output {value.output!r}"
                        f" (it declares {sorted(source.outputs) or 'none'})",
                    )
                )
            elif declared is not None and not _accepts_number(properties[name]):
                errors.append(
                    (
                        f"steps.{n}.inputs.{name}",
                        f"{value.from_} is a {declared.type}, which {step.twin!r}'s"
                        f" parameter {name!r} does not accept",
                    )
                )
        if not any(f.startswith(f"steps.{n}.inputs.") for f, _ in errors):
            try:
                manifest.check_parameters(step.literals())
            except ManifestError as e:
                errors.extend(
                    (f"steps.{n}.inputs" + loc.removeprefix("parameters"), msg)
                    for loc, msg in e.errors
                )
    for name, binding in pipeline.outputs.items():
        source = manifests.get(pipeline.step(binding.step).twin)
        if source is not None and binding.output not in source.outputs:
            errors.append(
                (f"outputs.{name}", f"twin {source.name!r} declares no {binding.output!r}")
            )
    return errors


def parse_pipeline(data: Any, source: str = "pipeline") -> Pipeline:
    """Validate pipeline data (a parsed YAML/JSON mapping); errors name the field."""
    if not isinstance(data, dict):
        raise PipelineError(source, [("(pipeline)", "must be a mapping of fields")])
    try:
        return Pipeline.model_validate(data)
    except PipelineError as e:
        raise PipelineError(source, e.errors) from None
    except ValidationError as e:
        errors = []
        for loc, msg in pydantic_field_errors(e):
            inner = msg.split("is invalid:\n", 1)
            if len(inner) == 2:  # the graph check's own PipelineError, wrapped by pydantic
                errors.extend(tuple(line.strip().split(": ", 1)) for line in inner[1].splitlines())
            else:
                named = re.match(r"^Value error, \[([^\]]{1,200})\] (.*)$", msg, re.DOTALL)
                if named:
                    loc, msg = f"{loc}.{named[1]}", named[2]
                errors.append((loc.replace(".from", ""), msg))
        raise PipelineError(source, errors) from None


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a ``pipeline.yaml``."""
    path = Path(path)
    try:
        data = safe_yaml(path.read_text())
    except OSError as e:
        raise PipelineError(str(path), [("(file)", e.strerror or str(e))]) from None
    except yaml.YAMLError as e:
        raise PipelineError(str(path), [("(yaml)", str(e))]) from None
    return parse_pipeline(data, str(path))


def local_manifests() -> dict[str, TwinManifest]:
    """The twins of this installation (``twins/*/twin.yaml``) by name."""
    from twinhub.twins.twin import available_twins, load_twin  # (import cycle)

    return {name: load_twin(name).manifest for name in available_twins()}


def check_pipeline(
    pipeline: Pipeline, manifests: Mapping[str, TwinManifest] | None = None
) -> Pipeline:
    """Raise :class:`PipelineError` unless every step fits its twin (see :func:`twin_errors`)."""
    errors = twin_errors(pipeline, local_manifests() if manifests is None else manifests)
    if errors:
        raise PipelineError(f"pipeline {pipeline.name!r}", errors)
    return pipeline


def step_inputs(pipeline: Pipeline, inputs: Mapping[str, Any] | None) -> dict[str, dict]:
    """Each step's literal inputs with the run's overrides (``{step: {parameter: value}}``)."""
    inputs = dict(inputs or {})
    if _too_deep(inputs, MAX_INPUT_DEPTH + 1):
        raise PipelineError("inputs", [("inputs", f"nested deeper than {MAX_INPUT_DEPTH} levels")])
    errors = json_problems(inputs, "inputs")
    ids = {s.id for s in pipeline.steps}
    for step_id, values in inputs.items():
        if step_id not in ids:
            errors.append((f"inputs.{step_id}", f"no step {step_id!r} in {pipeline.name!r}"))
        elif not isinstance(values, dict):
            errors.append((f"inputs.{step_id}", "must be a mapping of parameters"))
        else:
            bound = set(pipeline.step(step_id).bindings()) & set(values)
            errors.extend(
                (f"inputs.{step_id}.{name}", "is bound to another step's output")
                for name in sorted(bound)
            )
    if errors:
        raise PipelineError(f"inputs of pipeline {pipeline.name!r}", errors)
    return {s.id: {**s.literals(), **inputs.get(s.id, {})} for s in pipeline.steps}


def select_output(manifest: TwinManifest, output: str, ds: xr.Dataset) -> float:
    """A declared output's value in a run's output dataset."""
    spec = manifest.outputs[output]
    value = ds[spec.variable].sel(spec.select) if spec.select else ds[spec.variable]
    if value.size != 1:
        raise PipelineError(
            f"twin {manifest.name!r}", [(f"outputs.{output}", f"selects {value.size} values")]
        )
    return float(value)


def _run_step(twin: str, entry: str | None, params: dict[str, Any], bound: dict[str, float]):
    """One step's task: the twin's run (its model computed within this task)."""
    from twinhub.twins.twin import load_twin  # (import cycle)

    return load_twin(twin).run({**params, **bound}, entry=entry)


def _select(step_result: tuple[xr.Dataset, RunRecord], twin: str, output: str) -> float:
    from twinhub.twins.twin import load_twin  # (import cycle)

    return select_output(load_twin(twin).manifest, output, step_result[0])


class PipelineOutputs(dict):
    """The pipeline's declared outputs (name -> value), with each step's dataset and record."""

    def __init__(self, values, steps: dict[str, xr.Dataset], records: dict[str, RunRecord]):
        super().__init__(values)
        self.steps = steps
        self.records = records


def run_pipeline(
    spec: Pipeline | Mapping[str, Any],
    inputs: Mapping[str, Any] | None = None,
    client: Any = None,
) -> tuple[PipelineOutputs, ProvDocument]:
    """Run every step as one Dask graph; the outputs and the one PROV document of the run.

    ``inputs`` overrides steps' literal inputs (``{step: {parameter: value}}``). Each step is a
    task running its twin (:meth:`Twin.run <twinhub.twins.twin.Twin.run>`) whose model computes
    within the task; each binding is a task reading the declared output, on which the consuming
    step depends. Without ``client`` the graph runs in-process (synchronously).
    """
    pipeline = spec if isinstance(spec, Pipeline) else parse_pipeline(dict(spec))
    manifests = local_manifests()
    check_pipeline(pipeline, manifests)
    params = step_inputs(pipeline, inputs)
    started = datetime.now(UTC)
    tasks: dict[str, Any] = {}
    values: dict[tuple[str, str], Any] = {}
    for step in pipeline.order():
        bound = {}
        for name, binding in step.bindings().items():
            key = (binding.step, binding.output)
            if key not in values:
                source = pipeline.step(binding.step)
                values[key] = dask.delayed(_select, pure=True)(
                    tasks[source.id], source.twin, binding.output, dask_key_name=f"{binding.from_}"
                )
            bound[name] = values[key]
        tasks[step.id] = dask.delayed(_run_step, pure=False)(
            step.twin, step.entry, params[step.id], bound, dask_key_name=f"step_{step.id}"
        )
    for binding in pipeline.outputs.values():
        key = (binding.step, binding.output)
        if key not in values:
            values[key] = dask.delayed(_select, pure=True)(
                tasks[binding.step], pipeline.step(binding.step).twin, binding.output,
                dask_key_name=binding.from_,
            )  # fmt: skip
    keys = list(tasks) + [f"{s}.{o}" for s, o in values]
    graph = list(tasks.values()) + list(values.values())
    if client is None:
        results = dask.compute(*graph, scheduler="synchronous")
    else:
        # one collection, one future: what a plain dask Client and the dashboards' per-user
        # client (which holds one of the user's slots per computation) both accept
        results = client.compute(dask.delayed(tuple, pure=True)(graph)).result()
    computed = dict(zip(keys, results, strict=True))
    agent = current_agent(client)
    records = {}
    for step in pipeline.steps:
        record = computed[step.id][1]
        record.agent = agent
        records[step.id] = record
    bound_values = {f"{s}.{o}": computed[f"{s}.{o}"] for s, o in values}
    outputs = PipelineOutputs(
        {name: bound_values[b.from_] for name, b in pipeline.outputs.items()},
        {step_id: computed[step_id][0] for step_id in tasks},
        records,
    )
    doc = pipeline_prov(
        pipeline, dict(inputs or {}), records, bound_values, manifests, agent, started
    )
    return outputs, doc


def _attr(name: str) -> str:
    return f"twinhub:{name}"


def pipeline_prov(
    pipeline: Pipeline,
    inputs: dict[str, Any],
    records: dict[str, RunRecord],
    bound: dict[str, float],
    manifests: Mapping[str, TwinManifest],
    agent: str,
    started: datetime,
) -> ProvDocument:
    """One document: the steps' runs, the pipeline run, and the derivation chain across twins:
    producing step's output -> bound value (used by the consuming step) -> its outputs."""
    run_id = uuid.uuid4().hex
    doc = ProvDocument()
    doc.add_namespace(*NAMESPACE)
    for record in records.values():
        doc.update(to_prov(record))
    ended = max(r.ended for r in records.values())
    run = doc.activity(
        f"twinhub:pipeline-run/{run_id}", startTime=started, endTime=ended,
        other_attributes={
            "prov:type": "twinhub:PipelineRun", _attr("pipeline"): pipeline.name,
            _attr("pipelineVersion"): pipeline.version,
        },
    )  # fmt: skip
    spec = doc.entity(
        f"twinhub:pipeline-spec/{run_id}",
        {
            "prov:type": "twinhub:PipelineSpec",
            "prov:value": json.dumps(pipeline.model_dump(mode="json", by_alias=True)),
            _attr("inputs"): json.dumps(inputs, sort_keys=True),
        },
    )
    doc.used(run, spec)
    doc.wasAssociatedWith(run, f"twinhub:user/{agent}")
    for step_id, record in records.items():
        step_run = f"twinhub:run/{record.id}"
        doc.wasInformedBy(step_run, run)
        doc.get_record(step_run)[0].add_attributes({_attr("step"): step_id})
    for step in pipeline.steps:
        consumer = records[step.id]
        for name, binding in step.bindings().items():
            producer = records[binding.step]
            variable = manifests[pipeline.step(binding.step).twin].outputs[binding.output].variable
            value = doc.entity(
                f"twinhub:bound/{consumer.id}/{name}",
                {
                    "prov:type": "twinhub:BoundInput", "prov:value": bound[binding.from_],
                    _attr("from"): binding.from_, _attr("parameter"): name,
                },
            )  # fmt: skip
            doc.wasDerivedFrom(value, f"twinhub:output/{producer.id}/{variable}")
            doc.used(f"twinhub:run/{consumer.id}", value)
            for output in consumer.outputs:
                doc.wasDerivedFrom(f"twinhub:output/{consumer.id}/{output}", value)
    for name, binding in pipeline.outputs.items():
        producer = records[binding.step]
        variable = manifests[pipeline.step(binding.step).twin].outputs[binding.output].variable
        out = doc.entity(
            f"twinhub:pipeline-output/{run_id}/{name}",
            {"prov:type": "twinhub:PipelineOutput", "prov:value": bound[binding.from_],
             _attr("name"): name},
        )  # fmt: skip
        doc.wasDerivedFrom(out, f"twinhub:output/{producer.id}/{variable}")
        doc.wasGeneratedBy(out, run, ended)
    return doc.unified()


def is_pipeline_document(document: ProvJson | ProvDocument) -> bool:
    """Whether a PROV document records a pipeline run (else one twin's run)."""
    return any(
        str(value) == "twinhub:PipelineRun"
        for rec in _doc(document).get_records()
        for key, value in rec.attributes
        if str(key) == "prov:type"
    )


def _doc(document: ProvJson | ProvDocument) -> ProvDocument:
    return document if isinstance(document, ProvDocument) else read_prov_json(document)


def recorded_pipeline(document: ProvJson | ProvDocument) -> dict[str, Any]:
    """What a pipeline's PROV document says: spec, inputs, each step's outputs and data."""
    doc = _doc(document)
    found: dict[str, Any] = {"outputs": {}, "data": {}, "runs": {}}
    for rec in doc.get_records():
        attrs = {str(k): getattr(v, "value", v) for k, v in rec.attributes}
        kind, ident = str(attrs.get("prov:type", "")), str(rec.identifier)
        if kind == "twinhub:PipelineSpec":
            found["spec"] = json.loads(str(attrs["prov:value"]))
            found["inputs"] = json.loads(str(attrs["twinhub:inputs"]))
        elif kind == "twinhub:Dataset":
            found["data"][str(attrs["twinhub:catalogEntry"])] = str(attrs["twinhub:sha256"])
        elif kind == "twinhub:Output":
            run_id = ident.split("output/", 1)[1].split("/", 1)[0]
            found["outputs"].setdefault(run_id, {})[attrs["twinhub:name"]] = attrs["twinhub:sha256"]
        elif "twinhub:step" in attrs:
            found["runs"][str(attrs["twinhub:step"])] = ident.split("run/", 1)[1]
    if "spec" not in found:
        raise ReplayError("not a pipeline's PROV document (no twinhub:PipelineSpec)")
    found["steps"] = {step: found["outputs"].get(run, {}) for step, run in found["runs"].items()}
    return found


def replay_pipeline(
    document: ProvJson | ProvDocument, client: Any = None
) -> tuple[PipelineOutputs, ProvDocument]:
    """Rerun a recorded pipeline end to end and check every step's outputs bit for bit."""
    recorded = recorded_pipeline(document)
    for entry, checksum in sorted(recorded["data"].items()):
        current = dataset_checksum(open_entry(entry))
        if current != checksum:
            raise ReplayError(
                f"catalog entry {entry!r} changed since the run "
                f"(recorded sha256 {checksum[:12]}..., now {current[:12]}...)"
            )
    outputs, doc = run_pipeline(recorded["spec"], recorded["inputs"], client)
    differing = [
        f"{step}.{name}"
        for step, sums in sorted(recorded["steps"].items())
        for name, checksum in sorted(sums.items())
        if outputs.records[step].outputs.get(name) != checksum
    ]
    if differing:
        raise ReplayError(f"pipeline {recorded['spec']['name']!r}: outputs differ: {differing}")
    return outputs, doc
