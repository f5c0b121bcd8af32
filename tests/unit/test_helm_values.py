"""The Helm values validate against the charts' official schemas (vendored in hub/helm/schemas)."""

from __future__ import annotations

import copy
import filecmp
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator
from twinhub.contracts.settings import REPO_ROOT

HELM = REPO_ROOT / "hub" / "helm"
VALUES = {
    "jupyterhub-values.yaml": "z2jh-values.schema.yaml",
    "dask-gateway-values.yaml": "dask-gateway-values.schema.yaml",
}


def without_required(schema: object) -> object:
    """The schema with its `required` lists dropped.

    Helm validates the chart's defaults merged with ours; the defaults supply the required keys,
    which we do not repeat. Everything we do set is still checked, including the charts'
    `additionalProperties: false`, so a misspelt or misplaced key fails.
    """
    if isinstance(schema, dict):
        return {k: without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [without_required(v) for v in schema]
    return schema


def schema_errors(values_file: str) -> list[str]:
    schema = yaml.safe_load((HELM / "schemas" / VALUES[values_file]).read_text())
    values = yaml.safe_load((HELM / values_file).read_text())
    validator = Draft7Validator(without_required(copy.deepcopy(schema)))
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)
    ]


@pytest.mark.parametrize("values_file", sorted(VALUES))
def test_values_validate_against_the_official_schema(values_file: str) -> None:
    assert schema_errors(values_file) == []


def test_a_misspelt_key_is_caught(tmp_path: Path, monkeypatch) -> None:
    values = yaml.safe_load((HELM / "jupyterhub-values.yaml").read_text())
    values["singleuser"]["memroy"] = {"limit": "2G"}
    bad = tmp_path / "jupyterhub-values.yaml"
    bad.write_text(yaml.safe_dump(values))
    (tmp_path / "schemas").symlink_to(HELM / "schemas")
    monkeypatch.setattr("tests.unit.test_helm_values.HELM", tmp_path)
    errors = schema_errors("jupyterhub-values.yaml")
    assert any("memroy" in e for e in errors), errors


def secret_literals(node: object, path: str = "") -> list[str]:
    """Keys that look like secrets but hold a literal value (rather than a Secret reference)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            lowered = str(key).lower()
            is_reference = lowered.endswith(("fromsecretname", "fromsecretkey"))
            if (
                any(word in lowered for word in ("password", "secret", "token"))
                and not is_reference
                and isinstance(value, str | int)
            ):
                found.append(where)
            found += secret_literals(value, where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += secret_literals(item, f"{path}[{i}]")
    return found


def test_no_secret_values_in_the_values_files() -> None:
    for name in VALUES:
        values = yaml.safe_load((HELM / name).read_text())
        assert secret_literals(values) == [], f"{name}: read these from a Secret instead"
    assert secret_literals({"hub": {"db": {"password": "hunter2"}}}) == ["hub.db.password"]


def test_vendored_schemas_match_the_reference_copies() -> None:
    reference = REPO_ROOT.parent / "shared" / "schemas"
    if not reference.is_dir():
        pytest.skip("no reference copy of the schemas beside this checkout")
    for schema in VALUES.values():
        assert filecmp.cmp(HELM / "schemas" / schema, reference / schema, shallow=False), schema
