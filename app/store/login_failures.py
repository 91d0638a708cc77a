"""Wrong log-in passwords, kept so a restart or a standby taking over does not give a password
guesser fresh attempts (app/web/login_guard.py `Throttle`, `StoredFailures`).

Theory of operation: one row per wrong password (user name, client address, when). The web layer
decides from its memory, as before (a refused log-in costs nothing); it hands the wrong passwords
here in batches, and reads the ones still inside the throttle's window back when it starts (on a
standby that takes over too: the table is shared on PostgreSQL). Each batch first deletes the rows
that have left the window, so the table holds one window's failures at most, and those are few:
each one cost a password check, and the checks run one at a time (about 20 a second).
SQLite migration 11, PostgreSQL migration 12.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

SQLITE_LOGIN_FAILURES = """
CREATE TABLE login_failures (
    at REAL NOT NULL,
    user_name TEXT NOT NULL,
    address TEXT
);
CREATE INDEX login_failures_at ON login_failures (at);
"""

POSTGRES_LOGIN_FAILURES = """
CREATE TABLE login_failures (
    at DOUBLE PRECISION NOT NULL,
    user_name TEXT NOT NULL,
    address TEXT
);
CREATE INDEX login_failures_at ON login_failures (at);
"""


class LoginFailure(NamedTuple):
    user: str
    address: str | None
    at: float


@runtime_checkable
class LoginFailureStore(Protocol):
    async def add_login_failures(self, failures: Sequence[LoginFailure], forget_before: float) -> None: ...

    async def login_failures(self, since: float) -> list[LoginFailure]: ...


class SQLiteLoginFailures:
    """Mixed into SQLiteStore, which provides `_run` (one transaction on the connection's thread)."""

    async def _run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        raise NotImplementedError

    async def add_login_failures(self, failures: Sequence[LoginFailure], forget_before: float) -> None:
        """Store `failures` and forget the ones from before `forget_before`, in one transaction."""
        rows = [(f.at, f.user, f.address) for f in failures]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM login_failures WHERE at < ?", (forget_before,))
            conn.executemany("INSERT INTO login_failures (at, user_name, address) VALUES (?, ?, ?)", rows)

        await self._run(run)

    async def login_failures(self, since: float) -> list[LoginFailure]:
        """The failures from `since` on, oldest first."""

        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT user_name, address, at FROM login_failures WHERE at >= ? ORDER BY at", (since,)
            ).fetchall()

        return [LoginFailure(str(r[0]), r[1], float(r[2])) for r in await self._run(run, write=False)]


class PostgresLoginFailures:
    """Mixed into PostgresStore, which provides `_transaction`."""

    def _transaction(self, isolation: str = "read_committed") -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def add_login_failures(self, failures: Sequence[LoginFailure], forget_before: float) -> None:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM login_failures WHERE at < $1", forget_before)
            await conn.executemany(
                "INSERT INTO login_failures (at, user_name, address) VALUES ($1, $2, $3)",
                [(f.at, f.user, f.address) for f in failures],
            )

    async def login_failures(self, since: float) -> list[LoginFailure]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT user_name, address, at FROM login_failures WHERE at >= $1 ORDER BY at", since
            )
        return [LoginFailure(str(r[0]), r[1], float(r[2])) for r in rows]
