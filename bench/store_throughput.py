"""Engine steps per second with SQLite and with PostgreSQL as the store, per core (issue 18).

`python -m bench store` (or `make bench-store`). An operator sizing a deployment asks how many
engine events one node sustains, and what PostgreSQL (needed for active/standby) costs against
SQLite. This measures the service's own path, without Asterisk: the real engine and the real
committer (commit before act, group commit) on a real store.

- The events: the simulator (app/sim) runs a busy inbound day on the real core (100 agents,
  callbacks offered and taken, callers hanging up) and the events it fed the engine are kept.
- Each store replays them through a fresh engine, exactly as the service feeds it: every event's
  step (touched requests, activities, agent states) is put to the Committer, which stores steps
  in group commits and only then hands over their commands (to nothing here: no Asterisk). The
  loop yields to the committer after every event, as the service's event loop does between ARI
  events, so batches form only from steps that queue up while a commit is in flight.
- Figures: events per second of wall time until the last step is stored; the service process's
  CPU per event (engine, committer, driver threads); for PostgreSQL also the server's CPU
  (its processes' utime + stime from /proc), so "per core" counts both sides.

SQLite runs with synchronous=FULL (WAL, an fsync per commit), PostgreSQL with its defaults
(fsync on, synchronous_commit on). The figures are this machine's, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.core import events as ev
from app.core.engine import Engine
from app.sim.scenario import Dist, Scenario
from app.sim.simulator import Simulator
from app.telephony.committer import Committer, step_of
from app.telephony.metrics import Metrics
from bench.machine import machine

ROOT = Path(__file__).resolve().parents[1]
SERVICE_MS_PER_CALL = 10.0  # Holdfast's own CPU per call, docs/bench-queue.md (0.97-1.24 s per 100 calls)


def scenario(hours: float) -> Scenario:
    from app.core.settings import CallbackSettings

    return Scenario(
        name="store-throughput",
        seed=7,
        agents=100,
        calls_per_hour=1500.0,
        horizon=hours * 3600.0,
        handle_time=Dist("exponential", 220.0),
        patience=Dist("exponential", 240.0),
        wrap_up=10.0,
        callback=CallbackSettings(enabled=True, offer_threshold=60.0, min_wait_before_offer=30.0),
        callback_accept=0.3,
    )


class Recorder(Simulator):
    """The simulator, keeping every event it feeds the engine."""

    def __init__(self, sc: Scenario) -> None:
        super().__init__(sc)
        self.fed: list[ev.Event] = []

    def _feed(self, event: ev.Event) -> None:
        self.fed.append(event)
        super()._feed(event)


def postgres_cpu() -> float:
    """CPU seconds (user + system) of every process named postgres on this machine."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name.startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


@dataclass
class Result:
    backend: str
    events: int
    seconds: float
    service_cpu: float
    server_cpu: float
    transactions: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    @property
    def per_core_second(self) -> float:
        return self.events / (self.service_cpu + self.server_cpu)


async def replay(backend: str, dsn: str, sc: Scenario, events: list[ev.Event]) -> Result:
    schema = None
    if backend == "sqlite":
        from app.store.sqlite import SQLiteStore

        tmp = tempfile.mkdtemp(prefix="holdfast-bench-store-")
        store = SQLiteStore(str(Path(tmp) / "holdfast.db"))
    else:
        from app.store.postgres import PostgresStore

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        store = PostgresStore(dsn, schema=schema)  # type: ignore[assignment]
    await store.open()
    try:
        engine = Engine(sc.core_settings("sim"))
        transactions = 0
        real_commit_many = store.commit_many
        real_commit = store.commit

        async def counted_many(changes):  # type: ignore[no-untyped-def]
            nonlocal transactions
            transactions += 1
            return await real_commit_many(changes)

        async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal transactions
            transactions += 1
            return await real_commit(*args, **kwargs)

        store.commit_many = counted_many  # type: ignore[method-assign]
        store.commit = counted  # type: ignore[method-assign]
        failures: list[str] = []
        committer = Committer(store, lambda commands: None, lambda reason, error: failures.append(reason), Metrics())
        committer.start()
        server_before, cpu_before, started = postgres_cpu(), time.process_time(), time.perf_counter()
        for event in events:
            committer.put(step_of(engine, engine.handle(event)))
            await asyncio.sleep(0)  # the service's loop runs other tasks between events
        await committer.wait_committed()
        seconds = time.perf_counter() - started
        service_cpu, server_cpu = time.process_time() - cpu_before, postgres_cpu() - server_before
        await committer.stop()
        if failures:
            raise RuntimeError(f"the committer failed: {failures}")
        return Result(backend, len(events), seconds, service_cpu, server_cpu if backend == "postgres" else 0.0,
                      transactions)  # fmt: skip
    finally:
        await store.close()
        if schema is not None:
            from app.store.postgres import drop_schema

            await drop_schema(dsn, schema)


