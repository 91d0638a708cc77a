"""API throughput: callbacks created over POST /api/callbacks, each answered only after its commit.

`python -m bench api` (or `make bench-api`). For each store (SQLite always; PostgreSQL when
HOLDFAST_TEST_POSTGRES_DSN or --postgres gives a DSN) and each committer mode (group commit off:
`max_batch=1`, one transaction per step as before issue 13; on: the default bound), it:

- starts the real TelephonyService in-process on the fake ARI of the shell tests (no Asterisk:
  nothing in this path talks to Asterisk; the queue has no agent logged on, so every callback
  stays waiting) with a fresh store, and serves the real API (`app.web.api.make_app`) on a TCP
  port with aiohttp;
- runs the clients in a SEPARATE process (so they do not share the service's event loop): 16
  concurrent keep-alive clients POST distinct eligible numbers (Danish mobiles +4520100000 + i),
  a warm-up first, then the timed requests; a 201 arrives only once its callback is stored
  (app/web/commit.py);
- stops the service, reopens the store from scratch and checks that every request id answered
  201 is there (durability), and reads the committer's batch histogram (steps per transaction).

The figures are throughput on this machine, never asserted; the report names the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import machine

CONCURRENCY = 16
FIRST_NUMBER = 4520100000  # +4520100000 + i: valid Danish mobile numbers, eligible for callbacks


# ------------------------------------------------------------------ the client process


async def _clients(url: str, first: int, warmup: int, count: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    ids: list[str] = []
    failures: dict[str, int] = {}
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def run(indices: range, timed: bool) -> None:
            it = iter(indices)

            async def worker() -> None:
                for i in it:  # shared iterator: each index is taken once
                    body = {"queue": "support", "number": f"+{FIRST_NUMBER + i}"}
                    started = time.perf_counter()
                    async with session.post(f"{url}/api/callbacks", json=body) as resp:
                        answer = await resp.json()
                        if resp.status == 201:
                            ids.append(answer["request_id"])
                            if timed:
                                latencies.append(time.perf_counter() - started)
                        else:
                            key = f"{resp.status} {answer.get('error', '')}"[:120]
                            failures[key] = failures.get(key, 0) + 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await run(range(first, first + warmup), timed=False)
        started, cpu = time.perf_counter(), time.process_time()
        await run(range(first + warmup, first + warmup + count), timed=True)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"ids": ids, "failures": failures, "elapsed": elapsed, "latencies": latencies, "client_cpu": cpu}


def client_main(argv: list[str]) -> int:
    url, first, warmup, count, concurrency = argv[0], *(int(a) for a in argv[1:5])
    print(json.dumps(asyncio.run(_clients(url, first, warmup, count, concurrency))))
    return 0


# ------------------------------------------------------------------ the service side


@dataclass
class RunResult:
    backend: str
    max_batch: int
    requests: int
    elapsed: float
    ok: int
    failures: dict[str, int]
    latencies: list[float]
    transactions: int
    steps: int
    stored: int  # 201'd ids found in the reopened store
    answered: int  # 201'd ids in all (warm-up included)
    missing: list[str] = field(default_factory=list)
    server_cpu: float = 0.0  # the service's process, CPU seconds per wall second of the client run
    client_cpu: float = 0.0  # the clients' process, the same over the timed part

    @property
    def per_second(self) -> float:
        return self.requests / self.elapsed

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def _open_store(backend: str, where: str) -> Any:
    if backend == "sqlite":
        from app.store.sqlite import SQLiteStore

        store: Any = SQLiteStore(where)  # synchronous=FULL, the service's default
    else:
        from app.store.postgres import PostgresStore

        dsn, schema = where.split("#", 1)
        store = PostgresStore(dsn, schema=schema)
    await store.open()
    return store


def _batch_counts(metrics: Any) -> tuple[int, int]:
    """(transactions, steps) from the committer's histogram of steps per group commit."""
    count = total = 0.0
    for family in metrics.registry.collect():
        if family.name == "holdfast_commit_batch_steps":
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    count = sample.value
                elif sample.name.endswith("_sum"):
                    total = sample.value
    return int(count), int(total)


def queues(allow_duplicate_numbers: bool) -> str:
    """The web tests' queues (support and sales take callbacks), optionally allowing duplicates."""
    from tests.web.conftest import CALLBACK_QUEUES

    if not allow_duplicate_numbers:
        return CALLBACK_QUEUES
    return CALLBACK_QUEUES.replace(
        "    wrap_up: 10s\n", "    wrap_up: 10s\n    callback:\n      allow_duplicate_numbers: true\n"
    )


