"""Hostile documents are refused before they are built: YAML bombs, absurd nesting."""

from __future__ import annotations

import pytest
import yaml
from twinhub.extensions.registry.limits import MAX_JSON_DEPTH, json_depth
from twinhub.twins.manifest import MAX_YAML_DEPTH, ManifestError, load_manifest, safe_yaml

BILLION_LAUGHS = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


def test_yaml_bomb_refused_before_expansion() -> None:
    with pytest.raises(yaml.YAMLError, match="YAML bomb"):
        safe_yaml(BILLION_LAUGHS)


def test_deep_yaml_refused_without_recursion_error() -> None:
    deep = "[" * 50_000 + "]" * 50_000
    with pytest.raises(yaml.YAMLError, match=f"deeper than {MAX_YAML_DEPTH}"):
        safe_yaml(deep)


def test_ordinary_yaml_with_a_few_aliases_loads() -> None:
    text = "base: &b {cpu: 1}\nsmall: *b\nlarge: *b\n"
    assert safe_yaml(text) == {"base": {"cpu": 1}, "small": {"cpu": 1}, "large": {"cpu": 1}}


def test_twin_yaml_bomb_is_a_manifest_error_naming_the_file(tmp_path) -> None:
    path = tmp_path / "twin.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(path) in str(info.value) and "YAML bomb" in str(info.value)


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[\\"]]]]"}]}') == 3
    assert json_depth(b"[" * 10_000 + b"]" * 10_000) == 10_000
    assert json_depth(b'{"name": "growth"}') == 1 < MAX_JSON_DEPTH
