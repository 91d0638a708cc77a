"""`GET /api/notifications`: the outbox as staff see it (pending / delivered / failed, last error).

Rows are cut to the queues the caller may see (app/web/access.py; one about a dialler contact to
its campaign) and numbers are masked as
their role says; the rendered message (which may hold the number) and the last error (which may
quote the receiver's answer, and that may echo the number or the text) are shown to admins only.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from app.store.outbox import OutboxStore
from app.store.outbox_records import STATES, StoredNotification
from app.web.access import Scope, campaign_of_request, is_dialler_request
from app.web.auth import scope_of
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.models import Epoch, Timestamp
from app.web.times import iso

MAX_ROWS = 1000


class NotificationView(BaseModel):
    id: str = Field(description="the idempotency key sent to the receiver")
    event: str
    channel: str = Field(description='"sms" or "webhook name"')
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    request_id: str | None
    queue: str | None
    number: str | None = Field(description="the caller's number (SMS: where it goes), masked as your role says")
    created_at: Timestamp
    created_at_epoch: Epoch
    next_at: Timestamp | None = Field(description="pending: the next try")
    next_at_epoch: Epoch | None
    expires_at: Timestamp
    expires_at_epoch: Epoch
    delivered_at: Timestamp | None
    delivered_at_epoch: Epoch | None
    last_error: str | None = Field(description="why the last try failed (admins only)")
    message: str | None = Field(
        description="the rendered text; one rendered again when sent late, as it went (admins only)"
    )


class NotificationList(BaseModel):
    notifications: list[NotificationView] = Field(description="newest first")


def view(scope: Scope, row: StoredNotification) -> NotificationView:
    n = row.notification
    number = n.payload.get("to") or n.payload.get("number")
    return NotificationView(
        id=n.id,
        event=n.event,
        channel=n.channel,
        state=row.state,
        attempts=row.attempts,
        request_id=n.request_id,
        queue=n.queue if scope.sees_queue(n.queue) else None,  # a contact's: seen through its campaign only
        number=scope.number(number if isinstance(number, str) else None),
        created_at=iso(n.created_at),
        created_at_epoch=n.created_at,
        next_at=iso(row.next_at) if row.state == "pending" else None,
        next_at_epoch=row.next_at if row.state == "pending" else None,
        expires_at=iso(n.expires_at),
        expires_at_epoch=n.expires_at,
        delivered_at=iso(row.delivered_at) if row.delivered_at is not None else None,
        delivered_at_epoch=row.delivered_at,
        last_error=row.last_error if scope.is_admin else None,
        message=n.payload.get("message") if scope.is_admin else None,
    )


def _visible(scope: Scope, row: StoredNotification) -> bool:
    """Of a visible queue; one about a dialler contact goes with its campaign, not the queue."""
    n = row.notification
    if scope.is_admin:
        return True
    campaign = n.payload.get("campaign") if isinstance(n.payload.get("campaign"), str) else None
    campaign = campaign or campaign_of_request(n.request_id)
    if campaign is not None or is_dialler_request(n.request_id):
        return scope.sees_campaign(campaign)
    return scope.sees_queue(n.queue)


async def list_notifications(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    state = request.query.get("state")
    if state is not None and state not in STATES:
        raise ApiError(422, f"state is {state!r}; one of {', '.join(STATES)}")
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(422, "limit must be a whole number") from None
    if not 1 <= limit <= MAX_ROWS:
        raise ApiError(422, f"limit must be 1-{MAX_ROWS}")
    store = service.store
    if not isinstance(store, OutboxStore):
        raise ApiError(503, "the service runs without a store")
    # Narrowed to the scope's rows in the store before the limit (else a quiet queue's rows were
    # lost behind a thousand newer of others), then each row checked here, where access is decided.
    if scope.is_admin:
        rows = await store.notifications(state=state, limit=MAX_ROWS)
    else:
        rows = await store.notifications(state=state, limit=MAX_ROWS, queues=scope.queues, campaigns=scope.campaigns)
    visible = [view(scope, r) for r in rows if _visible(scope, r)][:limit]
    return web.json_response(NotificationList(notifications=visible).model_dump(mode="json"))
