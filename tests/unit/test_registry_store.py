"""The store's transactions on a real SQLite file: a write that fails at commit leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from twinhub.contracts.names import SCOPE_PROFILES_WRITE
from twinhub.extensions.registry.auth import User
from twinhub.extensions.registry.db import Profile, open_database
from twinhub.extensions.registry.errors import Conflict
from twinhub.extensions.registry.store import Store

ADMIN = User("root", frozenset(), frozenset({SCOPE_PROFILES_WRITE}), "user", "t")
PROFILE = {"slug": "small", "display_name": "Small", "cpu": 1, "memory": "2G"}


def test_unique_violation_at_commit_is_a_conflict_and_rolls_back(tmp_path: Path) -> None:
    store = Store(open_database(f"sqlite:///{tmp_path / 'registry.sqlite'}"))
    store.create_profile(ADMIN, PROFILE)
    # a concurrent writer slipped the same slug in: the constraint fails at commit time
    with pytest.raises(Conflict, match="nothing stored"):
        with store.transaction() as s:
            s.add(Profile(slug="other", profile={}, source="api", updated_by="x"))
            s.add(Profile(slug="small", profile={}, source="api", updated_by="x"))
    with store.sessions() as s:
        assert [p.slug for p in s.query(Profile)] == ["small"]
    assert len(store.history(ADMIN, "profile", "small")) == 1
