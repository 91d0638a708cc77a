"""The PostgreSQL store: for several nodes sharing one database. Same contract as SQLite.

Theory of operation:
- An asyncpg pool; every call is one transaction (`conn.transaction()`), rolled back on any error.
- Each store lives in one schema (default `holdfast`), set as the connections' search_path, so
  tests and several deployments can share a database.
- Event ids come from an identity column. Ids are taken at insert but become visible at commit,
  so two concurrent writers could make a reader following `since_id` skip a line; appends
  therefore take a transaction-scoped advisory lock, which makes id order the commit order.
- Migrations run at open under an advisory lock, so two nodes starting together do not race.
- lock_timeout plays SQLite's busy_timeout: waiting longer for a row lock raises StoreBusy.
- A commit whose answer is lost (the connection drops at COMMIT) is looked up by its transaction id,
  so the committer's retry does not store its events twice (`commit_many`), nor the service's retry
  an admin line (`append_admin`). A silent network drop gives no error at all: a write transaction
  that has not ended after `commit_timeout` is cut off and looked up the same way; one still open on
  the server (its COMMIT may be lost in the network, and could yet arrive) is ended first
  (`pg_terminate_backend`), so the answer is final before anyone retries.
- Every other transaction, and the pool's setup of a connection on acquire, is cut off after
  `transaction_timeout` (StoreIOError, saying so): a silent drop would otherwise freeze its caller
  forever. The migrations at open keep no such limit (a big table's may take long): there TCP itself
  tells, below.
- The server hears nothing of a cut-off: its side of the transaction would stay open, holding its
  row locks (a leader's lease row, FOR SHARE, among them), until its TCP notices the dead client,
  hours with default kernel settings; no standby could take over. So every session is ended by the
  server once idle inside a transaction for `idle_in_transaction_timeout`, well over any gap our
  transactions leave (between statements they wait on nothing but the database).
- Not idle is not alive: a server sending a large result to a dead client, or waiting for the rest
  of a message (a drop between a write's Bind and Sync), is "active", and the idle timer never
  fires. So both ends' TCP gives up on a silent peer after about `network_timeout` (keepalive probes
  on a quiet connection, TCP_USER_TIMEOUT on unacknowledged data): on ours the socket options of
  every connection (app/store/pg_network.py), on the server's the session's tcp_keepalives_* and
  tcp_user_timeout, so it ends the dead client's session and releases its locks. A live server,
  however busy, answers keepalives from its kernel: a long migration is not cut, but one whose
  database stops answering fails (StoreIOError, saying so) instead of holding the start forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from app.core.request import Request
from app.store import codec
from app.store.agents_schema import AGENT_AFTER_CALL, POSTGRES_AGENT_WRAP_UP_EXTENDED, POSTGRES_AGENT_WRAP_UP_UNTIL
from app.store.base import DEFAULT_LIMIT, DEFAULT_LOCK
from app.store.campaign_defs import POSTGRES_CAMPAIGN_DEFS, PostgresCampaignDefs
from app.store.common import CommitShortcuts, merge
from app.store.contacts_schema import POSTGRES_CONTACTS
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
from app.store.events_schema import EVENTS_KIND_ID
from app.store.history import PostgresHistory
from app.store.lease import POSTGRES_LEASE, PostgresLeases, check_fence
from app.store.login_failures import POSTGRES_LOGIN_FAILURES, PostgresLoginFailures
from app.store.outbox import PostgresOutbox, write_postgres
from app.store.outbox_schema import POSTGRES_OUTBOX
from app.store.pg_network import gave_up, keepalive_for, kept_alive_connection, session_settings
from app.store.postgres_contacts import PostgresContacts, write_progress
from app.store.promises_schema import PROMISES_BY_TIME
from app.store.records import AdminEntry, AgentRecord, Change, LockHolder, StoredEvent
from app.store.stats_schema import STATS_INDEXES
from app.store.web_sessions import POSTGRES_SESSION_KEY, POSTGRES_SESSION_REVOCATIONS, PostgresRevocations

log = logging.getLogger(__name__)

POSTGRES_MIGRATIONS: tuple[str, ...] = (
    # 1: as SQLite's migration 1
    """
    CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        priority BIGINT NOT NULL,
        arrived_at DOUBLE PRECISION NOT NULL,
        queued_since DOUBLE PRECISION NOT NULL,
        place_rank BIGINT NOT NULL,
        place_time DOUBLE PRECISION NOT NULL,
        place_seq BIGINT NOT NULL,
        caller_number TEXT,
        callback_number TEXT,
        callback_requested_at DOUBLE PRECISION,
        not_before DOUBLE PRECISION NOT NULL DEFAULT 0,
        outcome TEXT,
        ended_at DOUBLE PRECISION,
        extra JSONB NOT NULL DEFAULT '{}'
    );
    CREATE INDEX requests_active ON requests (queue, place_rank, place_time, place_seq) WHERE state <> 'ended';
    CREATE INDEX requests_active_callback_number ON requests (callback_number)
        WHERE state <> 'ended' AND callback_number IS NOT NULL;
    CREATE INDEX requests_ended_at ON requests (ended_at) WHERE ended_at IS NOT NULL;
    CREATE TABLE attempts (
        request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        agent_id TEXT NOT NULL,
        outcome TEXT,
        ended_at DOUBLE PRECISION,
        PRIMARY KEY (request_id, number)
    );
    CREATE TABLE agent_states (
        agent_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        pause_reason TEXT,
        since DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        request_id TEXT,
        agent_id TEXT,
        queue TEXT,
        data JSONB NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_request ON events (request_id, id) WHERE request_id IS NOT NULL;
    CREATE INDEX events_agent ON events (agent_id, id) WHERE agent_id IS NOT NULL;
    CREATE INDEX events_at ON events (at);
    CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the % is append-only', TG_TABLE_NAME;
    END $$;
    CREATE TRIGGER events_append_only BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION refuse_update();
    CREATE TABLE admin_log (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        request_id TEXT,
        detail JSONB NOT NULL DEFAULT '{}'
    );
    CREATE INDEX admin_log_request ON admin_log (request_id, id) WHERE request_id IS NOT NULL;
    CREATE TRIGGER admin_log_append_only BEFORE UPDATE ON admin_log FOR EACH ROW EXECUTE FUNCTION refuse_update();
    CREATE TABLE instance_lock (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: as SQLite's migration 2
    POSTGRES_CONTACTS,
    # 3: as SQLite's migration 3
    STATS_INDEXES,
    # 4: the notification outbox (app/store/outbox_schema.py)
    POSTGRES_OUTBOX,
    # 5: the leadership lease with its epoch (app/store/lease.py); PostgreSQL only
    POSTGRES_LEASE,
    # 6: campaigns created over the API (app/store/campaign_defs.py; SQLite's migration 5)
    POSTGRES_CAMPAIGN_DEFS,
    # 7: the event log by kind (app/store/events_schema.py; SQLite's migration 6)
    EVENTS_KIND_ID,
    # 8: the live page's log-outs (app/store/web_sessions.py; SQLite's migration 7)
    POSTGRES_SESSION_REVOCATIONS,
    # 9: the callbacks promised lately, by time (app/store/promises_schema.py; SQLite's migration 8)
    PROMISES_BY_TIME,
    # 10: an agent's pause or log-out asked for during a call (app/store/agents_schema.py; SQLite's migration 9)
    AGENT_AFTER_CALL,
    # 11: the key that signs the page's log-in cookies, one for all nodes (app/store/web_sessions.py;
    # SQLite's migration 10)
    POSTGRES_SESSION_KEY,
    # 12: wrong log-in passwords within the throttle's window (app/store/login_failures.py; SQLite's migration 11)
    POSTGRES_LOGIN_FAILURES,
    # 13: the end of an agent's wrap-up, extensions included (app/store/agents_schema.py; SQLite's migration 12)
    POSTGRES_AGENT_WRAP_UP_UNTIL,
    # 14: the extension granted in an agent's wrap-up (app/store/agents_schema.py; SQLite's migration 13)
    POSTGRES_AGENT_WRAP_UP_EXTENDED,
)

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATE_LOCK = 0x686F6C64  # "hold": advisory lock key for migrations
_APPEND_LOCK = 0x66617374  # "fast": advisory lock key for log appends
_IN_PROGRESS_WAITS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)  # looks at a commit the server may be finishing
# Ends the lost connection's server process, but only while it is still in that transaction: a
# process id can be reused once its process has gone. backend_xid is the 32-bit part of txid_current().
_END_LOST_BACKEND = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE pid = $1 AND backend_xid::text = ($2::bigint % 4294967296)::text"
)

