"""The twin manifest: strict validation whose messages name the field and what it expects."""

from __future__ import annotations

from pathlib import Path

import pytest
from twinhub.twins.manifest import (
    ManifestError,
    entry_point_errors,
    load_manifest,
    parse_manifest,
)

VALID = {
    "name": "drought",
    "title": "Demo",
    "summary": "A twin for tests",
    "domain": "environment",
    "version": "1.2.0-rc.1",
    "maintainers": [{"name": "Ada", "email": "ada@example.org"}],
    "visibility": {"groups": ["hydrology"]},
    "catalog": ["fulda_daily"],
    "model": "twinhub.twins.drought.model:run",
    "parameters": {
        "type": "object",
        "properties": {"members": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}},
    },
}


def test_a_valid_manifest_exposes_groups_and_defaults() -> None:
    m = parse_manifest(VALID)
    assert m.groups == ["hydrology"]
    assert m.check_parameters({}) == {"members": 10}
    assert entry_point_errors(m) == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "Flood_Twin"}, "name", "is not a slug"),
        ({"version": "1.0"}, "version", "semantic version"),
        ({"model": "no colon"}, "model", "entry point"),
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"maintainers": []}, "maintainers", "at least 1"),
        ({"parameters": {"type": "wrong"}}, "parameters", "not a valid JSON schema"),
        ({"notebook": "../x.ipynb"}, "notebook", "relative"),
    ],
)
def test_each_mistake_names_its_field(change: dict, field: str, words: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest({**VALID, **change})
    fields = dict(info.value.errors)
    assert field in fields, info.value.errors
    assert words in fields[field]


def test_parameters_out_of_bounds_name_the_parameter() -> None:
    m = parse_manifest(VALID)
    with pytest.raises(ManifestError, match="parameters.members: 0 is less than the minimum"):
        m.check_parameters({"members": 0})


def test_entry_point_that_does_not_import_is_reported() -> None:
    m = parse_manifest(
        {
            **VALID,
            "model": "twinhub.twins.drought.no_such_module:run",
            "app": "twinhub.twins.drought.model:__name__",
        }
    )
    errors = dict(entry_point_errors(m))
    assert "does not import" in errors["model"]
    assert "not callable" in errors["app"]


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "twin.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ManifestError, match=str(path)):
        load_manifest(path)
