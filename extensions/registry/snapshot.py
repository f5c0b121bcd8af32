"""The read side of the registry: every twin and profile, already rendered as JSON.

Reads outnumber writes by orders of magnitude (every spawn page, every notebook's ``twin``,
every dashboard asks), yet each read used to open a database session, load every row, build
pydantic records and serialise them again. A :class:`Snapshot` does that work once per version
of the tables: :class:`store.Store` bumps its version after each write transaction and the next
read builds a new snapshot; reads in between filter it (visibility is still decided per caller,
by :class:`auth.User`) and join pre-rendered JSON. The registry is the only writer of its
tables (one process, as the hub runs it), so its own version counter is enough to know when a
snapshot is stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .db import Profile, Twin
from .models import ProfileRecord, TwinRecord


def twin_record(t: Twin) -> TwinRecord:
    return TwinRecord(
        name=t.name,
        title=t.title,
        domain=t.domain,
        version=t.version,
        manifest=t.manifest,
        retired=t.retired_at is not None,
        source=t.source,
        created_at=t.created_at,
        updated_at=t.updated_at,
        updated_by=t.updated_by,
    )


def profile_record(p: Profile) -> ProfileRecord:
    return ProfileRecord(
        slug=p.slug,
        profile=p.profile,
        retired=p.retired_at is not None,
        source=p.source,
        created_at=p.created_at,
        updated_at=p.updated_at,
        updated_by=p.updated_by,
    )


@dataclass(frozen=True)
class Item:
    """One twin or profile as the API shows it, with what the filters need."""

    key: str
    document: dict[str, Any]
    """The manifest or profile: what :class:`auth.User` decides visibility on."""
    retired: bool
    domain: str | None
    text: str
    """Lower-case name, title and summary, for the ``q`` search of twins."""
    body: bytes
    """The record (``TwinRecord`` / ``ProfileRecord``) as the API's JSON."""


@dataclass(frozen=True)
class Snapshot:
    version: int
    twins: tuple[Item, ...]
    profiles: tuple[Item, ...]
    twin_by_name: dict[str, Item] = field(init=False)
    profile_by_slug: dict[str, Item] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "twin_by_name", {t.key: t for t in self.twins})
        object.__setattr__(self, "profile_by_slug", {p.key: p for p in self.profiles})


def build_snapshot(version: int, twins: Iterable[Twin], profiles: Iterable[Profile]) -> Snapshot:
    """Render every row once (rows ordered by name/slug, as the API lists them)."""
    return Snapshot(
        version=version,
        twins=tuple(
            Item(
                key=t.name,
                document=t.manifest,
                retired=t.retired_at is not None,
                domain=t.domain,
                text=" ".join(
                    [t.manifest["name"], t.manifest["title"], t.manifest["summary"]]
                ).lower(),
                body=twin_record(t).model_dump_json().encode(),
            )
            for t in twins
        ),
        profiles=tuple(
            Item(
                key=p.slug,
                document=p.profile,
                retired=p.retired_at is not None,
                domain=None,
                text="",
                body=profile_record(p).model_dump_json().encode(),
            )
            for p in profiles
        ),
    )


def select_items(
    items: Iterable[Item],
    visible: Callable[[dict[str, Any]], bool],
    *,
    retired: bool = False,
    domain: str | None = None,
    q: str | None = None,
) -> list[Item]:
    """The items a caller may see, with the same filters the database query applied."""
    needle = q.lower() if q else None
    return [
        i
        for i in items
        if (retired or not i.retired)
        and (not domain or i.domain == domain)
        and visible(i.document)
        and (needle is None or needle in i.text)
    ]


def page_body(items: list[Item], limit: int, offset: int) -> bytes:
    """A ``Page`` of records as JSON, joined from the pre-rendered items."""
    chosen = b",".join(i.body for i in items[offset : offset + limit])
    tail = f'],"total":{len(items)},"limit":{limit},"offset":{offset}}}'.encode()
    return b'{"items":[' + chosen + tail


def etag(body: bytes) -> str:
    """A strong validator of the exact answer (it differs per caller where visibility does)."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """Whether the client's ``If-None-Match`` already names this answer (RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = (c.strip().removeprefix("W/") for c in if_none_match.split(","))
    return tag in candidates