_REQUEST_UPSERT = (
    f"INSERT INTO requests ({', '.join(codec.REQUEST_COLUMNS)}) VALUES ("
    + ", ".join(f"${i}::jsonb" if c == "extra" else f"${i}" for i, c in enumerate(codec.REQUEST_COLUMNS, 1))
    + ") ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in codec.REQUEST_COLUMNS if c != "id")
)
_AGENT_UPSERT = (
    f"INSERT INTO agent_states ({', '.join(codec.AGENT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i, _ in enumerate(codec.AGENT_COLUMNS, 1))}) "
    "ON CONFLICT (agent_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in codec.AGENT_COLUMNS[1:])
)
_REQUEST_SELECT = "SELECT " + ", ".join("extra::text" if c == "extra" else c for c in codec.REQUEST_COLUMNS)
_ATTEMPT_INSERT = (
    "INSERT INTO attempts (request_id, number, started_at, agent_id, outcome, ended_at) VALUES ($1, $2, $3, $4, $5, $6)"
)
_EVENT_INSERT = (
    "INSERT INTO events (at, kind, request_id, agent_id, queue, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
)


def translate(error: Exception, where: str) -> StoreError:
    state = getattr(error, "sqlstate", None) or ""
    text = str(error)
    if state in ("55P03", "40P01", "57014"):  # lock_not_available, deadlock, query cancelled (timeout)
        return StoreBusy(f"{where}: waited too long for a lock ({text}); another node or session holds it")
    if state.startswith("53"):
        return StoreFull(f"{where}: the database server is out of space or resources ({text}); free disk space")
    if state in ("58030", "58P01", "58P02") or isinstance(error, (OSError, asyncpg.exceptions.InterfaceError)):
        return StoreIOError(f"{where}: cannot reach or write the database ({text}); check the server and the DSN")
    if state.startswith("08") or state.startswith("28") or state in ("3D000", "57P01", "57P03"):
        return StoreIOError(f"{where}: cannot connect to the database ({text}); check the server and the DSN")
    if state.startswith("XX"):
        return StoreCorrupt(f"{where}: the database reports damage ({text}); restore from a backup")
    if state.startswith("23") or state.startswith("22") or state == "P0001":
        return StoreDataError(f"{where}: the database refused the data ({text})")
    return StoreError(f"{where}: {text}")


