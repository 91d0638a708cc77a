"""`python -m bench.stats [--days 30] [--agents 100] [--postgres DSN]`: how fast the statistics are
on a month of a 100-agent centre's event log (about 1 M lines), on SQLite and PostgreSQL.

The log is generated, seeded, in the core's event kinds and shapes (see app/store/stats.py): each
day agents log in around 08:00 and out around 17:00; callers arrive in three queues and go to the
agent free first (an M/G/c queue with patience: a caller whose wait passes their patience
abandons, some of those ask for a callback); a power campaign dials through the day. It is not a
simulation of the engine (that is app/sim): only its volume and shape matter here.

Prints a Markdown table of the median time of a day's report (and a month's, by day) per
dimension and interval; docs/statistics.md carries the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import sqlite3
import statistics as pystats
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.store.stats import StatsQuery, statistics

DAY = 86400.0
EPOCH = 1_801_612_800.0  # a Monday, 00:00 UTC
QUEUES = (("support", 0.5, 20.0), ("sales", 0.3, 30.0), ("billing", 0.2, 20.0))
Row = tuple[float, str, str | None, str | None, str | None, str]


def _j(**data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def generate(days: int, agents: int, seed: int = 16) -> Iterator[Row]:
    """(at, kind, request_id, agent_id, queue, data) rows, roughly in time order per day."""
    rnd = random.Random(seed)
    seq = 0
    for day in range(days):
        base = EPOCH + day * DAY
        rows: list[Row] = []
        free: list[tuple[float, str]] = []
        for a in range(agents):
            agent = f"a{a:03d}"
            login = base + 8 * 3600 + rnd.uniform(-900, 900)
            rows.append((login, "agent_state", None, agent, None, _j(state="ready", previous="logged_off")))
            logout = base + 17 * 3600 + rnd.uniform(-900, 900)
            rows.append((logout, "agent_state", None, agent, None, _j(state="logged_off", previous="ready")))
            heapq.heappush(free, (login, agent))
        t = base + 8 * 3600
        while t < base + 17 * 3600:
            t += rnd.expovariate(4400 / (9 * 3600))  # ~4400 calls a day
            seq += 1
            req = f"r{seq}"
            queue, _, sla = rnd.choices(QUEUES, weights=[w for _, w, _ in QUEUES])[0]
            rows.append((t, "arrived", req, None, queue, _j(caller=f"+45{rnd.randrange(10**8):08d}", position=1)))
            free_at, agent = free[0]
            wait = max(0.0, free_at - t)
            patience = rnd.expovariate(1 / 240)
            if wait > patience:
                rows.append((t + patience, "ended", req, None, queue, _j(outcome="abandoned", waited=patience)))
                if rnd.random() < 0.3:  # some ask for a callback instead (web, or a later call)
                    seq += 1
                    cb = f"r{seq}"
                    at = t + patience + 5
                    rows.append((at, "arrived", cb, None, queue, _j(caller="+4520000000", channel="web")))
                    rows.append((at, "callback_accepted", cb, None, queue, _j(number="+4520000000")))
                    end = rnd.choices(("served", "missed", "expired", "removed"), (70, 15, 10, 5))[0]
                    done = at + rnd.uniform(600, 5400)
                    if end == "served":  # an agent called back (the agents' own timeline is not modelled)
                        by = f"a{rnd.randrange(agents):03d}"
                        net = rnd.uniform(1, 30)
                        data = _j(gross_wait=done - at, net_wait=net, within_sla=net <= sla)
                        rows.append((done, "connected", cb, by, queue, data))
                        rows.append((done + rnd.lognormvariate(5.0, 0.5), "ended", cb, by, queue, _j(outcome=end)))
                    else:
                        rows.append((done, "ended", cb, None, queue, _j(outcome=end)))
                continue
            heapq.heappop(free)
            start = t + wait
            talk = rnd.lognormvariate(5.3, 0.6)  # median ~200 s
            wrap = rnd.uniform(10, 60)
            rows += [
                (start - 4, "agent_ringing", req, agent, queue, _j(agent=agent)),
                (start - 4, "agent_state", None, agent, None, _j(state="ringing", previous="ready")),
                (start, "connected", req, agent, queue, _j(gross_wait=wait, net_wait=wait, within_sla=wait <= sla)),
                (start, "agent_state", None, agent, None, _j(state="busy", previous="ringing")),
                (start + talk, "ended", req, agent, queue, _j(outcome="served")),
                (start + talk, "agent_state", None, agent, None, _j(state="wrap_up", previous="busy")),
                (start + talk + wrap, "agent_state", None, agent, None, _j(state="ready", previous="wrap_up")),
            ]
            heapq.heappush(free, (start + talk + wrap, agent))
        for _ in range(1500):  # a power campaign's dials through the day
            at = base + rnd.uniform(9 * 3600, 16 * 3600)
            outcome = rnd.choices(("answered", "no_answer", "busy", "machine", "abandoned"), (30, 40, 10, 15, 5))[0]
            seq += 1
            rows.append(
                (
                    at,
                    "dial_attempt",
                    f"d{seq}",
                    None,
                    "outbound",
                    _j(campaign="outbound", outcome=outcome, abandoned=outcome == "abandoned", attempt=1),
                )
            )
        rows.sort(key=lambda r: r[0])
        yield from rows


async def _open(dsn: str | None, path: Path) -> Any:
    if dsn:
        from app.store.postgres import PostgresStore

        store: Any = PostgresStore(dsn, schema="holdfast_bench_stats")
    else:
        from app.store.sqlite import SQLiteStore

        store = SQLiteStore(path)
    await store.open()
    return store


async def load(dsn: str | None, path: Path, days: int, agents: int) -> tuple[int, float]:
    started = time.perf_counter()
    rows = list(generate(days, agents))
    if dsn:
        import asyncpg  # type: ignore[import-untyped]

        from app.store.postgres import drop_schema

        await drop_schema(dsn, "holdfast_bench_stats")
        store = await _open(dsn, path)
        await store.close()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.copy_records_to_table(
                "events",
                schema_name="holdfast_bench_stats",
                columns=("at", "kind", "request_id", "agent_id", "queue", "data"),
                records=rows,
            )
            await conn.execute("ANALYZE holdfast_bench_stats.events")
        finally:
            await conn.close()
    else:
        store = await _open(None, path)
        await store.close()
        db = sqlite3.connect(path)
        with db:
            db.executemany(
                "INSERT INTO events (at, kind, request_id, agent_id, queue, data) VALUES (?,?,?,?,?,?)", rows
            )
        db.execute("ANALYZE")
        db.close()
    return len(rows), time.perf_counter() - started


async def measure(dsn: str | None, path: Path, days: int, runs: int) -> list[tuple[str, str, str, float, int]]:
    store = await _open(dsn, path)
    out = []
    day = EPOCH + (days // 2) * DAY  # a day in the middle of the month
    targets = {q: s for q, _, s in QUEUES}
    try:
        cases = [("day", by, iv, day, day + DAY) for by in ("queue", "agent", "campaign") for iv in ("15m", "1h", "1d")]
        cases.append(("month", "queue", "1d", EPOCH, EPOCH + days * DAY))
        cases.append(("month", "agent", "1d", EPOCH, EPOCH + days * DAY))
        for span, by, iv, start, end in cases:
            width = {"15m": 900.0, "1h": 3600.0, "1d": DAY}[iv]
            q = StatsQuery(start=start, end=end, by=by, width=width, sla_targets=targets)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                rows = await statistics(store, q)
                times.append(time.perf_counter() - t)
            out.append((span, by, iv, pystats.median(times), len(rows)))
    finally:
        await store.close()
    return out


async def run(args: argparse.Namespace) -> None:
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.postgres:
        backends.append(("PostgreSQL", args.postgres))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stats.db"
        for name, dsn in backends:
            n, took = await load(dsn, path, args.days, args.agents)
            print(f"\n{name}: {n} events ({args.days} days, {args.agents} agents) loaded in {took:.1f} s")
            if dsn is None:
                print(f"database file: {os.path.getsize(path) / 2**20:.0f} MiB")
            print(f"\n| range | by | interval | rows | median of {args.runs} (ms) |\n| --- | --- | --- | ---: | ---: |")
            for span, by, iv, median, rows in await measure(dsn, path, args.days, args.runs):
                print(f"| {span} | {by} | {iv} | {rows} | {median * 1000:.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stats", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("HOLDFAST_TEST_POSTGRES_DSN"), help="a PostgreSQL DSN")
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
