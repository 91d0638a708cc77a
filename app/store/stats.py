"""Statistics from the raw event log, computed in the database (SQLite or PostgreSQL).

Theory of operation: one report is a handful of aggregating SELECTs over the `events` table for
the range [start, end), grouped by a key (queue, campaign or agent) and a time bucket (`start` +
k * width, so buckets line up with the range asked for). Python only merges the rows of those
SELECTs by (key, bucket) and derives ratios. The event kinds read are the core's:

- queues: `arrived` (offered), `connected` without a campaign (answered; carries net_wait,
  gross_wait, within_sla judged by the engine on net wait), `ended` with its outcome (abandoned
  with `waited`, served, missed, expired, removed, ticket, closed, dropped; a caller turned away
  by a closed queue ends "closed" without arriving), `callback_accepted`
  (callback requested); a callback is served when a request that accepted one ends served;
  `moved` (a callback moved by a supervisor: out of `from_queue`, into `to_queue`), so that per
  queue offered + moved in = the endings + moved out + what is still open.
- campaigns: `dial_attempt` (attempts; outcome answered = connect; abandoned) and `connected`
  with a campaign (handle time).
- agents: `agent_ringing` (offered to the agent), `connected` (answered by them), and
  `agent_state` lines (state, previous) whose intervals give occupancy = time ringing, busy or in
  wrap-up over time logged in (any state but logged_off). An agent with no state change inside
  the range is not seen (the log has no snapshot); the time before their first change in the
  range counts in that change's `previous` state. Wrap-up is also shown on its own:
  `wrap_up_seconds` (time in the wrap_up state) and `wrap_up_avg` (that over the calls the agent
  answered in the bucket). By queue, an agent's wrap-up belongs to the queue of the call they were
  last connected to before it began (none after a campaign's call); campaigns show none.

Handle time is from `connected` to the request's next `ended` or `requeued` line (talk time).
p90 is nearest-rank (the ceil(0.9 n)-th smallest): `percentile_disc(0.9)` on PostgreSQL, a
row_number() window on SQLite — the same value on both. Speed of answer and SLA judge only the
lines with a wait: by agent, a dialler call's `connected` (no net or gross wait) counts as
answered but in neither p90 nor the SLAs. The indexes this needs come with
migration 3 (events by kind and time).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from app.store.base import Store

DIMENSIONS = ("queue", "campaign", "agent")
INTERVALS = {"15m": 900.0, "1h": 3600.0, "1d": 86400.0}
BUSY_STATES = ("ringing", "busy", "wrap_up")
CALLBACK_ENDINGS = ("missed", "expired", "removed")

# The columns of one row, in the CSV's order.
COLUMNS = (
    "key",
    "bucket",
    "offered",
    "answered",
    "served",
    "abandoned",
    "short_abandoned",
    "abandon_rate",
    "callbacks_requested",
    "callbacks_served",
    "callbacks_missed",
    "callbacks_expired",
    "callbacks_removed",
    "tickets",
    "closed",
    "dropped",
    "moved_in",
    "moved_out",
    "asa",
    "asa_p90",
    "gross_wait_avg",
    "handle_avg",
    "sla_net",
    "sla_gross",
    "busy_seconds",
    "logged_in_seconds",
    "occupancy",
    "wrap_up_seconds",
    "wrap_up_avg",
    "dial_attempts",
    "dial_connects",
    "dial_abandoned",
    "dial_abandon_rate",
)


@dataclass(frozen=True, slots=True)
class StatsQuery:
    start: float
    end: float
    by: str = "queue"
    width: float = 3600.0
    short_abandon: float = 5.0  # an abandon after less than this many seconds is "short", shown apart
    sla_targets: Mapping[str, float] = field(default_factory=dict)  # queue -> service_level (gross SLA)
    queues: frozenset[str] | None = None  # None: every queue (admin); else only these
    agents: frozenset[str] | None = None  # None: every agent; else only these
    campaigns: frozenset[str] | None = None  # None: every campaign (admin); else only these

    def __post_init__(self) -> None:
        if self.by not in DIMENSIONS:
            raise ValueError(f"by is {self.by!r}; use one of {', '.join(DIMENSIONS)}")
        if not (math.isfinite(self.start) and math.isfinite(self.end) and self.end > self.start):
            raise ValueError("the range must have finite ends with to after from")
        if not (self.width > 0 and (self.end - self.start) / self.width <= 10_000):
            raise ValueError("the interval must be positive and give at most 10000 buckets over the range")


class _Dialect:
    """The few places where SQLite and PostgreSQL SQL differ."""

    def __init__(self, postgres: bool) -> None:
        self.pg = postgres
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        self.params.append(value)
        if not self.pg:
            return f"?{len(self.params)}"
        # asyncpg infers a parameter's type from its use; say it, or `at >= $1` may meet a text.
        return f"${len(self.params)}::{'float8' if isinstance(value, (int, float)) else 'text'}"

    def text(self, key: str, table: str = "e") -> str:
        return f"({table}.data->>'{key}')" if self.pg else f"json_extract({table}.data, '$.{key}')"

    def num(self, key: str, table: str = "e") -> str:
        return f"({table}.data->>'{key}')::float8" if self.pg else f"json_extract({table}.data, '$.{key}')"

    def true(self, key: str, table: str = "e") -> str:
        return f"(({table}.data->>'{key}') = 'true')" if self.pg else f"(json_extract({table}.data, '$.{key}') IS 1)"

    def floor_div(self, a: str, b: str) -> str:
        return f"floor(({a}) / ({b}))" if self.pg else f"CAST(({a}) / ({b}) AS INTEGER)"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.pg else f"min({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"max({a}, {b})"

    def count_if(self, cond: str) -> str:
        return f"count(*) FILTER (WHERE {cond})" if self.pg else f"coalesce(sum({cond}), 0)"

    def in_list(self, column: str, values: Iterable[str]) -> str:
        values = sorted(values)
        if not values:
            return "FALSE" if self.pg else "0"
        return f"{column} IN ({', '.join(self.p(v) for v in values)})"


def _bucket(d: _Dialect, start: str, width: str, at: str = "e.at") -> str:
    return f"({start} + {d.floor_div(f'{at} - {start}', width)} * {width})"


def _key(q: StatsQuery, d: _Dialect) -> str:
    return {"queue": "e.queue", "campaign": d.text("campaign"), "agent": "e.agent_id"}[q.by]


def _campaign_of(d: _Dialect) -> str:
    """The campaign an event is about: its `campaign` field or, for a line of a dialler contact
    that does not carry it (agent_ringing…), the field on an earlier line of the same request
    (attempt_started or contact_previewed always has it). Found by the events_request index."""
    camp = d.text("campaign")
    earlier = (
        f"(SELECT {d.text('campaign', 'c')} FROM events c WHERE c.request_id = e.request_id "
        f"AND {d.text('campaign', 'c')} IS NOT NULL ORDER BY c.id LIMIT 1)"
    )
    return f"(CASE WHEN {camp} IS NOT NULL THEN {camp} WHEN e.request_id LIKE 'dial-%' THEN {earlier} END)"


def _scope(q: StatsQuery, d: _Dialect, agent_column: str = "e.agent_id") -> str:
    """The scope's filter: an event about a dialler campaign or its contact only if that campaign
    is visible (whatever its queue), any other only of visible queues; for agents, only visible
    agents."""
    parts = []
    if q.queues is not None or q.campaigns is not None:
        no = "FALSE" if d.pg else "0"
        queues = d.in_list("e.queue", q.queues) if q.queues is not None else ("TRUE" if d.pg else "1")
        campaign = _campaign_of(d)
        campaigns = d.in_list(campaign, q.campaigns) if q.campaigns is not None else ("TRUE" if d.pg else "1")
        parts.append(
            f"(CASE WHEN {campaign} IS NOT NULL THEN {campaigns} WHEN e.request_id LIKE 'dial-%' THEN {no} "
            f"ELSE {queues} END)"
        )
    if q.agents is not None and q.by == "agent":
        parts.append(d.in_list(agent_column, q.agents))
    return "".join(f" AND {p}" for p in parts)


def _counts_sql(q: StatsQuery, d: _Dialect) -> str:
    start, end, width = d.p(q.start), d.p(q.end), d.p(q.width)
    short = d.p(q.short_abandon)
    camp = d.text("campaign")
    outcome = d.text("outcome")
    kinds: tuple[str, ...]
    if q.by == "campaign":
        kinds = ("dial_attempt",)
        where = f"{camp} IS NOT NULL"
    elif q.by == "queue":
        kinds = ("arrived", "ended", "callback_accepted")
        where = f"e.queue IS NOT NULL AND {camp} IS NULL"
    else:
        kinds = ("agent_ringing",)
        where = "e.agent_id IS NOT NULL"
    kind_list = ", ".join(f"'{k}'" for k in kinds)
    served_cb = (
        "EXISTS (SELECT 1 FROM events c WHERE c.request_id = e.request_id AND c.id < e.id "
        "AND c.kind = 'callback_accepted')"
    )
    ended = "e.kind = 'ended'"
    return f"""
        SELECT {_key(q, d)} AS k, {_bucket(d, start, width)} AS b,
            {d.count_if("e.kind IN ('arrived', 'agent_ringing')")} AS offered,
            {d.count_if(f"{ended} AND {outcome} = 'served'")} AS served,
            {d.count_if(f"{ended} AND {outcome} = 'abandoned'")} AS abandoned,
            {d.count_if(f"{ended} AND {outcome} = 'abandoned' AND {d.num('waited')} < {short}")} AS short_abandoned,
            {d.count_if("e.kind = 'callback_accepted'")} AS callbacks_requested,
            {d.count_if(f"{ended} AND {outcome} = 'served' AND {served_cb}")} AS callbacks_served,
            {d.count_if(f"{ended} AND {outcome} = 'missed'")} AS callbacks_missed,
            {d.count_if(f"{ended} AND {outcome} = 'expired'")} AS callbacks_expired,
            {d.count_if(f"{ended} AND {outcome} = 'removed'")} AS callbacks_removed,
            {d.count_if(f"{ended} AND {outcome} = 'ticket'")} AS tickets,
            {d.count_if(f"{ended} AND {outcome} = 'closed'")} AS closed,
            {d.count_if(f"{ended} AND {outcome} = 'dropped'")} AS dropped,
            {d.count_if("e.kind = 'dial_attempt'")} AS dial_attempts,
            {d.count_if(f"e.kind = 'dial_attempt' AND {outcome} = 'answered'")} AS dial_connects,
            {d.count_if(f"e.kind = 'dial_attempt' AND ({d.true('abandoned')} OR {outcome} = 'abandoned')")}
                AS dial_abandoned
        FROM events e
        WHERE e.kind IN ({kind_list}) AND e.at >= {start} AND e.at < {end} AND {where}{_scope(q, d)}
        GROUP BY 1, 2
    """


def _moves_sql(q: StatsQuery, d: _Dialect) -> str:
    """Callbacks moved between queues (by queue only): out of `from_queue`, into `to_queue`, each
    counted for the queue it names (and seen by who sees that queue)."""
    start, end, width = d.p(q.start), d.p(q.end), d.p(q.width)
    sides = []
    for side, out in (("from_queue", 1), ("to_queue", 0)):
        queue = d.text(side)
        scope = "" if q.queues is None else f" AND {d.in_list(queue, q.queues)}"
        sides.append(
            f"SELECT {queue} AS k, {_bucket(d, start, width)} AS b, {out} AS mv_out, {1 - out} AS mv_in "
            f"FROM events e WHERE e.kind = 'moved' AND e.at >= {start} AND e.at < {end} AND {queue} IS NOT NULL"
            f"{scope}"
        )
    return f"SELECT k, b, sum(mv_in), sum(mv_out) FROM ({' UNION ALL '.join(sides)}) m GROUP BY k, b"


def _connected_sql(q: StatsQuery, d: _Dialect) -> str:
    """Answered calls with speed of answer (avg, p90), handle time and SLA, per key and bucket."""
    start, end, width = d.p(q.start), d.p(q.end), d.p(q.width)
    camp = d.text("campaign")
    where = {"queue": f"e.queue IS NOT NULL AND {camp} IS NULL", "campaign": f"{camp} IS NOT NULL"}.get(
        q.by, "e.agent_id IS NOT NULL"
    )
    targets = "CAST(NULL AS float8)" if d.pg else "NULL"
    if q.sla_targets:
        cases = " ".join(f"WHEN {d.p(name)} THEN {d.p(float(t))}" for name, t in sorted(q.sla_targets.items()))
        targets = f"CASE e.queue {cases} END"
    handle_end = (
        "(SELECT min(x.at) FROM events x WHERE x.request_id = e.request_id AND x.id > e.id "
        "AND x.kind IN ('ended', 'requeued'))"
    )
    if d.pg:
        p90 = "percentile_disc(0.9) WITHIN GROUP (ORDER BY net_wait)"
        ranked = ""
    else:  # nearest rank by a window: the ceil(0.9 n)-th smallest net wait of the group
        # Lines without a net wait (by agent: a dialler call's) are ranked apart, as
        # percentile_disc leaves NULLs out: ranked with the waits, a NULL came first and moved the pick.
        p90 = "max(CASE WHEN rn = (9 * n + 9) / 10 THEN net_wait END)"
        ranked = (
            ", row_number() OVER (PARTITION BY k, b, net_wait IS NULL ORDER BY net_wait) AS rn,"
            " count(net_wait) OVER (PARTITION BY k, b) AS n"
        )
    return f"""
        WITH conn AS (
            SELECT {_key(q, d)} AS k, {_bucket(d, start, width)} AS b,
                {d.num("net_wait")} AS net_wait, {d.num("gross_wait")} AS gross_wait,
                CASE WHEN {d.true("within_sla")} THEN 1 ELSE 0 END AS sla_ok,
                {targets} AS target,
                {handle_end} - e.at AS handle
            FROM events e
            WHERE e.kind = 'connected' AND e.at >= {start} AND e.at < {end} AND {where}{_scope(q, d)}
        ), ranked AS (SELECT conn.*{ranked} FROM conn)
        SELECT k, b, count(*) AS answered, avg(net_wait) AS asa, {p90} AS asa_p90,
            avg(gross_wait) AS gross_wait_avg, avg(handle) AS handle_avg,
            sum(sla_ok) AS sla_ok, count(net_wait) AS judged,
            sum(CASE WHEN gross_wait <= target THEN 1 ELSE 0 END) AS gross_ok,
            count(CASE WHEN gross_wait IS NOT NULL THEN target END) AS gross_judged
        FROM ranked GROUP BY k, b
    """


def _occupancy_sql(q: StatsQuery, d: _Dialect) -> str:
    """Seconds logged in and busy per agent and bucket, from agent_state intervals clipped to buckets."""
    start, end, width = d.p(q.start), d.p(q.end), d.p(q.width)
    agents = "" if q.agents is None else f" AND {d.in_list('e.agent_id', q.agents)}"
    if d.pg:
        buckets = f"SELECT generate_series(0, {d.floor_div(f'{end} - {start} - 1e-9', width)}::bigint) AS i"
    else:
        buckets = f"SELECT 0 AS i UNION ALL SELECT i + 1 FROM buckets WHERE {start} + (i + 1) * {width} < {end}"
    busy = ", ".join(f"'{s}'" for s in BUSY_STATES)
    lo, hi = f"{start} + bk.i * {width}", f"{start} + (bk.i + 1) * {width}"
    overlap = f"({d.least('iv.e', hi)} - {d.greatest('iv.s', lo)})"
    return f"""
        WITH RECURSIVE buckets AS ({buckets}),
        st AS (
            SELECT e.agent_id AS agent, e.at, {d.text("state")} AS state, {d.text("previous")} AS prev,
                lead(e.at) OVER (PARTITION BY e.agent_id ORDER BY e.at, e.id) AS next_at,
                row_number() OVER (PARTITION BY e.agent_id ORDER BY e.at, e.id) AS rn
            FROM events e
            WHERE e.kind = 'agent_state' AND e.at >= {start} AND e.at < {end} AND e.agent_id IS NOT NULL{agents}
        ), iv AS (
            SELECT agent, at AS s, coalesce(next_at, {end}) AS e, state FROM st
            UNION ALL SELECT agent, {start}, at, prev FROM st WHERE rn = 1
        ), ix AS (
            SELECT agent, s, e, state, {d.floor_div(f"iv.s - {start}", width)} AS i0,
                {d.floor_div(f"iv.e - {start}", width)} AS i1
            FROM iv WHERE state IS NOT NULL AND state <> 'logged_off' AND e > s
        )
        SELECT agent, {start} + i0 * {width} AS b, sum(e - s) AS logged,
            sum(CASE WHEN state IN ({busy}) THEN e - s ELSE 0 END) AS busy,
            sum(CASE WHEN state = 'wrap_up' THEN e - s ELSE 0 END) AS wrap
        FROM ix WHERE i0 = i1 GROUP BY 1, 2
        UNION ALL
        SELECT iv.agent, {lo}, sum({overlap}), sum(CASE WHEN iv.state IN ({busy}) THEN {overlap} ELSE 0 END),
            sum(CASE WHEN iv.state = 'wrap_up' THEN {overlap} ELSE 0 END)
        FROM ix iv JOIN buckets bk ON bk.i BETWEEN iv.i0 AND iv.i1
        WHERE iv.i0 <> iv.i1 AND {overlap} > 0 GROUP BY 1, 2
    """


def _wrap_by_queue_sql(q: StatsQuery, d: _Dialect) -> str:
    """Wrap-up seconds per queue and bucket: each wrap_up interval of an agent belongs to the queue
    of the call the agent was last connected to before it began (state lines carry no queue); after
    a campaign's call it belongs to no queue."""
    start, end, width = d.p(q.start), d.p(q.end), d.p(q.width)
    if d.pg:
        buckets = f"SELECT generate_series(0, {d.floor_div(f'{end} - {start} - 1e-9', width)}::bigint) AS i"
    else:
        buckets = f"SELECT 0 AS i UNION ALL SELECT i + 1 FROM buckets WHERE {start} + (i + 1) * {width} < {end}"
    lo, hi = f"{start} + bk.i * {width}", f"{start} + (bk.i + 1) * {width}"
    overlap = f"({d.least('iv.e', hi)} - {d.greatest('iv.s', lo)})"
    last_queue = (
        f"(SELECT CASE WHEN {d.text('campaign', 'x')} IS NULL THEN x.queue END FROM events x"
        " WHERE x.kind = 'connected' AND x.agent_id = w.agent AND x.at <= w.s ORDER BY x.at DESC, x.id DESC LIMIT 1)"
    )
    scope = "" if q.queues is None else f" WHERE {d.in_list('wq.queue', q.queues)}"
    return f"""
        WITH RECURSIVE buckets AS ({buckets}),
        st AS (
            SELECT e.agent_id AS agent, e.at, {d.text("state")} AS state, {d.text("previous")} AS prev,
                lead(e.at) OVER (PARTITION BY e.agent_id ORDER BY e.at, e.id) AS next_at,
                row_number() OVER (PARTITION BY e.agent_id ORDER BY e.at, e.id) AS rn
            FROM events e
            WHERE e.kind = 'agent_state' AND e.at >= {start} AND e.at < {end} AND e.agent_id IS NOT NULL
        ), w AS (
            SELECT agent, at AS s, coalesce(next_at, {end}) AS e FROM st WHERE state = 'wrap_up'
            UNION ALL SELECT agent, {start}, at FROM st WHERE rn = 1 AND prev = 'wrap_up'
        ), wq AS (
            SELECT {last_queue} AS queue, w.s, w.e FROM w WHERE w.e > w.s
        ), iv AS (SELECT * FROM wq{scope})
        SELECT iv.queue, {lo}, sum({overlap})
        FROM iv JOIN buckets bk ON {lo} < iv.e AND {hi} > iv.s
        WHERE iv.queue IS NOT NULL GROUP BY 1, 2
    """


