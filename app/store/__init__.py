"""Storage: one interface (`Store`), SQLite by default, PostgreSQL for several nodes.

`store_from_dsn("sqlite:///var/lib/holdfast/holdfast.db")` (or a plain path) gives a SQLite
store; `postgresql://user@host/db` a PostgreSQL one. Call `await store.open()` before use.
"""

from __future__ import annotations

from typing import Any

from app.store.base import DEFAULT_LOCK, Store
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
from app.store.records import AdminEntry, AgentRecord, Change, LockHolder, StoredEvent

__all__ = [
    "DEFAULT_LOCK",
    "AdminEntry",
    "AgentRecord",
    "Change",
    "LockHolder",
    "SchemaTooNew",
    "Store",
    "StoreBusy",
    "StoreCorrupt",
    "StoreDataError",
    "StoreError",
    "StoreFull",
    "StoreIOError",
    "StoreNotOpen",
    "StoredEvent",
    "store_from_dsn",
]


def is_postgres(dsn: str) -> bool:
    return dsn.startswith(("postgresql://", "postgres://"))


def sqlite_file(dsn: str) -> str:
    """The SQLite file a DSN that is not PostgreSQL names (":memory:" for none)."""
    if dsn.startswith("sqlite://"):
        # sqlite:///relative.db is relative, sqlite:////abs/path.db absolute (SQLAlchemy's rule)
        return dsn.removeprefix("sqlite://").removeprefix("/") or ":memory:"
    if "://" in dsn:
        raise ValueError(f"store {dsn!r}: unknown scheme; use a file path, sqlite:///FILE or postgresql://…")
    return dsn


def store_from_dsn(dsn: str, **options: Any) -> Store:
    """A store for `dsn`, not yet opened. Options go to the backend (e.g. busy_timeout)."""
    if is_postgres(dsn):
        from app.store.postgres import PostgresStore

        return PostgresStore(dsn, **options)
    from app.store.sqlite import SQLiteStore

    return SQLiteStore(sqlite_file(dsn), **options)