@dataclass
class _Written:
    """A write transaction, as much as is needed to look it up if its COMMIT's answer is lost."""

    backend: int  # the server process of its connection
    txid: int
    ending: bool = False  # its body is done: COMMIT was (or was being) sent


def _redact(dsn: str) -> str:
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", dsn)


class PostgresStore(
    PostgresLeases,
    PostgresContacts,
    PostgresOutbox,
    PostgresCampaignDefs,
    PostgresRevocations,
    PostgresLoginFailures,
    PostgresHistory,
    CommitShortcuts,
):
    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "holdfast",
        busy_timeout: float = 5.0,
        pool_size: int = 4,
        commit_timeout: float = 30.0,
        transaction_timeout: float = 120.0,
        idle_in_transaction_timeout: float = 10.0,
        network_timeout: float = 30.0,
        migrations: tuple[str, ...] = POSTGRES_MIGRATIONS,
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema is {schema!r}; use lower-case letters, digits and _")
        self.dsn = dsn
        self.schema = schema
        self.busy_timeout = busy_timeout
        self.pool_size = pool_size
        self.commit_timeout = commit_timeout  # a write transaction's limit: then it is cut off and looked up
        # Any other transaction's (reads, a month's report included): then its connection is cut off
        self.transaction_timeout = transaction_timeout
        # The server's, for a transaction whose client went quiet (a silent drop): then it ends it
        self.idle_in_transaction_timeout = idle_in_transaction_timeout
        # Both ends' TCP, for a peer gone silent (a dead link, no reset) while a statement runs,
        # where neither limit above sees it: the migrations at open, a server sending a large result
        # or waiting for the rest of a message. A live server answers from its kernel, however busy.
        self.network_timeout = network_timeout
        self._migrations = migrations
        self._pool: asyncpg.Pool | None = None
        self._where = f"database {_redact(dsn)} schema {schema}"

    def __repr__(self) -> str:
        return f"PostgresStore({_redact(self.dsn)!r}, schema={self.schema!r})"

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def _setup_connection(self, conn: asyncpg.Connection) -> None:
        # On every acquire: the pool's reset on release (RESET ALL) undoes session settings.
        # Limited here: the pool's own acquire(timeout=) cancels a setup, then closes the connection
        # gracefully, waiting for the server's goodbye, which after a silent drop never comes.
        settings = session_settings(
            self.schema, self.busy_timeout, self.idle_in_transaction_timeout, keepalive_for(self.network_timeout)
        )
        with self._cut_off_after(conn, self.transaction_timeout):
            await conn.execute(settings)

    async def open(self) -> None:
        if self._pool is not None:
            return
        with self._translated():
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                setup=self._setup_connection,
                timeout=30,
                connection_class=kept_alive_connection(keepalive_for(self.network_timeout)),
            )
        try:
            self._pool = pool
            await self._migrate()
        except BaseException:
            self._pool = None
            await pool.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # A graceful close waits for the server's goodbye, which after a silent drop never
            # comes; cancelled, asyncpg's close cuts every connection off. A write still in
            # flight may end meanwhile.
            try:
                async with asyncio.timeout(self.commit_timeout):
                    await pool.close()
            except TimeoutError:
                log.warning("%s: closing took over %g s; connections cut off", self._where, self.commit_timeout)

    async def _migrate(self) -> None:
        try:
            await self._run_migrations()
        except StoreIOError as e:
            timed_out = gave_up(e)
            if timed_out is None:
                raise
            raise StoreIOError(
                f"{self._where}: the database stopped answering during the migrations at open (no answer "
                f"for about {self.network_timeout:g} s: {timed_out}); check the network to the database "
                "server, then start again: what is not applied yet is applied then"
            ) from e

    async def _run_migrations(self) -> None:
        known = len(self._migrations)
        # No limit of our own (a big table's may take long): TCP's keepalive ends a silent one
        async with self._transaction(limit=math.inf) as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
            )
            current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            if current > known:
                raise SchemaTooNew(
                    f"{self._where} has schema version {current}, but this Holdfast knows only up to version "
                    f"{known}: it was written by a newer Holdfast; run that version, or restore a backup made "
                    "before the upgrade"
                )
            for version in range(current + 1, known + 1):
                await conn.execute(self._migrations[version - 1])  # a multi-statement script, in this transaction
                await conn.execute("INSERT INTO schema_version (version, applied_at) VALUES ($1, now())", version)
                log.info("%s migrated to schema version %d", self._where, version)

    async def schema_version(self) -> int:
        async with self._transaction() as conn:
            return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    # --------------------------------------------------------------- plumbing

    @contextlib.contextmanager
    def _translated(self) -> Any:
        try:
            yield
        except (asyncpg.PostgresError, asyncpg.exceptions.InterfaceError, OSError) as e:
            raise translate(e, self._where) from e

    @contextlib.contextmanager
    def _cut_off_after(self, conn: asyncpg.Connection, limit: float) -> Iterator[None]:
        """Terminates `conn` when the work inside has not ended after `limit` s, and says so: a
        silent network drop (no reset, the packets just stop) is otherwise waited on forever.
        Terminated, not cancelled: asyncpg would then wait on that same connection to end the query."""
        if not math.isfinite(limit):
            yield
            return
        cut = False

        def cut_off() -> None:
            nonlocal cut
            cut = True
            conn.terminate()

        watchdog = asyncio.get_running_loop().call_later(limit, cut_off)
        try:
            yield
        except (asyncpg.PostgresError, asyncpg.exceptions.InterfaceError, OSError) as e:
            if not cut:
                raise
            raise StoreIOError(
                f"{self._where}: PostgreSQL did not answer within {limit:g} s ({e}); the connection was cut "
                "off; check the network to the database server"
            ) from e
        finally:
            watchdog.cancel()

    @contextlib.asynccontextmanager
    async def _transaction(
        self, isolation: str = "read_committed", fenced: bool = True, limit: float | None = None
    ) -> AsyncIterator[asyncpg.Connection]:
        """One transaction on a pooled connection, cut off after `limit` s (default
        `transaction_timeout`; math.inf: none), its COMMIT and the pool's reset on release included."""
        if self._pool is None:
            raise StoreNotOpen(f"store {self._where} is not open; call open() first")
        with self._translated():
            conn = await self._pool.acquire()  # (its setup is limited in _setup_connection)
            with self._cut_off_after(conn, self.transaction_timeout if limit is None else limit):
                try:
                    async with conn.transaction(isolation=isolation):
                        if fenced and self.fencing is not None:  # a leader's every transaction carries its epoch
                            await check_fence(conn, self.fencing)
                        yield conn
                finally:
                    await self._pool.release(conn)

    # --------------------------------------------------------------- requests and events

    async def commit_many(self, changes: Iterable[Change]) -> None:
        rows = merge(changes)
        if not rows:
            return
        async with self._looked_up() as conn:
            if rows.requests:
                await conn.executemany(_REQUEST_UPSERT, [codec.request_row(r) for r in rows.requests])
                ids = [codec.text(r.id) for r in rows.requests]
                await conn.execute("DELETE FROM attempts WHERE request_id = ANY($1::text[])", ids)
                attempts = [a for r in rows.requests for a in codec.attempt_rows(r)]
                if attempts:
                    await conn.executemany(_ATTEMPT_INSERT, attempts)
            if rows.agents:
                await conn.executemany(_AGENT_UPSERT, [codec.agent_row(a) for a in rows.agents])
            if rows.activities:
                events = [codec.activity_row(a) for a in rows.activities]
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
                await conn.executemany(_EVENT_INSERT, events)
            if rows.contacts:
                await write_progress(conn, rows.contacts)
            if rows.notifications:
                await write_postgres(conn, rows.notifications)

    @contextlib.asynccontextmanager
    async def _looked_up(self) -> AsyncIterator[asyncpg.Connection]:
        """A write transaction whose lost COMMIT answer is looked up rather than raised: a retry
        (the committer's, `record_admin`'s) would store its events or admin line twice (the rest is
        keyed and rewritten unchanged), and would be held up by its locks while it is still open on
        the server. Its connection is cut off after `commit_timeout`: a silent network drop would
        otherwise be waited on forever."""
        written: _Written | None = None
        try:
            async with self._transaction(limit=self.commit_timeout) as conn:
                written = _Written(conn.get_server_pid(), await conn.fetchval("SELECT txid_current()"))
                yield conn
                written.ending = True
        except StoreIOError:
            if written is None:
                raise
            # Also when it broke off before COMMIT: still open on the server, it is ended here.
            status = await self._transaction_status(written.txid, written.backend)
            if not written.ending or status != "committed":
                raise
            log.warning("commit_answer_lost_but_committed: %s, transaction %d; not retried", self._where, written.txid)

    async def _transaction_status(self, txid: int, backend: int) -> str | None:
        """'committed' or 'aborted', on a fresh connection; None when not known (too old, the
        database unreachable, or still in progress even after its server process was ended). The
        caller then raises and the retry goes ahead: a duplicate is possible."""
        conn = None
        try:
            conn = await asyncpg.connect(
                self.dsn,
                timeout=self.busy_timeout,
                connection_class=kept_alive_connection(keepalive_for(self.network_timeout)),
            )
            with self._cut_off_after(conn, self.commit_timeout):  # the network may still be dropping
                status = await self._settled(conn, txid)  # the server may be finishing the COMMIT
                if status == "in progress":
                    # Still open: its COMMIT may be lost in the network and could arrive after our
                    # retry. Its locks would hold that retry up, then both could commit: end it first.
                    await conn.execute(_END_LOST_BACKEND, backend, txid)
                    status = await self._settled(conn, txid)
            if status == "in progress":
                log.error(
                    "commit_outcome_unknown: %s, transaction %d of server process %d is still in progress "
                    "after it was ended; its retry may store its events twice",
                    self._where,
                    txid,
                    backend,
                )
                return None
            return status
        except (asyncpg.PostgresError, asyncpg.exceptions.InterfaceError, OSError, TimeoutError, StoreIOError):
            return None
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)

    @staticmethod
    async def _settled(conn: asyncpg.Connection, txid: int) -> str | None:
        """txid_status once final, looking a few times over about 1.5 s; else "in progress"."""
        status: str | None = None
        for wait in _IN_PROGRESS_WAITS:
            await asyncio.sleep(wait)
            status = await conn.fetchval("SELECT txid_status($1)", txid)
            if status != "in progress":
                break
        return status

    async def load_active_requests(self) -> list[Request]:
        async with self._transaction("repeatable_read") as conn:
            rows = await conn.fetch(
                f"{_REQUEST_SELECT} FROM requests WHERE state <> 'ended' "
                "ORDER BY queue, place_rank, place_time, place_seq, id"
            )
            attempts = await conn.fetch(
                "SELECT a.request_id, a.number, a.started_at, a.agent_id, a.outcome, a.ended_at FROM attempts a "
                "JOIN requests r ON r.id = a.request_id WHERE r.state <> 'ended' ORDER BY a.request_id, a.number"
            )
        by_request: dict[str, list[Any]] = {}
        for a in attempts:
            by_request.setdefault(a[0], []).append(tuple(a)[1:])
        return [codec.request_from_row(tuple(r), by_request.get(r[0], [])) for r in rows]

    async def recent_promises(self, since: float) -> list[tuple[str, float]]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT callback_number, callback_requested_at FROM requests "
                "WHERE callback_requested_at > $1 AND callback_number IS NOT NULL "
                # one merged into a later callback counts no more (app/core/promise_log.py)
                "AND (outcome IS NULL OR outcome <> 'removed' OR NOT EXISTS (SELECT 1 FROM events e "
                "WHERE e.request_id = requests.id AND e.kind = 'ended' "
                "AND e.data->>'reason' = 'merged'))",
                since,
            )
        return [(row[0], row[1]) for row in rows]

    async def load_request(self, request_id: str) -> Request | None:
        async with self._transaction() as conn:
            row = await conn.fetchrow(f"{_REQUEST_SELECT} FROM requests WHERE id = $1", request_id)
            if row is None:
                return None
            attempts = await conn.fetch(
                "SELECT number, started_at, agent_id, outcome, ended_at FROM attempts "
                "WHERE request_id = $1 ORDER BY number",
                request_id,
            )
        return codec.request_from_row(tuple(row), [tuple(a) for a in attempts])

    # --------------------------------------------------------------- agents

    async def load_agents(self) -> list[AgentRecord]:
        async with self._transaction() as conn:
            rows = await conn.fetch(f"SELECT {', '.join(codec.AGENT_COLUMNS)} FROM agent_states ORDER BY agent_id")
        return [codec.agent_from_row(r) for r in rows]

    # --------------------------------------------------------------- logs

    async def events(
        self,
        since_id: int = 0,
        request_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        agent_id: str | None = None,
    ) -> list[StoredEvent]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, at, kind, request_id, agent_id, queue, data::text FROM events "
                "WHERE id > $1 AND ($2::text IS NULL OR request_id = $2) AND ($3::text IS NULL OR agent_id = $3) "
                "ORDER BY id LIMIT $4",
                since_id,
                request_id,
                agent_id,
                limit,
            )
        return [codec.event_from_row(r) for r in rows]

    async def events_of_kinds(
        self, kinds: Collection[str], since_id: int = 0, limit: int = DEFAULT_LIMIT
    ) -> list[StoredEvent]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, at, kind, request_id, agent_id, queue, data::text FROM events "
                "WHERE kind = ANY($1::text[]) AND id > $2 ORDER BY id LIMIT $3",
                sorted(set(kinds)),
                since_id,
                limit,
            )
        return [codec.event_from_row(r) for r in rows]

    async def append_admin(
        self,
        at: float,
        who: str,
        action: str,
        request_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        payload = codec.dump_json(detail or {}, f"admin {action!r} detail")
        async with self._looked_up() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
            entry_id = await conn.fetchval(
                "INSERT INTO admin_log (at, who, action, request_id, detail) VALUES ($1, $2, $3, $4, $5::jsonb) "
                "RETURNING id",
                *codec.texts((at, who, action, request_id, payload)),
            )
        return int(entry_id)

    async def admin_log(
        self, since_id: int = 0, request_id: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[AdminEntry]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, at, who, action, request_id, detail::text FROM admin_log "
                "WHERE id > $1 AND ($2::text IS NULL OR request_id = $2) ORDER BY id LIMIT $3",
                since_id,
                request_id,
                limit,
            )
        return [codec.admin_from_row(r) for r in rows]

    async def admin_log_newest(
        self, since_id: int = 0, before_id: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[AdminEntry]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, at, who, action, request_id, detail::text FROM admin_log "
                "WHERE id > $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                since_id,
                before_id,
                limit,
            )
        return [codec.admin_from_row(r) for r in rows]

    # --------------------------------------------------------------- instance lock

    async def acquire_lock(self, owner: str, ttl: float, now: float, name: str = DEFAULT_LOCK) -> bool:
        async with self._transaction() as conn:
            taken = await conn.fetchval(
                "INSERT INTO instance_lock (name, owner, acquired_at, expires_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, acquired_at = excluded.acquired_at, "
                "expires_at = excluded.expires_at "
                "WHERE instance_lock.owner = excluded.owner OR instance_lock.expires_at <= $3 "
                "RETURNING owner",
                name,
                owner,
                now,
                now + ttl,
            )
        return taken is not None

    async def refresh_lock(self, owner: str, ttl: float, now: float, name: str = DEFAULT_LOCK) -> bool:
        async with self._transaction() as conn:
            status = await conn.execute(
                "UPDATE instance_lock SET expires_at = $1 WHERE name = $2 AND owner = $3", now + ttl, name, owner
            )
        return bool(status == "UPDATE 1")

    async def release_lock(self, owner: str, name: str = DEFAULT_LOCK) -> None:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM instance_lock WHERE name = $1 AND owner = $2", name, owner)

    async def lock_holder(self, name: str = DEFAULT_LOCK) -> LockHolder | None:
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                "SELECT name, owner, acquired_at, expires_at FROM instance_lock WHERE name = $1", name
            )
        return None if row is None else codec.lock_from_row(row)


async def drop_schema(dsn: str, schema: str) -> None:
    """Remove a store's schema and everything in it (for tests)."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema is {schema!r}")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()
