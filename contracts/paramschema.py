"""A twin's parameter schema, checked as untrusted code: the author is not the user it runs for.

The JSON schema in a manifest (``parameters``) is written by a twin's author and applied to other
users' run inputs, in the registry's process. So:

* references resolve only inside the document: no ``$id`` (it would move the base URI), every
  ``$ref``/``$dynamicRef`` starts with ``#`` and points at something in the document, and the
  validator holds a :class:`referencing.Registry` that retrieves nothing;
* regular expressions (``pattern``, ``patternProperties`` and the ``additionalProperties`` that
  depends on them) run on RE2, whose time is linear in the input: a pattern RE2 cannot run
  (backreferences, look-around) is refused when the twin is published;
* a schema that refers to itself without consuming input (``{"$ref": "#"}``) is refused when
  published, by trying it on the default parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema._keywords import additionalProperties as _additional_properties
from jsonschema.exceptions import SchemaError, _WrappedReferencingError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

MAX_PATTERN = 1_000
"""Characters of one regular expression."""
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported to the author, not to stderr
_RE2_OPTIONS.max_mem = 8 << 20  # bounds the compiled program: 'a{1000}{1000}' is refused


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The RE2 program of an ECMA-262-style pattern, or ``re2.error`` if RE2 cannot run it."""
    if len(pattern) > MAX_PATTERN:
        raise re2.error(f"longer than {MAX_PATTERN} characters")
    return re2.compile(pattern, options=_RE2_OPTIONS)


def _pattern(validator, pattern, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        program = compile_pattern(pattern)
        for key, value in instance.items():
            if program.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(validator, additional, instance, schema) -> Iterator[ValidationError]:
    """jsonschema's own rule, with the keys that ``patternProperties`` match (on RE2) removed
    first, so that its pattern matching never runs on Python's backtracking engine."""
    if not validator.is_type(instance, "object"):
        return
    patterns = [compile_pattern(p) for p in schema.get("patternProperties", {})]
    if patterns:
        instance = {k: v for k, v in instance.items() if not any(p.search(k) for p in patterns)}
        schema = {k: v for k, v in schema.items() if k != "patternProperties"}
    yield from _additional_properties(validator, additional, instance, schema)


ParameterValidator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional,
    },
)
"""Draft 2020-12 with every regular expression on RE2."""
_NO_RETRIEVAL = Registry()
"""A registry without a ``retrieve`` function: a reference outside the document is unresolvable."""


def parameter_validator(schema: dict[str, Any]) -> Any:
    """The validator of run parameters for a (checked) schema."""
    return ParameterValidator(schema, registry=_NO_RETRIEVAL)


def _walk(node: Any, where: str) -> Iterator[tuple[str, str, Any]]:
    """``(location, keyword, value)`` of every mapping entry, iteratively (the depth is input)."""
    stack = [(where, node)]
    while stack:
        here, item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield here, str(key), value
                stack.append((f"{here}.{key}", value))
        elif isinstance(item, list):
            stack.extend((f"{here}.{i}", value) for i, value in enumerate(item))


def schema_problems(schema: dict[str, Any], where: str = "parameters") -> list[tuple[str, str]]:
    """``(field, message)`` for everything that makes a parameter schema unsafe or broken."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        return [(where, f"not a valid JSON schema: {e.message}")]
    if schema.get("type") != "object":
        return [(where, "must be a JSON schema of type 'object'")]
    problems = []
    has_pattern_properties = False
    for here, keyword, value in _walk(schema, where):
        if keyword in ("$ref", "$dynamicRef") and isinstance(value, str):
            if not value.startswith("#"):
                problems.append(
                    (
                        f"{here}.{keyword}",
                        f"{value!r} refers outside the schema: only "
                        "references inside it ('#/$defs/...') are allowed",
                    )
                )
        elif keyword == "$id":
            problems.append((f"{here}.$id", "not allowed: references resolve inside the schema"))
        elif keyword == "pattern" and isinstance(value, str):
            problems.extend(_pattern_problem(f"{here}.pattern", value))
        elif keyword == "patternProperties" and isinstance(value, dict):
            has_pattern_properties = True
            for pattern in value:
                problems.extend(_pattern_problem(f"{here}.patternProperties", pattern))
    if has_pattern_properties and any(
        k == "unevaluatedProperties" for _, k, _ in _walk(schema, "")
    ):
        problems.append(
            (
                where,
                "'unevaluatedProperties' cannot be combined with 'patternProperties' here: "
                "use 'additionalProperties'",
            )
        )
    if problems:
        return problems
    problems = _unresolved(schema, where)
    if problems:
        return problems
    # nothing loops: try the schema on its own defaults
    defaults = {
        key: spec["default"]
        for key, spec in schema.get("properties", {}).items()
        if isinstance(spec, dict) and "default" in spec
    }
    try:
        for _ in parameter_validator(schema).iter_errors(defaults):
            pass
    except (Unresolvable, _WrappedReferencingError) as e:
        return [(where, f"a reference does not resolve inside the schema: {e}")]
    except RecursionError:
        return [(where, "the schema refers to itself without end ($ref loop)")]
    return []


def _unresolved(schema: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """Every ``$ref`` looked up in the document alone (so none can fail when a run is checked)."""
    uri = "urn:twinhub:parameters"
    resolver = _NO_RETRIEVAL.with_resource(uri, DRAFT202012.create_resource(schema)).crawl()
    resolver = resolver.resolver(base_uri=uri)
    problems = []
    for here, keyword, value in _walk(schema, where):
        if keyword in ("$ref", "$dynamicRef") and isinstance(value, str):
            try:
                resolver.lookup(value)
            except Unresolvable:
                problems.append((f"{here}.{keyword}", f"{value!r} points at nothing in the schema"))
    return problems


def _pattern_problem(field: str, pattern: str) -> list[tuple[str, str]]:
    try:
        compile_pattern(pattern)
    except re2.error as e:
        message = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        return [
            (
                field,
                f"{pattern[:80]!r} cannot run in linear time (RE2: {message}); "
                "backreferences and look-around are not supported",
            )
        ]
    return []
