"""The admin change log: who changed what, when, before → after; its API and its rows.

Theory of operation: every change a person makes through the page or the API (a callback removed
or moved, an agent's state set) is applied and stored first, then appended to the store's
append-only admin log (`TelephonyService.record_admin`), and only then answered. Entries name
the queue and/or agent they touch in `detail`, so `access.filter_changelog` can show each user
only the entries about what they may see.

The page shows the newest MAX_ENTRIES a user may see: the log is read back from its end a batch
at a time (`Store.admin_log_newest`), cut to the user's scope, until the page is full, the log
is exhausted or SCAN_LIMIT entries were read (a user who sees little of a long log). Numbers in
an entry (a do-not-call change's entries) are masked for the roles that see numbers masked.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from app.store.records import AdminEntry
from app.web.access import Scope, filter_changelog
from app.web.auth import scope_of
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.times import iso

MAX_ENTRIES = 500
BATCH = 2000  # entries read per query, newest first
SCAN_LIMIT = 100_000  # entries read at most for one page
MAX_ID = 2**63 - 1  # the largest id either store can hold
NUMBER_KEYS = ("entries", "number", "caller")  # detail fields that hold customers' numbers


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
    if not 0 <= since <= MAX_ID:
        raise ApiError(400, f"since_id must be 0..{MAX_ID}")
    visible: list[dict[str, Any]] = []
    before: int | None = None
    scanned = 0
    while len(visible) < MAX_ENTRIES and scanned < SCAN_LIMIT:
        entries = await service.store.admin_log_newest(since_id=since, before_id=before, limit=BATCH)
        visible += filter_changelog(scope, [_row(e) for e in entries])
        scanned += len(entries)
        if len(entries) < BATCH:
            break
        before = entries[-1].id
    answer = ChangeList(changes=[ChangeView(**_masked(scope, row)) for row in visible[:MAX_ENTRIES]])
    return web.json_response(answer.model_dump(mode="json"))


def _masked(scope: Scope, row: dict[str, Any]) -> dict[str, Any]:
    """The entry with its numbers as `scope` may see them."""
    detail = dict(row["detail"])
    for key in NUMBER_KEYS:
        value = detail.get(key)
        if isinstance(value, str):
            detail[key] = scope.number(value)
        elif isinstance(value, list):
            detail[key] = [scope.number(v) if isinstance(v, str) else v for v in value]
    return {**row, "detail": detail}


def _row(e: AdminEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": iso(e.at),
        "at_epoch": e.at,
        "who": e.who,
        "action": e.action,
        "request_id": e.request_id,
        "detail": dict(e.detail),
    }
