"""Log-outs of the live page's sessions, kept so a restart does not bring a logged-out session back.

Theory of operation: a session is a signed cookie (app/web/sessions.py) the service keeps no copy
of, so logging out means remembering its id until the cookie would expire anyway. Each log-out is
one row (session id, user, when the cookie expires, when it was revoked); the web layer keeps the
ids in memory for the per-request check, writes each new one here before answering the log-out,
and reads the unexpired ones back when it starts (also on a standby that takes over: the table is
shared on PostgreSQL). Expired rows are deleted as new ones are written.

The key that signs the cookies is kept here too (`web_session_key`, one row; SQLite migration 10,
PostgreSQL migration 11), one for every node on the store: a standby that takes over, or a
node behind the same load balancer, accepts the cookies another issued. `session_key(candidate)`
stores the candidate if no key is stored yet and returns the stored key, in one transaction
(INSERT … ON CONFLICT DO NOTHING, then SELECT), so two nodes starting at once end with the same
key: the first to commit. The web layer offers the key file an older Holdfast kept in its data
directory, if there is one, so the cookies it signed stay valid (app/web/auth.py,
`load_session_key`). The key travels with the store: in a SQLite backup, and in pg_dump.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

SQLITE_SESSION_REVOCATIONS = """
CREATE TABLE session_revocations (
    session_id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL NOT NULL
);
CREATE INDEX session_revocations_expiry ON session_revocations (expires_at);
"""

POSTGRES_SESSION_REVOCATIONS = """
CREATE TABLE session_revocations (
    session_id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX session_revocations_expiry ON session_revocations (expires_at);
"""

MIN_SESSION_KEY = 32  # bytes: HMAC-SHA256's own size; a shorter key is refused

SQLITE_SESSION_KEY = """
CREATE TABLE web_session_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL CHECK (typeof(key) = 'blob' AND length(key) >= 32)
);
"""

POSTGRES_SESSION_KEY = """
CREATE TABLE web_session_key (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    key BYTEA NOT NULL CHECK (octet_length(key) >= 32)
);
"""


def checked_session_key(key: bytes) -> bytes:
    """`key` as bytes, or ValueError if it is too short to sign cookies with."""
    if len(key) < MIN_SESSION_KEY:
        raise ValueError(f"a session key has at least {MIN_SESSION_KEY} bytes, not {len(key)}")
    return bytes(key)


@runtime_checkable
class RevocationStore(Protocol):
    async def revoke_session(self, session_id: str, user: str, expires_at: float, now: float) -> None: ...

    async def revoked_sessions(self, now: float) -> dict[str, float]: ...

    async def session_key(self, candidate: bytes) -> bytes: ...


class SQLiteRevocations:
    """Mixed into SQLiteStore, which provides `_run` (one transaction on the connection's thread)."""

    async def _run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        raise NotImplementedError

    async def revoke_session(self, session_id: str, user: str, expires_at: float, now: float) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM session_revocations WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO session_revocations (session_id, user_name, expires_at, revoked_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (session_id) DO NOTHING",
                (session_id, user, expires_at, now),
            )

        await self._run(run)

    async def revoked_sessions(self, now: float) -> dict[str, float]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT session_id, expires_at FROM session_revocations WHERE expires_at > ?", (now,)
            ).fetchall()

        return {str(r[0]): float(r[1]) for r in await self._run(run, write=False)}

    async def session_key(self, candidate: bytes) -> bytes:
        key = checked_session_key(candidate)

        def stored(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT key FROM web_session_key WHERE id = 1").fetchone()
            return None if row is None else bytes(row[0])

        def run(conn: sqlite3.Connection) -> bytes:
            conn.execute("INSERT INTO web_session_key (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING", (key,))
            return bytes(conn.execute("SELECT key FROM web_session_key WHERE id = 1").fetchone()[0])

        # Read first: once a key is stored (every start but the first), no write lock is taken.
        found = await self._run(stored, write=False)
        return found if found is not None else await self._run(run)


class PostgresRevocations:
    """Mixed into PostgresStore, which provides `_transaction`."""

    def _transaction(self, isolation: str = "read_committed") -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def revoke_session(self, session_id: str, user: str, expires_at: float, now: float) -> None:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM session_revocations WHERE expires_at <= $1", now)
            await conn.execute(
                "INSERT INTO session_revocations (session_id, user_name, expires_at, revoked_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO NOTHING",
                session_id,
                user,
                expires_at,
                now,
            )

    async def revoked_sessions(self, now: float) -> dict[str, float]:
        async with self._transaction() as conn:
            rows = await conn.fetch("SELECT session_id, expires_at FROM session_revocations WHERE expires_at > $1", now)
        return {str(r[0]): float(r[1]) for r in rows}

    async def session_key(self, candidate: bytes) -> bytes:
        key = checked_session_key(candidate)
        async with self._transaction() as conn:
            # A node inserting at the same moment: this INSERT waits for its commit, then does nothing,
            # and the SELECT (a new snapshot under read committed) sees its key.
            await conn.execute("INSERT INTO web_session_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", key)
            return bytes(await conn.fetchval("SELECT key FROM web_session_key WHERE id = 1"))
