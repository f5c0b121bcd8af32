"""The registry's read snapshot on a real SQLite file: fresh after every write, same JSON as before.

The reference for the JSON is pydantic's own serialisation of the API's ``Page`` model (what
FastAPI sent before reads were pre-rendered); the snapshot joins pre-rendered records instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from twinhub.contracts.names import SCOPE_PROFILES_WRITE
from twinhub.extensions.registry.auth import User
from twinhub.extensions.registry.db import Profile, open_database
from twinhub.extensions.registry.models import Page, ProfileRecord
from twinhub.extensions.registry.snapshot import (
    etag,
    not_modified,
    page_body,
    profile_record,
    select_items,
)
from twinhub.extensions.registry.store import Store

ADMIN = User("root", frozenset(), frozenset({SCOPE_PROFILES_WRITE}), "user", "t")
READER = User("ann", frozenset(), frozenset(), "user", "t")


def _profile(slug: str, **extra) -> dict:
    return {"slug": slug, "display_name": slug.title(), "cpu": 1, "memory": "2G", **extra}


def test_snapshot_follows_every_write(tmp_path: Path) -> None:
    store = Store(open_database(f"sqlite:///{tmp_path / 'registry.sqlite'}"))
    first = store.snapshot()
    assert first.profiles == () and store.snapshot() is first  # no write: the same snapshot
    store.create_profile(ADMIN, _profile("small"))
    second = store.snapshot()
    assert [p.key for p in second.profiles] == ["small"]
    store.update_profile(ADMIN, "small", _profile("small", display_name="Small one"))
    assert json.loads(store.snapshot().profile_by_slug["small"].body)["profile"][
        "display_name"
    ] == ("Small one")
    store.set_profile_retired(ADMIN, "small", True)
    assert store.snapshot().profile_by_slug["small"].retired


def test_pages_are_the_json_pydantic_would_send(tmp_path: Path) -> None:
    store = Store(open_database(f"sqlite:///{tmp_path / 'registry.sqlite'}"))
    for slug in ("alpha", "beta", "gamma"):
        store.create_profile(ADMIN, _profile(slug))
    store.create_profile(ADMIN, _profile("lab-only", allowed_groups=["lab"]))
    items = select_items(store.snapshot().profiles, READER.can_use_profile)
    assert [i.key for i in items] == ["alpha", "beta", "gamma"]  # not lab-only
    with store.sessions() as s:
        rows = s.query(Profile).filter(Profile.slug.in_(["beta", "gamma"])).order_by(Profile.slug)
        expected = Page[ProfileRecord](
            items=[profile_record(p) for p in rows], total=3, limit=2, offset=1
        )
    assert json.loads(page_body(items, limit=2, offset=1)) == expected.model_dump(mode="json")
    assert json.loads(page_body(items, limit=50, offset=10)) == {
        "items": [],
        "total": 3,
        "limit": 50,
        "offset": 10,
    }


def test_if_none_match_rules() -> None:
    tag = etag(b'{"a": 1}')
    assert tag.startswith('"') and tag.endswith('"') and tag != etag(b'{"a": 2}')
    assert not_modified(tag, tag)
    assert not_modified(f'"other", W/{tag}', tag)
    assert not_modified("*", tag)
    assert not not_modified(None, tag)
    assert not not_modified('"other"', tag)
    assert not not_modified(tag.strip('"'), tag)  # an unquoted value is not a validator
