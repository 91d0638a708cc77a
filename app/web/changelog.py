"""The admin change log: who changed what, when, before → after; its API and its rows.

Theory of operation: every change a person makes through the page or the API (a callback removed
or moved, an agent's state set) is applied and stored first, then appended to the store's
append-only admin log (`TelephonyService.record_admin`), and only then answered. Entries name
the queue and/or agent they touch in `detail`, so `access.filter_changelog` can show each user
only the entries about what they may see.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from app.web.access import filter_changelog
from app.web.auth import scope_of
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.times import iso

MAX_ENTRIES = 500


class ChangeView(BaseModel):
    id: int
    at: str = Field(description="when, ISO 8601 UTC")
    at_epoch: float
    who: str
    action: str = Field(description="remove_callback, move_callback, agent_ready, agent_pause, agent_logout, ...")
    request_id: str | None
    detail: dict[str, Any] = Field(description="queue and/or agent_id, before, after, reason")


class ChangeList(BaseModel):
    changes: list[ChangeView] = Field(description="newest first")


async def list_changes(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    if service.store is None:
        return web.json_response(ChangeList(changes=[]).model_dump(mode="json"))
    try:
        since = int(request.query.get("since_id", "0"))
    except ValueError:
        raise ApiError(400, "since_id must be a whole number") from None
    entries = await service.store.admin_log(since_id=since, limit=100_000)
    rows = [
        {
            "id": e.id,
            "at": iso(e.at),
            "at_epoch": e.at,
            "who": e.who,
            "action": e.action,
            "request_id": e.request_id,
            "detail": dict(e.detail),
        }
        for e in entries
    ]
    visible = filter_changelog(scope, rows)
    visible.reverse()
    answer = ChangeList(changes=[ChangeView(**row) for row in visible[:MAX_ENTRIES]])
    return web.json_response(answer.model_dump(mode="json"))
