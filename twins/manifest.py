"""The twin manifest (``twins/<name>/twin.yaml``): the one contract through which a twin plugs in.

The registry, the CLI (``twinhub validate``) and the spawn hooks all read twins through this
model, so a twin is valid everywhere or nowhere. Validation is strict (unknown fields are
errors) and every message names the field, because twin authors fix manifests from them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

TWINS_DIR = Path(__file__).resolve().parent
MANIFEST_FILE = "twin.yaml"

SLUG = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
# semver 2.0.0, from semver.org
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
ENTRY_POINT = r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$"

Slug = Annotated[str, Field(pattern=SLUG, description="lower-case letters, digits and '-'")]
EntryPoint = Annotated[str, Field(pattern=ENTRY_POINT, description="'package.module:function'")]


class ManifestError(ValueError):
    """A manifest is invalid; ``errors`` lists ``(field, message)`` pairs for each problem."""

    def __init__(self, source: str, errors: list[tuple[str, str]]):
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {loc}: {msg}" for loc, msg in errors)
        super().__init__(f"{source} is invalid:\n{lines}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Maintainer(_Strict):
    name: str = Field(min_length=1)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    github: str | None = None


class GroupVisibility(_Strict):
    """Visible to the twin's maintainers and to members of these hub groups."""

    groups: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class DaskSpec(_Strict):
    """What the twin's runs ask of the user's Dask cluster (within the profile's limits)."""

    min_workers: int = Field(default=0, ge=0)
    max_workers: int = Field(default=4, ge=1)
    worker_cores: int = Field(default=1, ge=1)
    worker_memory_gib: float = Field(default=1.0, gt=0)

    @field_validator("max_workers")
    @classmethod
    def _max_not_below_min(cls, value: int, info) -> int:
        low = info.data.get("min_workers", 0)
        if value < low:
            raise ValueError(f"must be >= min_workers ({low})")
        return value


class TwinManifest(_Strict):
    """A digital twin as the gateway knows it (see docs/twin-author-guide.md)."""

    name: Slug
    title: str = Field(min_length=1, max_length=120)
    summary: str = Field(min_length=1, max_length=2000)
    domain: Literal["environment", "climate", "physics", "other"]
    version: str = Field(pattern=SEMVER, description="semantic version, e.g. 1.2.0")
    maintainers: list[Maintainer] = Field(min_length=1)
    visibility: Literal["public", "private"] | GroupVisibility = "public"
    catalog: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    model: EntryPoint
    app: EntryPoint | None = None
    notebook: str | None = None
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

    @field_validator("parameters")
    @classmethod
    def _is_json_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as e:
            raise ValueError(f"not a valid JSON schema: {e.message}") from None
        if schema.get("type") != "object":
            raise ValueError("must be a JSON schema of type 'object'")
        return schema

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
        errors = [
            (
                "parameters." + ".".join(map(str, e.absolute_path))
                if e.absolute_path
                else "parameters",
                e.message,
            )
            for e in Draft202012Validator(self.parameters).iter_errors(merged)
        ]
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


def _pydantic_errors(error: ValidationError) -> list[tuple[str, str]]:
    errors = []
    for e in error.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(manifest)"
        message = e["msg"]
        if e["type"] == "string_pattern_mismatch":
            expected = _EXPECTED.get(str(e["loc"][-1]), "a different format")
            message = f"{e['input']!r} is not {expected}"
        elif e["type"] == "extra_forbidden":
            message = "unknown field (check its spelling against docs/twin-author-guide.md)"
        errors.append((loc, message))
    return errors


def parse_manifest(data: Any, source: str = "manifest") -> TwinManifest:
    """Validate manifest data (a parsed YAML/JSON mapping)."""
    if not isinstance(data, dict):
        raise ManifestError(source, [("(manifest)", "must be a mapping of fields")])
    try:
        return TwinManifest.model_validate(data)
    except ValidationError as e:
        raise ManifestError(source, _pydantic_errors(e)) from None


MAX_YAML_NODES = 100_000
"""Far more values than any twin.yaml holds once aliases are expanded; a "billion laughs"
document holds billions."""
MAX_YAML_DEPTH = 64
"""Deeper nesting than any manifest needs; PyYAML's composer would recurse until it crashes."""


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load``, refusing alias bombs and absurd nesting before building anything.

    The flat event stream is read first (nothing deep can crash it), then the node graph, whose
    aliases are shared, is measured as it would be once expanded.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels: refused")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    sizes: dict[int, int] = {}

    def expanded(node: yaml.Node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 0  # a recursive alias counts as nothing more
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(expanded(n) for n in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(expanded(k) + expanded(v) for k, v in node.value)
            else:
                size = 1
            sizes[id(node)] = size
        return sizes[id(node)]

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None and expanded(root) > MAX_YAML_NODES:
        raise yaml.YAMLError(
            f"expands to more than {MAX_YAML_NODES} values through aliases: refused as a YAML bomb"
        )
    return yaml.safe_load(text)


def load_manifest(path: str | Path) -> TwinManifest:
    """Read and validate a ``twin.yaml``."""
    path = Path(path)
    try:
        data = safe_yaml(path.read_text())
    except OSError as e:
        raise ManifestError(str(path), [("(file)", e.strerror or str(e))]) from None
    except yaml.YAMLError as e:
        raise ManifestError(str(path), [("(yaml)", str(e))]) from None
    return parse_manifest(data, str(path))


def resolve_entry_point(spec: str) -> Any:
    """Import ``package.module:attribute`` and return the attribute."""
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"module {module_name!r} has no attribute {attr!r}") from None


def entry_point_errors(manifest: TwinManifest) -> list[tuple[str, str]]:
    """Check that ``model``, ``app`` and ``showcase`` import and are callable (else refused)."""
    errors = []
    for field_name in ("model", "app", "showcase"):
        spec = getattr(manifest, field_name)
        if spec is None:
            continue
        try:
            target = resolve_entry_point(spec)
        except Exception as e:  # any import-time failure is the author's to fix
            errors.append((field_name, f"{spec!r} does not import: {type(e).__name__}: {e}"))
            continue
        if not callable(target):
            errors.append((field_name, f"{spec!r} is not callable"))
    return errors


def discover(root: Path = TWINS_DIR) -> Iterator[Path]:
    """Every ``<root>/*/twin.yaml``, in name order: adding a twin is adding a folder."""
    for path in sorted(root.glob(f"*/{MANIFEST_FILE}")):
        if re.match(SLUG, path.parent.name):
            yield path
