"""GET /api/live: the live page's rows for API clients, cut to the caller's filter."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from app.web.access import filter_live
from app.web.auth import scope_of
from app.web.live_feed import LIVE_KEY


class LiveView(BaseModel):
    now: float = Field(description="the service's clock, epoch seconds: waits are now - arrived_at / queued_since")
    requests: list[dict[str, Any]] = Field(
        description="ongoing requests: id, queue, kind, state, position, number (masked for some roles), agent_id, "
        "agent_name, arrived_at, queued_since, talking_since, until, attempts, priority, campaign (dialler contacts)"
    )
    agents: list[dict[str, Any]] = Field(
        description="agents: id, name, state, state_since, wrap_up_until (in wrap-up: its end), pause_reason, "
        "reachable, request_id, queues, groups, handled_today"
    )
    queues: list[dict[str, Any]] = Field(
        description="queues: name, label, open, waiting, callers_waiting, callbacks_waiting, callbacks_quarantine, "
        "oldest_arrived_at, estimated_wait (for a new caller), agents per state, answered_today, abandoned_today, "
        "sla_today (percent answered within service_level of net wait)"
    )
    campaigns: list[dict[str, Any]] = Field(
        description="dialler campaigns: name, label, queue, mode, state, left (contacts), dialled_24h, connects_24h, "
        "abandon_rate_24h (percent), dialling (contacts in progress now)"
    )


async def live(request: web.Request) -> web.Response:
    feed = request.app[LIVE_KEY]
    await feed.refresh_figures()
    snapshot = await feed.stored_snapshot()
    visible = filter_live(scope_of(request), snapshot)
    return web.json_response(LiveView(now=snapshot["now"], **visible).model_dump(mode="json"))
