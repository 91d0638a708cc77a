"""The SQLite store: the embedded default, one file next to the service.

Theory of operation:
- One aiosqlite connection in autocommit mode; every write is an explicit `BEGIN IMMEDIATE` …
  `COMMIT`, so the write lock is taken up front (no deadlock upgrading a read to a write) and a
  failure anywhere rolls the whole transaction back. An asyncio lock serializes this store's
  transactions on its one connection.
- WAL journal: readers (the web page, a second Store on the same file) never block the writer.
- synchronous=FULL by default: with WAL, NORMAL is safe against a crash of the service but a power
  loss or kernel crash may lose the last commits, and the promise is "a caller who heard 'we will
  call you back' is never forgotten". FULL fsyncs the WAL at every commit; at a contact centre's
  rate of a few engine steps per second that costs nothing that matters. NORMAL can be chosen
  where the disk cache is battery-backed.
- busy_timeout: another process holding the write lock longer than this raises StoreBusy.
- foreign_keys=ON: attempts cannot outlive their request.
- sqlite3 errors are turned into StoreError subclasses that name the file and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Collection, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from app.core.request import Request
from app.store import codec
from app.store.base import DEFAULT_LIMIT, DEFAULT_LOCK
from app.store.campaign_defs import SQLiteCampaignDefs
from app.store.common import CommitShortcuts, Merged, merge
from app.store.errors import (
    SchemaTooNew,
    StoreBusy,
    StoreCorrupt,
    StoreDataError,
    StoreError,
    StoreFull,
    StoreIOError,
    StoreNotOpen,
)
from app.store.history import SQLiteHistory
from app.store.login_failures import SQLiteLoginFailures
from app.store.migrations import SQLITE_MIGRATIONS, statements
from app.store.outbox import SQLiteOutbox, write_sqlite
from app.store.records import AdminEntry, AgentRecord, Change, LockHolder, StoredEvent
from app.store.sqlite_contacts import SQLiteContacts, write_progress
from app.store.web_sessions import SQLiteRevocations

log = logging.getLogger(__name__)

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

_REQUEST_INSERT = (
    f"INSERT INTO requests ({', '.join(codec.REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in codec.REQUEST_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in codec.REQUEST_COLUMNS if c != "id")
)
_ATTEMPT_INSERT = (
    f"INSERT INTO attempts ({', '.join(codec.ATTEMPT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in codec.ATTEMPT_COLUMNS)})"
)
_EVENT_INSERT = "INSERT INTO events (at, kind, request_id, agent_id, queue, data) VALUES (?, ?, ?, ?, ?, ?)"
_AGENT_UPSERT = (
    f"INSERT INTO agent_states ({', '.join(codec.AGENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in codec.AGENT_COLUMNS)}) "
    "ON CONFLICT (agent_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in codec.AGENT_COLUMNS[1:])
)
_REQUEST_SELECT = f"SELECT {', '.join(codec.REQUEST_COLUMNS)} FROM requests"
_ATTEMPT_SELECT = "SELECT number, started_at, agent_id, outcome, ended_at FROM attempts"


def translate(error: sqlite3.Error, path: str, busy_timeout: float) -> StoreError:
    """Name what went wrong with the database file and what an admin can do about it."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(error)
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return StoreBusy(
            f"database {path} stayed locked for more than {busy_timeout:g} s ({text}); another process "
            "(a second Holdfast, a backup, an sqlite3 shell) holds a write transaction; stop it or raise "
            "store.busy_timeout"
        )
    if primary == sqlite3.SQLITE_FULL:
        return StoreFull(f"database {path} is full ({text}): free disk space on its file system, then retry")
    if code == sqlite3.SQLITE_IOERR_SHMSIZE:
        # SQLite writes every new page of the -shm file to get it allocated; on a full disk that
        # write fails (at an open, or as the WAL grows) and SQLite says only "disk I/O error".
        return StoreFull(
            f"database {path} is full ({text}: its {path}-shm file could not grow): free disk space on its "
            "file system, then retry"
        )
    if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return StoreIOError(
            f"cannot read or write database {path} ({text}): check that the disk is healthy and mounted "
            "read-write and that the service's user may write the file and its directory"
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreCorrupt(f"database {path} is damaged or not a SQLite database ({text}); restore it from a backup")
    if isinstance(error, sqlite3.IntegrityError):
        return StoreDataError(f"database {path} refused the data ({text})")
    return StoreError(f"database {path}: {text}")


def _write_changes(conn: sqlite3.Connection, rows: Merged, path: str) -> None:
    """One write transaction, on the connection's thread: all of `rows` or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Rows are built inside the transaction on purpose: a value that cannot be stored aborts
        # the whole commit, including what was already written of it.
        if rows.requests:
            conn.executemany(_REQUEST_INSERT, [codec.request_row(r) for r in rows.requests])
            conn.executemany("DELETE FROM attempts WHERE request_id = ?", [(codec.text(r.id),) for r in rows.requests])
            attempts = [a for r in rows.requests for a in codec.attempt_rows(r)]
            if attempts:
                conn.executemany(_ATTEMPT_INSERT, attempts)
        if rows.agents:
            conn.executemany(_AGENT_UPSERT, [codec.agent_row(a) for a in rows.agents])
        if rows.activities:
            conn.executemany(_EVENT_INSERT, [codec.activity_row(a) for a in rows.activities])
        if rows.contacts:
            write_progress(conn, rows.contacts)
        if rows.notifications:
            write_sqlite(conn, rows.notifications)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                # The original error is the one to report; SQLite rolls back itself when the
                # connection closes.
                log.exception("rollback failed on %s", path)
        raise


class SQLiteStore(
    SQLiteContacts,
    SQLiteOutbox,
    SQLiteCampaignDefs,
    SQLiteRevocations,
    SQLiteLoginFailures,
    SQLiteHistory,
    CommitShortcuts,
):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: str = "FULL",
        migrations: tuple[str, ...] = SQLITE_MIGRATIONS,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous is {synchronous!r}; allowed {', '.join(SYNCHRONOUS_MODES)}")
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self._migrations = migrations
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    # --------------------------------------------------------------- opening

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise StoreIOError(f"cannot open database {self.path}: directory {parent} does not exist")
        try:
            db = await aiosqlite.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        except sqlite3.Error as e:
            raise translate(e, self.path, self.busy_timeout) from e
        try:
            with self._translated():
                await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                async with db.execute("PRAGMA journal_mode = WAL") as cur:
                    row = await cur.fetchone()
                mode = str(row[0]).lower() if row else "?"
                if mode != "wal" and self.path != ":memory:":
                    raise StoreIOError(
                        f"database {self.path} cannot use WAL journaling (got {mode!r}); "
                        "it must be on a local file system, not a network share"
                    )
                await db.execute("PRAGMA foreign_keys = ON")
                await db.execute(f"PRAGMA synchronous = {self.synchronous}")
            self._db = db
            await self._migrate()
        except BaseException:
            self._db = None
            await db.close()
            raise

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            async with self._lock:
                await db.close()

    async def _migrate(self) -> None:
        known = len(self._migrations)
        async with self._transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = await self._version(db)
            if current > known:
                raise SchemaTooNew(
                    f"database {self.path} has schema version {current}, but this Holdfast knows only up to "
                    f"version {known}: it was written by a newer Holdfast; run that version, or restore a "
                    "backup made before the upgrade"
                )
            for version in range(current + 1, known + 1):
                for statement in statements(self._migrations[version - 1]):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, datetime('now'))", (version,)
                )
                log.info("database %s migrated to schema version %d", self.path, version)

    @staticmethod
    async def _version(db: aiosqlite.Connection) -> int:
        async with db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def schema_version(self) -> int:
        async with self._transaction("DEFERRED") as db:
            return await self._version(db)

    # --------------------------------------------------------------- plumbing

    @contextlib.contextmanager
    def _translated(self) -> Any:
        try:
            yield
        except sqlite3.Error as e:
            raise translate(e, self.path, self.busy_timeout) from e

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreNotOpen(f"store {self.path} is not open; call open() first")
        return self._db

    @contextlib.asynccontextmanager
    async def _transaction(self, mode: str = "IMMEDIATE") -> AsyncIterator[aiosqlite.Connection]:
        """All of the body or none of it. IMMEDIATE takes the write lock at BEGIN."""
        db = self._conn()
        async with self._lock:
            with self._translated():
                try:
                    await db.execute(f"BEGIN {mode}")
                    yield db
                    await db.execute("COMMIT")
                except BaseException:
                    # Always: a task cancelled while its BEGIN was on the connection's thread
                    # (e.g. at a stop) has not seen it run, yet it runs; left open, every later
                    # transaction on this connection would fail. The thread runs requests in order,
                    # so this ROLLBACK comes after that BEGIN and after any statement in flight.
                    try:
                        await db.execute("ROLLBACK")
                    except sqlite3.Error as error:
                        if "no transaction is active" not in str(error):
                            # The original error is the one to report; SQLite rolls back itself
                            # when the connection closes.
                            log.exception("rollback failed on %s", self.path)
                    raise

    # --------------------------------------------------------------- requests and events

    async def commit_many(self, changes: Iterable[Change]) -> None:
        rows = merge(changes)
        if not rows:
            return
        db = self._conn()
        async with self._lock:
            with self._translated():
                # The whole transaction is ONE call on aiosqlite's thread (its `_execute`, which
                # its own methods use): statement by statement, each await is a hop to that thread
                # and back through a busy event loop, and a group commit waits for all of them.
                await db._execute(_write_changes, db._conn, rows, self.path)  # type: ignore[no-untyped-call]

    async def load_active_requests(self) -> list[Request]:
        async with self._transaction("DEFERRED") as db:
            async with db.execute(
                f"{_REQUEST_SELECT} WHERE state <> 'ended' ORDER BY queue, place_rank, place_time, place_seq, id"
            ) as cur:
                rows = list(await cur.fetchall())
            async with db.execute(
                "SELECT a.request_id, a.number, a.started_at, a.agent_id, a.outcome, a.ended_at FROM attempts a "
                "JOIN requests r ON r.id = a.request_id WHERE r.state <> 'ended' ORDER BY a.request_id, a.number"
            ) as cur:
                attempt_rows = list(await cur.fetchall())
        by_request: dict[str, list[Any]] = {}
        for a in attempt_rows:
            by_request.setdefault(a[0], []).append(a[1:])
        return [codec.request_from_row(row, by_request.get(row[0], [])) for row in rows]

    async def load_request(self, request_id: str) -> Request | None:
        async with self._transaction("DEFERRED") as db:
            async with db.execute(f"{_REQUEST_SELECT} WHERE id = ?", (request_id,)) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            async with db.execute(f"{_ATTEMPT_SELECT} WHERE request_id = ? ORDER BY number", (request_id,)) as cur:
                attempts = list(await cur.fetchall())
        return codec.request_from_row(row, attempts)

    async def recent_promises(self, since: float) -> list[tuple[str, float]]:
        async with (
            self._transaction("DEFERRED") as db,
            db.execute(
                "SELECT callback_number, callback_requested_at FROM requests "
                "WHERE callback_requested_at > ? AND callback_number IS NOT NULL "
                # one merged into a later callback counts no more (app/core/promise_log.py)
                "AND (outcome IS NULL OR outcome <> 'removed' OR NOT EXISTS (SELECT 1 FROM events e "
                "WHERE e.request_id = requests.id AND e.kind = 'ended' "
                "AND json_extract(e.data, '$.reason') = 'merged'))",
                (since,),
            ) as cur,
        ):
            return [(row[0], row[1]) for row in await cur.fetchall()]

    # --------------------------------------------------------------- agents

    async def load_agents(self) -> list[AgentRecord]:
        async with (
            self._transaction("DEFERRED") as db,
            db.execute(f"SELECT {', '.join(codec.AGENT_COLUMNS)} FROM agent_states ORDER BY agent_id") as cur,
        ):
            rows = list(await cur.fetchall())
        return [codec.agent_from_row(r) for r in rows]

    # --------------------------------------------------------------- logs

    async def events(
        self,
        since_id: int = 0,
        request_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        agent_id: str | None = None,
    ) -> list[StoredEvent]:
        where, params = ["id > ?"], list[object]([since_id])
        if request_id is not None:
            where.append("request_id = ?")
            params.append(request_id)
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        async with (
            self._transaction("DEFERRED") as db,
            db.execute(
                "SELECT id, at, kind, request_id, agent_id, queue, data FROM events "
                f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                (*params, limit),
            ) as cur,
        ):
            rows = list(await cur.fetchall())
        return [codec.event_from_row(r) for r in rows]

    async def events_of_kinds(
        self, kinds: Collection[str], since_id: int = 0, limit: int = DEFAULT_LIMIT
    ) -> list[StoredEvent]:
        wanted = sorted(set(kinds))
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        async with (
            self._transaction("DEFERRED") as db,
            db.execute(
                "SELECT id, at, kind, request_id, agent_id, queue, data FROM events "
                f"WHERE kind IN ({marks}) AND id > ? ORDER BY id LIMIT ?",
                (*wanted, since_id, limit),
            ) as cur,
        ):
            rows = list(await cur.fetchall())
        return [codec.event_from_row(r) for r in rows]

    async def append_admin(
        self,
        at: float,
        who: str,
        action: str,
        request_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        async with self._transaction() as db:
            cur = await db.execute(
                "INSERT INTO admin_log (at, who, action, request_id, detail) VALUES (?, ?, ?, ?, ?)",
                codec.texts((at, who, action, request_id, codec.dump_json(detail or {}, f"admin {action!r} detail"))),
            )
            entry_id = cur.lastrowid
            await cur.close()
        assert entry_id is not None
        return entry_id

    async def admin_log(
        self, since_id: int = 0, request_id: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[AdminEntry]:
        where, params = ["id > ?"], list[object]([since_id])
        if request_id is not None:
            where.append("request_id = ?")
            params.append(request_id)
        async with (
            self._transaction("DEFERRED") as db,
            db.execute(
                "SELECT id, at, who, action, request_id, detail FROM admin_log "
                f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                (*params, limit),
            ) as cur,
        ):
            rows = list(await cur.fetchall())
        return [codec.admin_from_row(r) for r in rows]

    async def admin_log_newest(
        self, since_id: int = 0, before_id: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[AdminEntry]:
        async with (
            self._transaction("DEFERRED") as db,
            db.execute(
                "SELECT id, at, who, action, request_id, detail FROM admin_log "
                "WHERE id > ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
                (since_id, before_id, before_id, limit),
            ) as cur,
        ):
            rows = list(await cur.fetchall())
        return [codec.admin_from_row(r) for r in rows]

    # --------------------------------------------------------------- instance lock

    async def acquire_lock(self, owner: str, ttl: float, now: float, name: str = DEFAULT_LOCK) -> bool:
        async with self._transaction() as db:
            async with db.execute("SELECT owner, expires_at FROM instance_lock WHERE name = ?", (name,)) as cur:
                row = await cur.fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            await db.execute(
                "INSERT INTO instance_lock (name, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, acquired_at = excluded.acquired_at, "
                "expires_at = excluded.expires_at",
                (name, owner, now, now + ttl),
            )
            return True

    async def refresh_lock(self, owner: str, ttl: float, now: float, name: str = DEFAULT_LOCK) -> bool:
        async with self._transaction() as db:
            cur = await db.execute(
                "UPDATE instance_lock SET expires_at = ? WHERE name = ? AND owner = ?", (now + ttl, name, owner)
            )
            changed = cur.rowcount
            await cur.close()
        return changed == 1

    async def release_lock(self, owner: str, name: str = DEFAULT_LOCK) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM instance_lock WHERE name = ? AND owner = ?", (name, owner))

    async def lock_holder(self, name: str = DEFAULT_LOCK) -> LockHolder | None:
        async with (
            self._transaction("DEFERRED") as db,
            db.execute("SELECT name, owner, acquired_at, expires_at FROM instance_lock WHERE name = ?", (name,)) as cur,
        ):
            row = await cur.fetchone()
        return None if row is None else codec.lock_from_row(row)