# PostgreSQL: reports run one at a time per store. They read on the store's pool (a few
# connections), which the engine's commits need too: a month's report holds its connection for
# seconds, and as many reports as the pool has connections would stall every call.
_PG_REPORTS: weakref.WeakKeyDictionary[Store, asyncio.Semaphore] = weakref.WeakKeyDictionary()


async def _fetch(store: Store, build: Any, q: StatsQuery) -> list[Sequence[Any]]:
    from app.store.sqlite import SQLiteStore, translate

    if isinstance(store, SQLiteStore):
        d = _Dialect(postgres=False)
        sql = build(q, d)
        if store.path == ":memory:":  # nothing else can see it: read on the store's own connection
            async with store._transaction("DEFERRED") as db, db.execute(sql, d.params) as cur:
                return list(await cur.fetchall())
        # Its own read-only connection: a report takes up to a few hundred ms (seconds for a month)
        # and must not hold the store's lock, which every engine commit waits for. WAL readers
        # never block the writer.
        try:
            async with (
                aiosqlite.connect(f"{Path(store.path).resolve().as_uri()}?mode=ro", uri=True) as db,
                db.execute(sql, d.params) as cur,
            ):
                return list(await cur.fetchall())
        except sqlite3.Error as e:
            raise translate(e, store.path, store.busy_timeout) from e
    d = _Dialect(postgres=True)
    sql = build(q, d)
    async with (
        _PG_REPORTS.setdefault(store, asyncio.Semaphore(1)),
        store._transaction() as conn,  # type: ignore[attr-defined]
    ):
        return list(await conn.fetch(sql, *d.params))


