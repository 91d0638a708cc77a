"""Log-outs of the live page's sessions, kept so a restart does not bring a logged-out session back.

Theory of operation: a session is a signed cookie (app/web/sessions.py) the service keeps no copy
of, so logging out means remembering its id until the cookie would expire anyway. Each log-out is
one row (session id, user, when the cookie expires, when it was revoked); the web layer keeps the
ids in memory for the per-request check, writes each new one here before answering the log-out,
and reads the unexpired ones back when it starts (also on a standby that takes over: the table is
shared on PostgreSQL). Expired rows are deleted as new ones are written.
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


@runtime_checkable
class RevocationStore(Protocol):
    async def revoke_session(self, session_id: str, user: str, expires_at: float, now: float) -> None: ...

    async def revoked_sessions(self, now: float) -> dict[str, float]: ...


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
