"""What only the SQLite store does: pragmas, migrations on a file, and turning SQLite's errors into ours."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from app.core.commands import Activity
from app.core.request import Attempt
from app.core.states import RequestState
from app.store import (
    SchemaTooNew,
    StoreBusy,
    StoreCorrupt,
    StoreDataError,
    StoreError,
    StoreFull,
    StoreIOError,
    store_from_dsn,
)
from app.store.migrations import SQLITE_MIGRATIONS
from app.store.sqlite import SQLiteStore
from tests.store.test_contract import make_request


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_an_empty_file_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    path.touch()
    async with SQLiteStore(path) as store:
        assert await store.schema_version() == len(SQLITE_MIGRATIONS)
        db = store._conn()
        async with db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"  # type: ignore[index]
        async with db.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1  # type: ignore[index]
        async with db.execute("PRAGMA synchronous") as cur:
            assert (await cur.fetchone())[0] == 2  # type: ignore[index]  # FULL
    with raw(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {
            "requests",
            "attempts",
            "agent_states",
            "events",
            "admin_log",
            "instance_lock",
            "schema_version",
        } <= tables
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version")] == list(
            range(1, len(SQLITE_MIGRATIONS) + 1)
        )


async def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    async with SQLiteStore(path):
        pass
    with raw(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'future')")
    with pytest.raises(SchemaTooNew, match=r"schema version 99.*knows only up to version \d+.*newer Holdfast"):
        await SQLiteStore(path).open()


async def test_migrations_are_applied_in_order_and_keep_data(tmp_path: Path) -> None:
    path = tmp_path / "upgrade.db"
    async with SQLiteStore(path, migrations=SQLITE_MIGRATIONS) as store:
        await store.save_requests([make_request("r1")])
    more = (*SQLITE_MIGRATIONS, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")
    async with SQLiteStore(path, migrations=more) as store:
        assert await store.schema_version() == len(more)
        assert [r.id for r in await store.load_active_requests()] == ["r1"]


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    async with SQLiteStore(path):
        pass
    broken = (*SQLITE_MIGRATIONS, "CREATE TABLE half (id INTEGER); CREATE TABLE oops (;")
    with pytest.raises(StoreError, match="syntax error"):
        await SQLiteStore(path, migrations=broken).open()
    with raw(path) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == len(SQLITE_MIGRATIONS)
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0


async def test_a_database_failure_midway_through_a_commit_writes_nothing(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "t.db") as store:
        before = make_request("r1")
        await store.commit([before], [Activity("arrived", "r1")])
        db = store._conn()
        await db.execute(
            "CREATE TEMP TRIGGER boom BEFORE INSERT ON attempts WHEN NEW.agent_id = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        changed = dataclasses.replace(before, state=RequestState.RINGING_AGENT, agent_id="a1")
        failing = make_request("r2", place=(0, 1.0, 2), attempts=[Attempt(1, 2.0, "boom")])
        with pytest.raises(StoreDataError, match="injected failure"):
            await store.commit([changed, failing], [Activity("agent_ringing", "r1")])
        assert await store.load_request("r1") == before
        assert await store.load_request("r2") is None
        assert [e.kind for e in await store.events()] == ["arrived"]


async def test_a_database_locked_beyond_the_timeout_raises_store_busy(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with SQLiteStore(path, busy_timeout=0.2) as store:
        holder = raw(path)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreBusy, match=r"busy\.db stayed locked for more than 0\.2 s"):
                await store.commit([make_request("r1")], [])
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await store.commit([make_request("r1")], [])  # free again: works
        assert len(await store.load_active_requests()) == 1


async def test_a_full_disk_raises_store_full_and_writes_nothing(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "full.db") as store:
        await store.save_requests([make_request("r1")])
        db = store._conn()
        async with db.execute("PRAGMA page_count") as cur:
            pages = (await cur.fetchone())[0]  # type: ignore[index]
        await db.execute(f"PRAGMA max_page_count = {pages + 1}")  # the "disk" has one page left
        big = [Activity("arrived", f"x{i}", data={"pad": "x" * 2000}) for i in range(50)]
        with pytest.raises(StoreFull, match="free disk space"):
            await store.commit([make_request("r2", place=(0, 1.0, 2))], big)
        assert [r.id for r in await store.load_active_requests()] == ["r1"]
        assert await store.events() == []


async def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorrupt, match=r"notes\.txt"):
        await SQLiteStore(path).open()


async def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreIOError, match="does not exist"):
        await SQLiteStore(tmp_path / "nowhere" / "h.db").open()


async def test_the_event_log_cannot_be_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with SQLiteStore(path) as store:
        await store.append_events([Activity("arrived", "r1")])
    with raw(path) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET kind = 'forged'")


def test_store_from_dsn(tmp_path: Path) -> None:
    assert isinstance(store_from_dsn(str(tmp_path / "a.db")), SQLiteStore)
    s = store_from_dsn("sqlite:////var/lib/holdfast/h.db", busy_timeout=1.0)
    assert isinstance(s, SQLiteStore) and s.path == "/var/lib/holdfast/h.db" and s.busy_timeout == 1.0
    assert isinstance(store_from_dsn("sqlite:///h.db"), SQLiteStore)
    with pytest.raises(ValueError, match="unknown scheme"):
        store_from_dsn("mysql://x")


def test_synchronous_is_checked() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore("x.db", synchronous="sometimes")


async def test_a_read_cancelled_while_its_begin_is_on_the_thread_leaves_no_transaction_open(tmp_path: Path) -> None:
    """A task cancelled at its BEGIN (a stop cancelling a poller) used to leave the transaction open
    on the shared connection: every later one failed with "cannot start a transaction within a
    transaction" (a service restarted on the same store could not start)."""
    async with SQLiteStore(tmp_path / "holdfast.db") as store:
        for _ in range(20):  # the cancel lands at the BEGIN's await, whatever the thread has done
            reading = asyncio.create_task(store.admin_log())
            await asyncio.sleep(0)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            assert await store.append_admin(1.0, "ops", "check") > 0