def _pruned_sql(q: StatsQuery, d: _Dialect) -> str:
    return f"SELECT max({d.num('before')}) FROM events e WHERE e.kind = 'history_pruned'"


async def pruned_before(store: Store) -> float | None:
    """The latest cut of the history keeper (app/telephony/history.py logs each as
    `history_pruned`): events before it are gone, but for an active request's, so figures of a
    range that starts before it are missing what went. None: nothing was ever pruned."""
    rows = await _fetch(store, _pruned_sql, StatsQuery(start=0.0, end=1.0, width=1.0))
    return None if not rows or rows[0][0] is None else float(rows[0][0])


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if not whole or part is None else round(part / whole, 4)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


async def statistics(store: Store, q: StatsQuery) -> list[dict[str, Any]]:
    """One row per (key, bucket) that has anything, ordered by key then bucket; see COLUMNS."""
    if q.by == "campaign" and q.campaigns is not None and not q.campaigns:
        return []
    counts = await _fetch(store, _counts_sql, q)
    connected = await _fetch(store, _connected_sql, q)
    occupancy = await _fetch(store, _occupancy_sql, q) if q.by == "agent" else []
    wrap = await _fetch(store, _wrap_by_queue_sql, q) if q.by == "queue" else []
    moves = await _fetch(store, _moves_sql, q) if q.by == "queue" else []
    # Off the event loop: a quarter by agent per 15 min is hundreds of thousands of rows, seconds
    # of Python during which the calls (on this loop) would wait.
    return await asyncio.to_thread(_merge, q, counts, connected, occupancy, wrap, moves)