async def run_one(
    backend: str, where: str, max_batch: int, first: int, warmup: int, count: int, allow_duplicates: bool = False
) -> RunResult:
    from aiohttp import web

    from app.web.api import make_app
    from tests.ari.fake_ari import FakeAri
    from tests.telephony.conftest import config_text, make_shell

    store = await _open_store(backend, where)
    async with FakeAri() as fake:
        shell = await make_shell(fake, config_text(fake, queues=queues(allow_duplicates)), store=store)
        assert shell.service.committer is not None
        shell.service.committer.max_batch = max_batch
        shell.service.activity_listeners.clear()  # the tests' activity log: not part of the service
        await shell.start(online=())  # no agent logged on: every callback stays waiting
        runner = web.AppRunner(make_app(shell.service), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.api_throughput",
                "--client",
                f"http://127.0.0.1:{port}",
                str(first),
                str(warmup),
                str(count),
                str(CONCURRENCY),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"the client process failed (exit {proc.returncode})")
            server_cpu = (time.process_time() - cpu) / (time.perf_counter() - wall)
            answer = json.loads(out)
            await shell.service.wait_committed()
            transactions, steps = _batch_counts(shell.service.metrics)
        finally:
            await runner.cleanup()
            await shell.stop()
            await store.close()
    # Durability: a store opened afresh must hold every request the API answered 201 for.
    reopened = await _open_store(backend, where)
    try:
        kept = {r.id for r in await reopened.load_active_requests()}
    finally:
        await reopened.close()
    ids: list[str] = answer["ids"]
    missing = [i for i in ids if i not in kept]
    return RunResult(
        backend=backend,
        max_batch=max_batch,
        requests=count,
        elapsed=float(answer["elapsed"]),
        ok=len(answer["latencies"]),
        failures=answer["failures"],
        latencies=answer["latencies"],
        transactions=transactions,
        steps=steps,
        stored=len(ids) - len(missing),
        answered=len(ids),
        missing=missing[:5],
        server_cpu=server_cpu,
        client_cpu=float(answer["client_cpu"]) / float(answer["elapsed"]),
    )


# ------------------------------------------------------------------ the report


def commit_cost_ms(directory: str, n: int = 300) -> float:
    """A bare SQLite write transaction (WAL, synchronous=FULL: one fsync) on this disk, in ms."""
    import sqlite3

    conn = sqlite3.connect(Path(directory) / "probe.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (a INTEGER)")
        started = time.perf_counter()
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?)", (i,))
            conn.execute("COMMIT")
        return (time.perf_counter() - started) / n * 1000
    finally:
        conn.close()


