"""Every kind of bad input gets its status and a message naming the field; nothing is stored."""

from __future__ import annotations

import pytest

from tests.support.twins import manifest

from .conftest import Registry

pytestmark = pytest.mark.integration

BAD_TWINS = [
    ("unknown field", {**manifest("bad-a"), "colour": "red"}, 422, "colour", "unknown field"),
    ("bad slug", manifest("Bad_Name"), 422, "name", "slug"),
    ("bad semver", manifest("bad-b", version="1.0"), 422, "version", "semantic version"),
    ("model", manifest("bad-c", model="twinhub_testtwins.nope:run"), 422, "model", "import"),
    ("app", manifest("bad-d", app="twinhub_testtwins.growth:nope"), 422, "app", "no attribute"),
    ("catalog", manifest("bad-e", catalog=["no-such-entry"]), 422, "catalog.0", "no-such"),
    ("profile", manifest("bad-f", profile="huge"), 422, "profile", "not an active"),
    ("not a mapping", [1, 2], 422, "(manifest)", "mapping"),
    ("duplicate", manifest("growth"), 409, None, "exists"),
]

BAD_PROFILES = [
    ("memory", {"memory": "lots"}, 422, "memory", "memory size"),
    ("slug", {"slug": "Big One"}, 422, "slug", "slug"),
    ("unknown field", {"ram": "2G"}, 422, "ram", "unknown field"),
    ("cpu", {"cpu": 0}, 422, "cpu", "greater than 0"),
    ("toleration", {"tolerations": [{"operator": "Maybe"}]}, 422, "tolerations.0.key", ""),
    ("slurm time", {"slurm": {"time_limit": "soon"}}, 422, "slurm.time_limit", "time limit"),
    # the Slurm job must hold what the profile offers (its name, CPU_LIMIT, MEM_LIMIT)
    ("slurm cores", {"cpu": 4, "slurm": {"cores": 2}}, 422, "slurm", "less than the profile's cpu"),
    ("slurm memory", {"memory": "8G", "slurm": {"memory_gib": 4}}, 422, "slurm", "memory 8G"),
    ("duplicate", {"slug": "small"}, 409, None, "exists"),
]


def _messages(body: dict) -> dict[str, str]:
    detail = body["detail"]
    if isinstance(detail, str):
        return {None: detail}
    return {d["field"]: d["message"] for d in detail}


@pytest.mark.parametrize(("kind", "data", "status", "field", "text"), BAD_TWINS)
def test_bad_twin_is_refused_and_nothing_is_stored(
    registry: Registry, kind, data, status, field, text
) -> None:
    before = registry.rows()
    with registry.client("mia") as c:
        r = c.post("/twins", json=data)
    assert r.status_code == status, r.text
    messages = _messages(r.json())
    assert field in messages, messages
    assert text in messages[field]
    assert registry.rows() == before


@pytest.mark.parametrize(("kind", "change", "status", "field", "text"), BAD_PROFILES)
def test_bad_profile_is_refused_and_nothing_is_stored(
    registry: Registry, kind, change, status, field, text
) -> None:
    profile = {"slug": "fine", "display_name": "Fine", "cpu": 1, "memory": "1G", **change}
    before = registry.rows()
    with registry.client("admin") as c:
        r = c.post("/profiles", json=profile)
    assert r.status_code == status, r.text
    messages = _messages(r.json())
    assert field in messages, messages
    assert text in messages[field]
    assert registry.rows() == before


def test_every_wrong_field_is_reported_at_once(registry: Registry) -> None:
    data = manifest("bad-g", version="one", model="nope", profile="Huge!")
    with registry.client("mia") as c:
        r = c.post("/twins", json=data)
    assert r.status_code == 422
    assert {"version", "model", "profile"} <= set(_messages(r.json()))


def test_failed_update_keeps_the_stored_twin(registry: Registry) -> None:
    with registry.client("mia") as c:
        before_twin = c.get("/twins/growth").json()
        rows = registry.rows()
        bad = c.put("/twins/growth", json=manifest("growth", version="2.0.0", profile="huge"))
        renamed = c.put("/twins/growth", json=manifest("other-name", version="2.0.0"))
        after_twin = c.get("/twins/growth").json()
    assert bad.status_code == 422 and "profile" in _messages(bad.json())
    assert renamed.status_code == 400 and "renamed" in renamed.json()["detail"]
    assert after_twin == before_twin
    assert registry.rows() == rows


def test_bad_run_parameters_store_no_run(registry: Registry) -> None:
    rows = registry.rows()
    with registry.client("alice") as c:
        r = c.post("/twins/growth/runs", json={"parameters": {"days": 1000}})
        wrong_shape = c.post("/twins/growth/runs", json={"parameters": [1], "colour": 1})
    assert r.status_code == 422
    assert "parameters.days" in _messages(r.json())
    assert wrong_shape.status_code == 422
    assert {"parameters", "colour"} <= set(_messages(wrong_shape.json()))
    assert registry.rows() == rows


def test_huge_offset_is_a_422_naming_the_parameter(registry: Registry) -> None:
    """Found by fuzzing: an offset beyond 64 bits reached SQLite and was a 500."""
    with registry.client("alice") as c:
        for path in ("/runs", "/twins", "/profiles"):
            r = c.get(path, params={"offset": 1455135736794175242240})
            assert r.status_code == 422, (path, r.status_code)
            assert r.json()["detail"][0]["field"] == "offset"
