"""`python -m bench.contact_import [--rows N] [--out docs/contacts-import.md]`: how fast a contacts CSV
is streamed into the store, SQLite and (when HOLDFAST_TEST_POSTGRES_DSN is set) PostgreSQL.

The file has N rows of Danish numbers with a name, a time zone on some, a priority and two free
fields; 1 % are invalid numbers and 2 % repeat an earlier number (merged). Each backend imports
it into a fresh database, then the same file again (every row a merge). Peak memory is the growth
of the process's maximum resident size during the first import (the file itself is on disk); the
first backend's figure is the telling one (later ones start from the peak of those before).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from app.core.settings import EligibilityRules
from app.store import Store
from app.store.contact_import import ImportReport, contact_batches, import_contacts
from bench.machine import machine


def write_csv(path: Path, rows: int, seed: int = 14) -> None:
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write("number,name,timezone,priority,order,city\n")
        for i in range(rows):
            if i % 100 == 7:
                number = f"+4512{i:04d}"  # too short: refused as invalid
            elif i % 50 == 3 and i > 100:
                number = f"+4521{100_000 + i - 1:06d}"  # an earlier row's number: merged
            else:
                number = f"+4521{100_000 + i:06d}"
            tz = "Europe/Copenhagen" if i % 10 == 0 else ""
            f.write(f"{number},Contact {i},{tz},{rnd.randint(0, 5)},A-{i},City {i % 97}\n")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def queries(store: Store) -> dict[str, float]:
    """Median ms of the reads the service and the API make, on the imported campaign with a
    do-not-call list of 1000 numbers (global) and 34 prefixes (the campaign's)."""
    await store.dnc_add(None, [(f"+4521{100_000 + i * 97:06d}", False) for i in range(1000)], 1.0, "bench")
    await store.dnc_add("bench", [(f"+45211{i:02d}", True) for i in range(0, 100, 3)], 1.0, "bench")
    await store.after_import(None)
    now = time.time()
    calls = {
        "contacts_due(20)": lambda: store.contacts_due("bench", now, 20),
        "campaign_figures": lambda: store.campaign_figures("bench", now),
        "list_contacts(offset 50000, 100)": lambda: store.list_contacts("bench", None, 50_000, 100),
    }
    out = {}
    for name, call in calls.items():
        times = []
        for _ in range(7):
            started = time.perf_counter()
            await call()
            times.append(time.perf_counter() - started)
        out[name] = statistics.median(times) * 1000
    return out


async def run(store: Store, path: Path) -> tuple[ImportReport, ImportReport, float, dict[str, float]]:
    rules = EligibilityRules()
    before = max_rss_mb()
    with path.open(encoding="utf-8") as f:
        first = await import_contacts(store, "bench", f, rules, time.time())
    grown = max_rss_mb() - before
    with path.open(encoding="utf-8") as f:
        again = await import_contacts(store, "bench", f, rules, time.time())
    return first, again, grown, await queries(store)


async def backend(name: str, path: Path, workdir: Path) -> tuple[ImportReport, ImportReport, float, dict[str, float]]:
    if name == "sqlite":
        from app.store.sqlite import SQLiteStore

        store: Store = SQLiteStore(workdir / "bench.db")
        await store.open()
        try:
            return await run(store, path)
        finally:
            await store.close()
    from app.store.postgres import PostgresStore, drop_schema

    dsn = os.environ["HOLDFAST_TEST_POSTGRES_DSN"]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    store = PostgresStore(dsn, schema=schema)
    await store.open()
    try:
        return await run(store, path)
    finally:
        await store.close()
        await drop_schema(dsn, schema)


def line(name: str, report: ImportReport, what: str) -> str:
    rate = report.rows / report.seconds if report.seconds else 0.0
    return (
        f"| {name} | {what} | {report.rows:,} | {report.inserted:,} | {report.merged:,} | {report.refused:,} | "
        f"{report.seconds:.1f} s | {rate:,.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.contact_import")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", default=None, help="write the table into this Markdown file's figures section")
    args = parser.parse_args(argv)
    backends = ["sqlite"] + (["postgres"] if os.environ.get("HOLDFAST_TEST_POSTGRES_DSN") else [])
    lines = [
        f"Machine: {machine()}",
        "",
        "| store | import | rows | new | merged | refused | time | rows/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    memory: list[str] = []
    reads: list[str] = []
    read_names: list[str] = []
    contacts = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        write_csv(path, args.rows)
        for name in backends:
            first, again, grown, timed = asyncio.run(backend(name, path, Path(tmp)))
            lines.append(line(name, first, "first"))
            lines.append(line(name, again, "again (all merged)"))
            reads.append(f"| {name} | " + " | ".join(f"{ms:.1f} ms" for ms in timed.values()) + " |")
            read_names = list(timed)
            contacts = first.inserted
            memory.append(f"{name}: peak resident memory grew {grown:.0f} MB during the first import")
        # last, so that its memory does not hide what the imports needed
        started, parsed = time.perf_counter(), ImportReport()
        with path.open(encoding="utf-8") as f:
            for _ in contact_batches(f, EligibilityRules(), parsed):
                pass
        parsed.seconds = time.perf_counter() - started
        lines.append(line("none", parsed, "read and check only"))
    lines += [
        "",
        f"Reads on the imported campaign ({contacts:,} contacts; do-not-call: 1000 numbers, 34 prefixes), median of 7:",
        "",
        "| store | " + " | ".join(read_names) + " |",
        "| --- |" + " ---: |" * len(read_names),
        *reads,
        "",
        *memory,
        f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores, shared)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        doc = out.read_text()
        start, end = "<!-- figures -->", "<!-- /figures -->"
        head, _, rest = doc.partition(start)
        _, _, tail = rest.partition(end)
        out.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
