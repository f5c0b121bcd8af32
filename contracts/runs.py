"""A run as the registry records it: what a twin's notebook or dashboard posts, and reads back.

The W3C PROV record of a run (what ran, on what, by whom) is built by the twin framework
(``twinhub.twins.runs``, ``twinhub.twins.provenance``) and stored beside this record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from twinhub.contracts.jsonvalues import json_problems
from twinhub.contracts.manifest import STRICT
from twinhub.contracts.text import Text


class _Strict(BaseModel):
    model_config = STRICT


RunStatus = Literal["queued", "running", "succeeded", "failed"]


RUN_ERROR = Field(
    default=None,
    description="why the run failed (only with status 'failed'), e.g. the Dask scheduler was lost",
)
RunError = Text(2000)


class RunRequest(_Strict):
    parameters: dict[str, Any] = Field(default_factory=dict)
    status: RunStatus = "queued"
    error: RunError | None = RUN_ERROR

    @field_validator("parameters")
    @classmethod
    def _bounded_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = json_problems(value, "parameters")
        if problems:
            raise ValueError("; ".join(f"{where}: {message}" for where, message in problems))
        return value


class RunUpdate(_Strict):
    status: RunStatus
    error: RunError | None = RUN_ERROR


class RunRecord(BaseModel):
    id: str
    twin: str
    twin_version: str
    user: str
    parameters: dict[str, Any]
    status: RunStatus
    error: str | None = Field(description="why the run failed; null unless status is 'failed'")
    has_provenance: bool
    created_at: datetime
    updated_at: datetime