def _merge(
    q: StatsQuery,
    counts: list[Sequence[Any]],
    connected: list[Sequence[Any]],
    occupancy: list[Sequence[Any]],
    wrap: list[Sequence[Any]],
    moves: list[Sequence[Any]],
) -> list[dict[str, Any]]:
    rows: dict[tuple[str, float], dict[str, Any]] = {}

    def row(key: Any, bucket: Any) -> dict[str, Any]:
        k = (str(key), float(bucket))
        if k not in rows:
            rows[k] = {c: 0 for c in COLUMNS} | {"key": k[0], "bucket": k[1]}
            for c in (
                "asa",
                "asa_p90",
                "gross_wait_avg",
                "handle_avg",
                "sla_net",
                "sla_gross",
                "occupancy",
                "wrap_up_avg",
            ):
                rows[k][c] = None
            rows[k]["_sla"] = (0, 0, 0, 0)
        return rows[k]

    for r in counts:
        target = row(r[0], r[1])
        values = dict(
            zip(
                (
                    "offered",
                    "served",
                    "abandoned",
                    "short_abandoned",
                    "callbacks_requested",
                    "callbacks_served",
                    "callbacks_missed",
                    "callbacks_expired",
                    "callbacks_removed",
                    "tickets",
                    "closed",
                    "dropped",
                    "dial_attempts",
                    "dial_connects",
                    "dial_abandoned",
                ),
                (int(v) for v in r[2:]),
                strict=True,
            )
        )
        target.update(values)
    for r in connected:
        target = row(r[0], r[1])
        target["answered"] = int(r[2])
        target["asa"], target["asa_p90"] = _round(r[3]), _round(r[4])
        target["gross_wait_avg"], target["handle_avg"] = _round(r[5]), _round(r[6])
        target["_sla"] = (int(r[7] or 0), int(r[8] or 0), int(r[9] or 0), int(r[10] or 0))
    for r in occupancy:
        target = row(r[0], r[1])
        target["logged_in_seconds"] = round(float(target["logged_in_seconds"]) + float(r[2] or 0), 3)
        target["busy_seconds"] = round(float(target["busy_seconds"]) + float(r[3] or 0), 3)
        target["wrap_up_seconds"] = round(float(target["wrap_up_seconds"]) + float(r[4] or 0), 3)
    for r in wrap:
        target = row(r[0], r[1])
        target["wrap_up_seconds"] = round(float(r[2] or 0), 3)
    for r in moves:
        target = row(r[0], r[1])
        target["moved_in"], target["moved_out"] = int(r[2]), int(r[3])
    out = []
    for key in sorted(rows):
        f = rows[key]
        sla_ok, judged, gross_ok, gross_judged = f.pop("_sla")
        f["sla_net"] = _ratio(sla_ok, judged) if q.by != "campaign" else None
        f["sla_gross"] = _ratio(gross_ok, gross_judged)
        # Short abandons are left out of the abandon rate: they are not the service's failure.
        f["abandon_rate"] = _ratio(f["abandoned"] - f["short_abandoned"], f["offered"] - f["short_abandoned"])
        f["occupancy"] = _ratio(f["busy_seconds"], f["logged_in_seconds"])
        # Per handled call: wrap-up after a call answered in an earlier bucket still counts here.
        f["wrap_up_avg"] = (
            _round(f["wrap_up_seconds"] / f["answered"]) if f["answered"] and q.by != "campaign" else None
        )
        f["dial_abandon_rate"] = _ratio(f["dial_abandoned"], f["dial_connects"] + f["dial_abandoned"])
        out.append(f)
    return out
