"""Pydantic models of what the registry's API returns: records, pages, history, errors.

What platform and twins agree on lives in the contracts: the twin manifest
(:mod:`twinhub.contracts.manifest`), the infrastructure profile (:mod:`twinhub.contracts.profile`)
and the run record (:mod:`twinhub.contracts.runs`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


# --- what the API returns ---------------------------------------------------------------------
class Record(BaseModel):
    """Bookkeeping shared by twins and profiles."""

    retired: bool
    source: Literal["discovered", "api", "published"]
    created_at: datetime
    updated_at: datetime
    updated_by: str


class TwinRecord(Record):
    name: str
    title: str
    domain: str
    version: str
    manifest: dict[str, Any]


class PipelineRecord(Record):
    name: str
    title: str
    version: str
    pipeline: dict[str, Any]


class ProfileRecord(Record):
    slug: str
    profile: dict[str, Any]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="matching items before pagination")
    limit: int
    offset: int


class HistoryEntry(BaseModel):
    action: Literal["create", "update", "retire", "restore"]
    version: str | None
    document: dict[str, Any]
    actor: str
    at: datetime


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    detail: str | list[FieldError]
