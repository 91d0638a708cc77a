"""GET /api/stats: the statistics of app/store/stats.py as JSON or CSV, cut to the caller's scope.

Theory of operation: the query is built from the URL and the caller's scope (app/web/access.py):
a non-admin's report reads only events of their queues and of their campaigns (a dialler
contact's events go with its campaign, never with the queue its agents come from) and, by agent,
only their agents. The database does the counting; this module
only parses, adds a whole-range total row per key (bucket null) and writes JSON or CSV. The totals
are counted first: their keys times the intervals bound the rows, and a report past MAX_ROWS is a 400
saying what to change rather than hundreds of MB built in the service that handles the calls.
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
# Rows one answer may hold (intervals x keys): ~600 bytes each as JSON and more as Python dicts, so
# ~60 MB at most. A month by agent per hour for 100 agents is 74 400; a quarter per 15 min is 8 832
# intervals, by queue fine, by agent refused (it was ~178 MB of JSON, held at once).
MAX_ROWS = 100_000
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
    # One total row per key over the whole range, counted by the database as one bucket. First:
    # its keys bound the report's rows, refused before they are built if too many.
    totals = await statistics(store, StatsQuery(**{**_fields(q), "width": q.end - q.start}))
    buckets = math.ceil((q.end - q.start) / q.width)
    if buckets * len(totals) > MAX_ROWS:
        raise ApiError(400, too_large(q, buckets, len(totals)))
    rows = await statistics(store, q)
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


def too_large(q: StatsQuery, buckets: int, keys: int) -> str:
    """What a supervisor can change to get the report: a coarser interval, a shorter range or, by
    agent, by queue — each named with what fits."""
    names = {900.0: "per 15 minutes", 3600.0: "per hour", 86400.0: "per day"}
    span = q.end - q.start
    coarser = [names[w] for w in INTERVALS.values() if w > q.width and math.ceil(span / w) * keys <= MAX_ROWS]
    days = int(MAX_ROWS // keys * q.width // 86400)
    ways = [f"a coarser interval ({' or '.join(coarser)})"] if coarser else []
    if days >= 1:
        ways.append(f"at most {days} days {names.get(q.width, 'at this interval')}")
    if q.by == "agent":
        ways.append("the report by queue")
    asked = ", ".join(ways[:-1]) + f" or {ways[-1]}" if len(ways) > 1 else (ways or [f"fewer {q.by}s"])[0]
    return (
        f"this report would be up to {buckets * keys:,} rows ({buckets:,} intervals for each of {keys} {q.by}s), "
        f"more than the {MAX_ROWS:,} one answer may hold: ask for {asked}"
    )


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
