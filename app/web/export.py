"""Raw events exported as CSV or JSON lines, by time range, queue and kind — cut to what the
caller may see, like everything else (app/web/access.py).

Theory of operation: the event log is read by id in pages (the store's only order); the first
event of the range is found by a binary search over ids (`first_since_id`), so a day out of a
month costs a few dozen small reads plus the day itself. Rows are streamed as they are read.
An event is exported to a non-admin only if every queue it names (its queue, a move's from and
to) is visible to them, or, for an agent's event without a queue, the agent is; events naming
neither (a settings reload) are for admins. An event about a dialler campaign or one of its
contacts is exported only to those who see that campaign, whatever its queue. Numbers are
masked for the roles that see them masked.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from app.store import Store, StoredEvent, StoreError
from app.web.access import Scope, campaign_of_event, is_dialler_request
from app.web.auth import scope_of
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError, cut_short
from app.web.times import iso, writable

PAGE = 1000
COLUMNS = ("id", "at", "at_epoch", "kind", "request_id", "agent_id", "queue", "data")
NUMBER_KEYS = ("caller", "number")  # data fields that hold a customer's number
QUEUE_KEYS = ("from_queue", "to_queue")


async def first_since_id(store: Store, start: float) -> int:
    """A `since_id` from which reading gives every event at or after `start` (and perhaps a few
    just before it: filter by time as well). Ids grow with time."""

    async def first_after(since: int) -> float | None:
        found = await store.events(since_id=since, limit=1)
        return found[0].at if found else None

    hi = 1
    while (at := await first_after(hi)) is not None and at < start:
        hi *= 2
    lo = 0  # the first event after `lo` is before start (or lo is 0); after `hi` it is not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        at = await first_after(mid)
        if at is not None and at < start:
            lo = mid
        else:
            hi = mid
    return lo


async def events_between(store: Store, start: float, end: float) -> AsyncIterator[StoredEvent]:
    since = await first_since_id(store, start)
    while True:
        batch = await store.events(since_id=since, limit=PAGE)
        for event in batch:
            if start <= event.at < end:
                yield event
        if len(batch) < PAGE or batch[-1].at >= end:
            return
        since = batch[-1].id


def visible_event(scope: Scope, event: StoredEvent) -> dict[str, Any] | None:
    """The event as `scope` may see it, or None."""
    queues = [q for q in (event.queue, *(event.data.get(k) for k in QUEUE_KEYS)) if q]
    campaign = campaign_of_event(event.request_id, event.data)
    queue = event.queue
    if not scope.is_admin:
        if campaign is not None or is_dialler_request(event.request_id):
            # a dialler contact's line goes with its campaign; the queue its agents come from is
            # named only to those who see that queue (a dial's line names the campaign there)
            if not scope.sees_campaign(campaign):
                return None
            if queue != campaign and not scope.sees_queue(queue):
                queue = None
        elif queues:
            if not all(isinstance(q, str) and scope.sees_queue(q) for q in queues):
                return None
        elif not scope.sees_agent(event.agent_id):
            return None
    data = dict(event.data)
    for key in NUMBER_KEYS:
        if isinstance(data.get(key), str):
            data[key] = scope.number(data[key])
    return {
        "id": event.id,
        "at": iso(event.at),
        "at_epoch": event.at,
        "kind": event.kind,
        "request_id": event.request_id,
        "agent_id": event.agent_id,
        "queue": queue,
        "data": data,
    }


def _instant(request: web.Request, name: str, default: float) -> float:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(
                400, f"{name} is {text!r}; use epoch seconds or ISO 8601 like 2026-12-04T00:00:00Z"
            ) from None
        # Without a zone it is UTC, as every instant the API answers, never the host's own zone.
        value = (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite instant")
    if not writable(value):  # the answer writes it back as ISO 8601, which ends at year 9999
        raise ApiError(400, f"{name} is {text!r}; use an instant between the years 1 and 9999")
    return value


async def export_events(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    now = service.clock()
    start = _instant(request, "from", now - 86_400.0)
    end = _instant(request, "to", now + 1.0)
    # As /api/stats: a reversed range asked for is a mistake, not a day without calls (a `from`
    # still to come, with `to` left to its default of now, is only an empty export).
    if "to" in request.query and not end > start:
        raise ApiError(400, "to must be after from")
    fmt = request.query.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise ApiError(400, f"format is {fmt!r}; use csv or jsonl")
    queue = request.query.get("queue")
    if queue is not None and not scope.sees_queue(queue):
        raise ApiError(404, f"no queue named {queue!r}")
    kinds = set(filter(None, request.query.get("kind", "").split(",")))
    store = service.store
    if store is None:  # as /api/stats: an empty file would read as a quiet day
        raise ApiError(503, "the service runs without a store: there is no event log to export")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson",
            "Content-Disposition": f'attachment; filename="holdfast-events.{fmt}"',
        }
    )
    await response.prepare(request)
    if fmt == "csv":
        await response.write(_csv_line(COLUMNS))
    try:
        async for event in events_between(store, start, end):
            if (queue is not None and event.queue != queue) or (kinds and event.kind not in kinds):
                continue
            row = visible_event(scope, event)
            if row is None:
                continue
            if fmt == "csv":
                values = [
                    json.dumps(row["data"], sort_keys=True, ensure_ascii=False) if c == "data" else row[c]
                    for c in COLUMNS
                ]
                await response.write(_csv_line(["" if v is None else v for v in values]))
            else:
                await response.write((json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode())
    except StoreError as error:  # a page refused after the first lines went out
        return cut_short(request, response, error)
    await response.write_eof()
    return response


def _csv_line(values: Any) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().encode()
