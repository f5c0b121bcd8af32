"""REST routes of schedules and notifications (``/api/schedules``, ``/api/notifications``).

Owner only: a schedule of somebody else is a 404, as a missing one. Bodies are raw JSON checked
by :class:`.schedules.Schedules`, so every 422 names the field (``cron``, ``timezone``,
``parameters.ensemble_size``, ``webhook``...).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from .api import ERRORS
from .auth import User
from .bodies import documented, json_body
from .schedules import Schedules, schedule_body

EXAMPLE = {
    "process": "flood",
    "parameters": {"ensemble_size": 20},
    "cron": "0 6 * * *",
    "timezone": "Europe/Berlin",
    "missed": "once",
    "condition": {"output": "p_exceed_10y", "op": ">", "threshold": 0.3},
}
SCHEDULE_BODY = documented(
    {"type": "object", "examples": [EXAMPLE]},
    "process, parameters, cron, timezone, missed, on_data_change, condition, webhook, enabled "
    "(see docs/schedules.md)",
)
PATCH_BODY = documented({"type": "object"}, "the fields of your schedule to change")


def build_schedule_router(schedules: Schedules, current_user) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["schedules"], responses=ERRORS)
    Caller = Annotated[User, Depends(current_user)]
    # bodies are read after the caller is known, off the event loop (bodies.py)
    Document = Annotated[Any, json_body(current_user)]

    @api.get("/schedules", summary="Your schedules")
    def list_schedules(user: Caller) -> list[dict[str, Any]]:
        return [schedule_body(s) for s in schedules.list(user)]

    @api.post(
        "/schedules",
        status_code=201,
        summary="Schedule a twin's runs",
        openapi_extra=SCHEDULE_BODY,
    )
    def create_schedule(user: Caller, data: Document) -> dict[str, Any]:
        return schedule_body(schedules.create(user, data))

    @api.get("/schedules/{schedule_id}")
    def get_schedule(user: Caller, schedule_id: str) -> dict[str, Any]:
        return schedule_body(schedules.get(user, schedule_id))

    @api.patch(
        "/schedules/{schedule_id}",
        summary="Change some fields of your schedule",
        openapi_extra=PATCH_BODY,
    )
    def update_schedule(user: Caller, schedule_id: str, patch: Document) -> dict[str, Any]:
        return schedule_body(schedules.update(user, schedule_id, patch))

    @api.delete("/schedules/{schedule_id}", status_code=204)
    def delete_schedule(user: Caller, schedule_id: str) -> Response:
        schedules.delete(user, schedule_id)
        return Response(status_code=204)

    @api.get("/notifications", summary="Conditions your scheduled runs met, newest first")
    def notifications(user: Caller) -> list[dict[str, Any]]:
        return [
            {
                "id": n.id,
                "schedule": n.schedule_id,
                "job": n.job_id,
                "message": n.message,
                "webhook_status": n.webhook_status,
                "created_at": n.created_at.isoformat(),
            }
            for n in schedules.notifications(user)
        ]

    return api
