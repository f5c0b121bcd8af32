"""Reading twins: ``twin.yaml`` from disk, entry points imported, twins discovered.

The manifest model itself is :mod:`twinhub.contracts.manifest` (what platform and twins agree
on); it is imported here under its old names too, because twin packages outside this repository
(and the scaffold ``twinhub new`` writes) import them from ``twinhub.twins.manifest``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

# re-exported for twin packages that import the model from the twin framework (see above)
from twinhub.contracts.manifest import (  # noqa: F401
    ENTRY_POINT,
    ENTRY_POINT_FIELDS,
    IDENTIFIER,
    MANIFEST_FILE,
    MAX_OUTPUTS,
    MAX_PARAMETERS_SCHEMA,
    OUTPUT_NAME,
    SEMVER,
    SLUG,
    STRICT,
    TWIN_PACKAGE_PREFIX,
    TWINS_DIR,
    DaskSpec,
    EntryPoint,
    GroupVisibility,
    Maintainer,
    ManifestError,
    Name,
    OutputSpec,
    Slug,
    Summary,
    Title,
    TwinManifest,
    foreign_entry_point,
    parse_manifest,
    twin_package,
)

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


def entry_point_problem(spec: str) -> str | None:
    """Why ``spec`` cannot be a twin's entry point once imported (None: it imports and is
    callable); the same words wherever it is checked, in-process or in the twin's environment."""
    try:
        target = resolve_entry_point(spec)
    except Exception as e:  # any import-time failure is the author's to fix
        return f"{spec!r} does not import: {type(e).__name__}: {e}"
    if not callable(target):
        return f"{spec!r} is not callable"
    return None


def entry_point_errors(manifest: TwinManifest) -> list[tuple[str, str]]:
    """Check that ``model``, ``app`` and ``showcase`` import and are callable (else refused)."""
    errors = []
    for field_name in ("model", "app", "showcase"):
        spec = getattr(manifest, field_name)
        if spec is None:
            continue
        foreign = foreign_entry_point(manifest.name, spec)
        if foreign:  # never import what is not the twin's own code
            errors.append((field_name, foreign))
            continue
        problem = entry_point_problem(spec)
        if problem:
            errors.append((field_name, problem))
    return errors


def discover(root: Path = TWINS_DIR) -> Iterator[Path]:
    """Every ``<root>/*/twin.yaml``, in name order: adding a twin is adding a folder."""
    for path in sorted(root.glob(f"*/{MANIFEST_FILE}")):
        if re.match(SLUG, path.parent.name):
            yield path
