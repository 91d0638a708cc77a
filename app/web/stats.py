"""GET /api/stats: the statistics of app/store/stats.py as JSON or CSV, cut to the caller's scope.

Theory of operation: the query is built from the URL and the caller's scope (app/web/access.py):
a non-admin's report reads only events of their queues and of their campaigns (a dialler
contact's events go with its campaign, never with the queue its agents come from) and, by agent,
only their agents. The database does the counting; this module
only parses, adds a whole-range total row per key (bucket null) and writes JSON or CSV.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import math
from typing import Any

from aiohttp import web

from app.store.stats import COLUMNS, INTERVALS, StatsQuery, pruned_before, statistics
from app.web.auth import scope_of
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.export import _instant
from app.web.times import iso, writable

MAX_RANGE = 92 * 86400.0  # a quarter: a longer report is a batch job, not a page
SHORT_ABANDON = 5.0
PRUNED_HEADER = "X-Holdfast-Pruned-Before"  # CSV: the history's cut, when the range reaches past it

QUERY: dict[str, dict[str, Any]] = {
    "from": {
        "type": "string",
        "description": "epoch seconds or ISO 8601 (UTC when it names no zone); default: today 00:00 UTC",
    },
    "to": {
        "type": "string",
        "description": "epoch seconds or ISO 8601 (exclusive; UTC when it names no zone); default: from + 1 day",
    },
    "by": {"type": "string", "enum": ["queue", "campaign", "agent"], "default": "queue"},
    "interval": {"type": "string", "enum": list(INTERVALS), "default": "1h"},
    "short_abandon": {"type": "number", "minimum": 0, "default": SHORT_ABANDON},
    "format": {"type": "string", "enum": ["json", "csv"], "default": "json"},
}


def _query(request: web.Request) -> tuple[StatsQuery, str]:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    now = service.clock()
    start = _instant(request, "from", now - now % 86400.0)
    end = _instant(request, "to", start + 86400.0)
    if not 0 < end - start <= MAX_RANGE:
        raise ApiError(400, "to must be after from, and the range at most 92 days")
    if not writable(end):  # the default `to` (from + 1 day) may pass the year 9999 `from` is in
        raise ApiError(400, "to must be an instant before the year 10000")
    by = request.query.get("by", "queue")
    interval = request.query.get("interval", "1h")
    if interval not in INTERVALS:
        raise ApiError(400, f"interval is {interval!r}; use one of {', '.join(INTERVALS)}")
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(400, f"format is {fmt!r}; use json or csv")
    try:
        short = float(request.query.get("short_abandon", SHORT_ABANDON))
    except ValueError:
        raise ApiError(400, "short_abandon must be a number of seconds") from None
    if not math.isfinite(short) or short < 0:  # NaN or infinity would also make the answer invalid JSON
        raise ApiError(400, f"short_abandon is {short}; use a finite number of seconds, 0 or more")
    config = service.config
    try:
        q = StatsQuery(
            start=start,
            end=end,
            by=by,
            width=INTERVALS[interval],
            short_abandon=short,
            sla_targets={name: float(queue.service_level) for name, queue in config.queues.items()},
            queues=None if scope.is_admin else scope.queues,
            agents=None if scope.is_admin else scope.agents,
            campaigns=None if scope.is_admin else scope.campaigns,
        )
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    return q, fmt


async def stats(request: web.Request) -> web.Response:
    q, fmt = _query(request)
    store = request.app[SERVICE_KEY].store
    if store is None:
        raise ApiError(503, "the service runs without a store: there is no event log to count")
    rows = await statistics(store, q)
    # One total row per key over the whole range, counted by the database as one bucket.
    totals = await statistics(store, StatsQuery(**{**_fields(q), "width": q.end - q.start}))
    for t in totals:
        t["bucket"] = None
    # The history keeper deleted what was before its cut: a range reaching back past it is
    # counted on what is left, and the answer says so rather than show a quiet day.
    cut = await pruned_before(store)
    pruned = cut if cut is not None and q.start < cut else None
    if fmt == "csv":
        headers = {"Content-Disposition": f'attachment; filename="holdfast-stats-{q.by}.csv"'}
        if pruned is not None:
            headers[PRUNED_HEADER] = iso(pruned)
        # Written off the event loop, as the rows were merged (app/store/stats.py): a quarter by
        # agent per 15 min is seconds of encoding, and the calls run on this loop.
        body = await asyncio.to_thread(to_csv, rows + totals)
        return web.Response(body=body, content_type="text/csv", charset="utf-8", headers=headers)
    answer = {
        "from": iso(q.start),
        "to": iso(q.end),
        "by": q.by,
        "interval": q.width,
        "short_abandon": q.short_abandon,
        "pruned_before": None if pruned is None else iso(pruned),
        "pruned_before_epoch": pruned,
        "columns": list(COLUMNS),
        "rows": rows,
        "totals": totals,
    }
    text = await asyncio.to_thread(json.dumps, answer)
    return web.Response(text=text, content_type="application/json")


def _fields(q: StatsQuery) -> dict[str, Any]:
    return {f.name: getattr(q, f.name) for f in dataclasses.fields(q)}


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """The rows as CSV: bucket as ISO 8601 ("" for a key's total), empty cells for no value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        values = []
        for c in COLUMNS:
            v = r[c]
            if c == "bucket":
                v = "" if v is None else iso(v)
            values.append("" if v is None else v)
        writer.writerow(values)
    return out.getvalue().encode()
