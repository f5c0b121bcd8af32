"""The twin manifest (``twin.yaml``): the one contract through which a twin plugs in.

The registry, the CLI (``twinhub validate``), the spawn hooks and the twin framework all read
twins through this model, so a twin is valid everywhere or nowhere. Validation is strict
(unknown fields are errors) and every message names the field, because twin authors fix
manifests from them. Only the model lives here; reading a ``twin.yaml`` from disk, importing
entry points and discovering twins is the twin framework's (``twinhub.twins.manifest``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from referencing.exceptions import Unresolvable
from twinhub.contracts.jsonvalues import json_problems
from twinhub.contracts.paramschema import parameter_validator, schema_problems
from twinhub.contracts.settings import REPO_ROOT
from twinhub.contracts.text import Line, Text

TWINS_DIR = REPO_ROOT / "twins"
"""The platform's own twins, ``twinhub.twins.<name>`` (one folder each, with its twin.yaml)."""
MANIFEST_FILE = "twin.yaml"

SLUG = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
# semver 2.0.0, from semver.org
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
"""ASCII only: Python folds other identifiers with NFKC, so 'ｏｓ' would import 'os'."""
ENTRY_POINT = rf"^{IDENTIFIER}(\.{IDENTIFIER})*:{IDENTIFIER}$"
TWIN_PACKAGE_PREFIX = "twinhub_"
"""Top-level packages of installed twins start with this; the platform's own twins are the
sub-packages ``twinhub.twins.<name>`` of this folder."""
MAX_PARAMETERS_SCHEMA = 64 * 1024
"""Characters of a parameter schema as JSON: it lands on every user's launch form."""

Slug = Annotated[
    str, Field(pattern=SLUG, max_length=40, description="lower-case letters, digits and '-'")
]
EntryPoint = Annotated[
    str, Field(pattern=ENTRY_POINT, max_length=200, description="'package.module:function'")
]
Name = Line(120, min_length=1)
Title = Line(120, min_length=1)
Summary = Text(2000, min_length=1)


ENTRY_POINT_FIELDS = ("model", "app", "showcase")


def twin_package(name: str, spec: str) -> str | None:
    """The package an entry point of twin ``name`` must lie in, judged from the name alone."""
    module = spec.partition(":")[0]
    if module.startswith("twinhub.twins."):
        return f"twinhub.twins.{name.replace('-', '_')}"
    top = module.partition(".")[0]
    return top if top.startswith(TWIN_PACKAGE_PREFIX) else None


def foreign_entry_point(name: str, spec: str, manifest_file: str = MANIFEST_FILE) -> str | None:
    """Why ``spec`` is not inside twin ``name``'s own package (nothing is imported), or None.

    A twin's code is ``twinhub.twins.<name>`` (a folder of this package, with its twin.yaml) or
    an installed package ``twinhub_<...>``; the standard library, the platform and other
    distributions are never a twin's entry point (``os:_exit`` would end a shared process).
    A pipeline's folder holds ``pipeline.yaml`` (``manifest_file``) in place of ``twin.yaml``.
    """
    module = spec.partition(":")[0]
    package = twin_package(name, spec)
    inside = package is not None and (module == package or module.startswith(package + "."))
    if inside and package.startswith("twinhub.twins."):
        folder = TWINS_DIR / package.rpartition(".")[2]
        inside = (folder / manifest_file).is_file() and (folder / "__init__.py").is_file()
    if inside and module.partition(".")[0] in sys.stdlib_module_names:
        inside = False
    if inside:
        return None
    return (
        f"{spec!r} is outside the twin's own package: use twinhub.twins."
        f"{name.replace('-', '_')}.<module>:<function> or a package named {TWIN_PACKAGE_PREFIX}..."
    )


class ManifestError(ValueError):
    """A manifest is invalid; ``errors`` lists ``(field, message)`` pairs for each problem."""

    def __init__(self, source: str, errors: list[tuple[str, str]]):
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {loc}: {msg}" for loc, msg in errors)
        super().__init__(f"{source} is invalid:\n{lines}")


STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=2000)
"""Every model at the edge: unknown fields refused, numbers finite, no string unbounded."""


class _Strict(BaseModel):
    model_config = ConfigDict(**STRICT, frozen=True)


class Maintainer(_Strict):
    name: Name
    email: str | None = Field(
        default=None,
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$",
    )
    github: Line(100) | None = None


class GroupVisibility(_Strict):
    """Visible to the twin's maintainers and to members of these hub groups."""

    groups: list[Line(100, min_length=1)] = Field(min_length=1, max_length=50)


class DaskSpec(_Strict):
    """What the twin's runs ask of the user's Dask cluster (within the profile's limits)."""

    min_workers: int = Field(default=0, ge=0, le=1000)
    max_workers: int = Field(default=4, ge=1, le=1000)
    worker_cores: int = Field(default=1, ge=1, le=64)
    worker_memory_gib: float = Field(default=1.0, gt=0, le=1024)

    @field_validator("max_workers")
    @classmethod
    def _max_not_below_min(cls, value: int, info) -> int:
        low = info.data.get("min_workers", 0)
        if value < low:
            raise ValueError(f"must be >= min_workers ({low})")
        return value


MAX_OUTPUTS = 50
"""Declared outputs of a twin: the values a pipeline step may bind to."""
OUTPUT_NAME = r"^[a-z][a-z0-9_]{0,62}$"


class OutputSpec(_Strict):
    """A named value of a run's output that other twins' inputs may bind to (pipelines).

    ``variable`` of the output dataset, reduced to one value by ``select`` (coordinate ->
    label); its ``type`` is what a binding's target parameter must accept.
    """

    variable: Line(100, min_length=1)
    select: dict[Line(100, min_length=1), float | int | Line(100)] = Field(
        default_factory=dict, max_length=8
    )
    type: Literal["number"] = "number"
    units: Line(50) | None = None
    description: Text(500) | None = None