def report(results: list[RunResult], args: argparse.Namespace, started: dt.datetime, fsync_ms: float) -> str:
    lines = [
        "# API throughput: callbacks over POST /api/callbacks, each answered after its commit",
        "",
        f"Written by `make bench-api` (`python -m bench api`) on {started:%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        "",
        "What runs: the real TelephonyService in-process on the fake ARI of the shell tests "
        "(tests/ari/fake_ari.py; no Asterisk), the real API (app/web) served by aiohttp on a TCP port, "
        f"and {CONCURRENCY} concurrent keep-alive HTTP clients in a separate process. Each client "
        "POSTs a distinct eligible number (+4520100000 + i, Danish mobiles) to queue `support`, "
        "where no agent is logged on, so every callback stays waiting. A 201 is sent only once the "
        f"callback is stored (app/web/commit.py). Per run: {args.warmup} warm-up requests, then "
        f"{args.requests} timed. SQLite runs with synchronous=FULL (an fsync of the WAL per "
        "transaction), PostgreSQL with its defaults (fsync, synchronous_commit on) on a local "
        "throwaway cluster. Group commit off is `Committer(max_batch=1)`: one transaction per "
        "engine step, as before issue 13, on the same store code, so only the batching differs; on "
        "is the default `max_batch` (256). Both modes run in the same invocation, one after the "
        "other, each with a fresh service and store.",
        "",
        f"A bare SQLite write transaction with its fsync costs {fsync_ms:.2f} ms on this disk, and the "
        f"load average was {os.getloadavg()[0]:.2f} at the end (the 2 cores are shared), so the figures "
        "measure the service's CPU per request more than the disk.",
        "",
        "| store | group commit | callbacks/s | p50 ms | p99 ms | steps per transaction | "
        "service CPU | clients CPU | durable (201'd ids in the reopened store) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        mode = "off (max_batch=1)" if r.max_batch == 1 else f"on (max_batch={r.max_batch})"
        per_tx = r.steps / r.transactions if r.transactions else float("nan")
        durable = f"{r.stored}/{r.answered}" + ("" if r.stored == r.answered else f" MISSING e.g. {r.missing}")
        lines.append(
            f"| {r.backend} | {mode} | {r.per_second:,.0f} | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} | "
            f"{per_tx:.1f} | {r.server_cpu:.0%} | {r.client_cpu:.0%} | {durable} |"
        )
    if args.allow_duplicate_numbers:
        lines += [
            "",
            "Variant: `callback.allow_duplicate_numbers: true`, which skips the engine's scan of every "
            "request for a waiting callback to the same number (see the profile).",
        ]
    lines += ["", "Speed-up of group commit (on / off, same run):", ""]
    for backend in dict.fromkeys(r.backend for r in results):
        off = next((r for r in results if r.backend == backend and r.max_batch == 1), None)
        on = next((r for r in results if r.backend == backend and r.max_batch != 1), None)
        if off and on:
            lines.append(
                f"- {backend}: {on.per_second / off.per_second:.2f}x "
                f"({off.per_second:,.0f} -> {on.per_second:,.0f} callbacks/s)"
            )
    failures = {f"{r.backend}/{r.max_batch}: {k}": v for r in results for k, v in r.failures.items()}
    if failures:
        lines += ["", "Requests not answered 201:", ""] + [f"- {k}: {v}" for k, v in failures.items()]
    if not any(r.backend == "postgres" for r in results):
        lines += [
            "",
            "PostgreSQL was not run: no DSN (set HOLDFAST_TEST_POSTGRES_DSN; "
            "`bash scripts/postgres-for-tests.sh` prints one for a throwaway cluster).",
        ]
    goal = next((r for r in results if r.backend == "sqlite" and r.max_batch != 1), None)
    if goal is not None:
        verdict = "reached" if goal.per_second >= 2000 else "NOT reached"
        lines += [
            "",
            f"Goal of issue 13 (>= 2000 callbacks/s with SQLite, group commit on): {verdict} "
            f"({goal.per_second:,.0f}/s).",
        ]
    if args.notes and Path(args.notes).is_file():
        lines += ["", Path(args.notes).read_text().rstrip()]
    return "\n".join(lines) + "\n"


async def run_all(args: argparse.Namespace) -> list[RunResult]:
    from app.store.postgres import drop_schema

    backends: list[tuple[str, str]] = [("sqlite", "")]
    if args.postgres:
        backends.append(("postgres", args.postgres))
    results: list[RunResult] = []
    first = 0
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-api-") as tmp:
        args.fsync_ms = commit_cost_ms(tmp)
        for backend, dsn in backends:
            for max_batch in (1, args.max_batch):
                if backend == "sqlite":
                    where = str(Path(tmp) / f"bench-{max_batch}.db")
                else:
                    where = f"{dsn}#holdfast_bench_{uuid.uuid4().hex[:12]}"
                try:
                    result = await run_one(
                        backend, where, max_batch, first, args.warmup, args.requests, args.allow_duplicate_numbers
                    )
                finally:
                    if backend == "postgres":
                        await drop_schema(dsn, where.split("#", 1)[1])
                first += args.warmup + args.requests  # numbers stay distinct across the whole run
                results.append(result)
                print(
                    f"{backend:8} max_batch={max_batch:<4} {result.per_second:8,.0f} callbacks/s  "
                    f"p50 {result.pct(0.5):6.1f} ms  p99 {result.pct(0.99):6.1f} ms  "
                    f"steps/transaction {result.steps / max(1, result.transactions):6.1f}  "
                    f"cpu service {result.server_cpu:.0%} clients {result.client_cpu:.0%}  "
                    f"durable {result.stored}/{result.answered}",
                    flush=True,
                )
    return results


def main(argv: list[str]) -> int:
    if argv[:1] == ["--client"]:
        return client_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="timed requests per run")
    parser.add_argument("--warmup", type=int, default=400, help="untimed requests before them")
    parser.add_argument("--max-batch", type=int, default=256, help="the committer's bound with group commit on")
    parser.add_argument("--postgres", default=os.environ.get("HOLDFAST_TEST_POSTGRES_DSN", ""), help="a DSN")
    parser.add_argument(
        "--allow-duplicate-numbers",
        action="store_true",
        help="set callback.allow_duplicate_numbers: skips the engine's scan for a waiting callback to the same number",
    )
    parser.add_argument("--out", default="docs/bench-api.md", help="markdown report ('-': stdout only)")
    parser.add_argument("--notes", default="", help="a markdown file appended to the report (e.g. a profile)")
    args = parser.parse_args(argv)

    from app.logs import configure

    configure("warning")  # info lines per request would measure the log, not the service
    started = dt.datetime.now(dt.UTC)
    results = asyncio.run(run_all(args))
    text = report(results, args, started, args.fsync_ms)
    if args.out != "-":
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    lost = [r for r in results if r.stored != r.answered]
    if lost:  # a durability failure is a bug, not a figure
        print("DURABILITY FAILURE: some 201'd callbacks are not in the store", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