def report(results: list[Result], sc: Scenario, recorded: int, callers: int) -> str:
    lines = [
        "# Engine throughput by store: SQLite and PostgreSQL",
        "",
        f"Written by `make bench-store` (`python -m bench store`) on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        "",
        f"What runs: the simulator plays a busy inbound day on the real core ({sc.agents} agents, "
        f"{sc.calls_per_hour:.0f} calls/h for {sc.horizon / 3600:.1f} h, callbacks offered after 60 s and "
        "taken by 30 %, "
        f"callers hanging up), and the {recorded:,} events it fed the engine are replayed through a fresh engine "
        "and the real Committer (commit before act, group commit) on each store, with no Asterisk. The replay "
        "yields to the committer after each event, as the service's loop does between ARI events. CPU is the "
        "service process's (engine, committer, driver threads) plus, for PostgreSQL, its server processes'. "
        "SQLite: WAL, synchronous=FULL. PostgreSQL: defaults (fsync, synchronous_commit on), local.",
        "",
        "| store | events | wall s | events/s | service CPU s | server CPU s | events per CPU-second "
        "| steps per transaction |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.events:,} | {r.seconds:.1f} | {r.per_second:,.0f} | {r.service_cpu:.1f} | "
            f"{r.server_cpu:.1f} | {r.per_core_second:,.0f} | {r.events / max(1, r.transactions):.1f} |"
        )
    by = {r.backend: r for r in results}
    if "sqlite" in by and "postgres" in by:
        s, p = by["sqlite"], by["postgres"]
        lines += [
            "",
            f"PostgreSQL / SQLite, same run: events/s {p.per_second / s.per_second:.2f}x, "
            f"events per CPU-second {p.per_core_second / s.per_core_second:.2f}x.",
        ]
    per_call = recorded / max(1, callers)
    lines += [
        "",
        f"Sizing: this day's {callers:,} callers cost {per_call:.1f} engine events each (arrival, ring, answer, "
        "hang-ups, wrap-up end, offers, timers). Engine and store CPU per call:",
        "",
    ]
    for r in results:
        lines.append(f"- {r.backend}: {1000 * per_call / r.per_core_second:.2f} ms per call")
    lines += [
        "",
        f"The whole service costs about {SERVICE_MS_PER_CALL:.0f} ms of CPU per call in the queue benchmark "
        "(docs/bench-queue.md: ARI events and REST calls included), so the engine and its store are a small "
        "part of a node's load, and the choice of PostgreSQL (needed for active/standby) over SQLite changes "
        "a node's capacity by a few per cent at most. The first limit of a 2-core node is Asterisk's media "
        "(docs/bench-scale.md). The machine is shared with other work while this runs, so wall-clock figures "
        "vary more than CPU per event.",
    ]
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace) -> list[Result]:
    sc = scenario(args.hours)
    recorder = Recorder(sc)
    recorder.run()
    events = recorder.fed
    print(f"recorded {len(events):,} engine events")
    results = []
    backends = [("sqlite", "")] + ([("postgres", args.postgres)] if args.postgres else [])
    for backend, dsn in backends:
        result = await replay(backend, dsn, sc, events)
        print(f"{backend}: {result.per_second:,.0f} events/s, {result.per_core_second:,.0f} per CPU-second")
        results.append(result)
    text = report(results, sc, len(events), len(recorder.callers))
    if not args.no_write:
        (ROOT / "docs" / "bench-store.md").write_text(text)
        (ROOT / "docs" / "bench-store.json").write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n")
    print(text)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench store")
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours of arrivals")
    parser.add_argument("--postgres", default=os.environ.get("HOLDFAST_TEST_POSTGRES_DSN", ""), help="a DSN")
    parser.add_argument("--no-write", action="store_true", help="print only (tests)")
    args = parser.parse_args(argv)
    asyncio.run(run(args))
    return 0