class TwinManifest(_Strict):
    """A digital twin as the gateway knows it (see docs/twin-author-guide.md)."""

    name: Slug
    title: Title
    summary: Summary
    domain: Literal["environment", "climate", "physics", "other"]
    version: str = Field(pattern=SEMVER, description="semantic version, e.g. 1.2.0")
    maintainers: list[Maintainer] = Field(min_length=1, max_length=20)
    visibility: Literal["public", "private"] | GroupVisibility = "public"
    catalog: list[Line(200, min_length=1)] = Field(default_factory=list, max_length=50)
    model: EntryPoint
    app: EntryPoint | None = None
    notebook: Line(200) | None = None
    showcase: EntryPoint | None = Field(
        default=None,
        description="'module:function' returning a twins.showcase.Showcase (front-page figure)",
    )
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON schema of the run parameters, with defaults and units",
    )
    profile: Slug = "small"
    dask: DaskSpec = Field(default_factory=DaskSpec)
    outputs: dict[Annotated[str, Field(pattern=OUTPUT_NAME)], OutputSpec] = Field(
        default_factory=dict,
        max_length=MAX_OUTPUTS,
        description="named values of a run's output that pipeline steps may bind to",
    )

    @field_validator("parameters")
    @classmethod
    def _is_json_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        # bounded before anything walks it (the one-line messages name the place inside)
        problems = json_problems(schema, "parameters") or schema_problems(schema)
        if not problems and len(json.dumps(schema)) > MAX_PARAMETERS_SCHEMA:
            problems = [("parameters", f"longer than {MAX_PARAMETERS_SCHEMA // 1024} KiB as JSON")]
        if problems:
            raise ValueError("; ".join(f"{where}: {message}" for where, message in problems))
        return schema

    @field_validator(*ENTRY_POINT_FIELDS)
    @classmethod
    def _in_own_package(cls, spec: str | None, info: ValidationInfo) -> str | None:
        name = info.data.get("name")
        if spec is not None and name is not None:
            problem = foreign_entry_point(name, spec)
            if problem:
                raise ValueError(problem)
        return spec

    @field_validator("notebook")
    @classmethod
    def _relative_notebook(cls, path: str | None) -> str | None:
        if path is not None and (path.startswith("/") or ".." in Path(path).parts):
            raise ValueError("must be a path relative to the twin's folder")
        if path is not None and not path.endswith(".ipynb"):
            raise ValueError("must name a .ipynb file")
        return path

    @property
    def groups(self) -> list[str]:
        return list(self.visibility.groups) if isinstance(self.visibility, GroupVisibility) else []

    def default_parameters(self) -> dict[str, Any]:
        """The defaults declared in the parameter schema."""
        props = self.parameters.get("properties", {})
        return {key: spec["default"] for key, spec in props.items() if "default" in spec}

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, then validated against the schema; errors name the parameter."""
        merged = {**self.default_parameters(), **params}
        errors = json_problems(merged, "parameters")
        if not errors:
            try:
                errors = [
                    (
                        "parameters." + ".".join(map(str, e.absolute_path))
                        if e.absolute_path
                        else "parameters",
                        e.message[:500],
                    )
                    for e in parameter_validator(self.parameters).iter_errors(merged)
                ]
            except (Unresolvable, RecursionError) as e:  # a schema stored before the checks
                errors = [("parameters", f"the twin's parameter schema is unusable: {e}")]
        if errors:
            raise ManifestError(f"parameters of twin {self.name!r}", errors)
        return merged


# what a pattern-checked field expects, in words (pydantic would print the regular expression)
_EXPECTED = {
    "name": "a slug: 2-40 lower-case letters, digits or '-', starting with a letter",
    "profile": "a profile slug: lower-case letters, digits or '-'",
    "version": "a semantic version such as 1.2.0",
    "model": "an entry point 'package.module:function'",
    "app": "an entry point 'package.module:function'",
    "email": "an e-mail address",
}


def described_errors(
    error: ValidationError,
    expected: Mapping[str, str],
    unknown_field: str,
    whole: str,
    prefix: str = "",
) -> list[tuple[str, str]]:
    """pydantic errors as ``(field, message)``: a pattern's mismatch says in words what the
    field expects (``expected``, by field name), an unknown field where its fields are
    documented; ``whole`` names the document itself."""
    errors = []
    for e in error.errors():
        loc = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "") or whole
        message = e["msg"]
        if e["type"] == "string_pattern_mismatch":
            wanted = expected.get(str(e["loc"][-1]), "in the expected format")
            message = f"{str(e['input'])[:100]!r} is not {wanted}"
        elif e["type"] == "extra_forbidden":
            message = f"unknown field ({unknown_field})"
        errors.append((loc, message))
    return errors


def pydantic_field_errors(error: ValidationError) -> list[tuple[str, str]]:
    """A manifest's errors (:func:`described_errors`)."""
    return described_errors(
        error,
        _EXPECTED,
        "check its spelling against docs/twin-author-guide.md",
        whole="(manifest)",
    )


def parse_manifest(data: Any, source: str = "manifest") -> TwinManifest:
    """Validate manifest data (a parsed YAML/JSON mapping)."""
    if not isinstance(data, dict):
        raise ManifestError(source, [("(manifest)", "must be a mapping of fields")])
    try:
        return TwinManifest.model_validate(data)
    except ValidationError as e:
        raise ManifestError(source, pydantic_field_errors(e)) from None
