"""The outbox's store contract on both backends: written with the commit, read back due, the
outcome of each try recorded; listing by state. PostgreSQL runs when HOLDFAST_TEST_POSTGRES_DSN
is set (scripts/postgres-for-tests.sh), as the store's own contract tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.store import Change
from app.store.outbox import OutboxStore
from app.store.outbox_records import Notification

POSTGRES_DSN = os.environ.get("HOLDFAST_TEST_POSTGRES_DSN")


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        from app.store.sqlite import SQLiteStore

        s: Any = SQLiteStore(tmp_path / "holdfast.db")
    else:
        if not POSTGRES_DSN:
            pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL outbox tests")
        from app.store.postgres import PostgresStore

        schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
        s = PostgresStore(POSTGRES_DSN, schema=schema)
    await s.open()
    yield s
    await s.close()
    if request.param == "postgres":
        from app.store.postgres import drop_schema

        assert POSTGRES_DSN is not None
        await drop_schema(POSTGRES_DSN, s.schema)


def row(key: str, at: float, **payload: Any) -> Notification:
    return Notification(key, at, "closed", "crm", "r1", "support", at + 100, payload or {"text": "é ✓", "n": 1})


async def test_the_outbox_round_trip(store: Any) -> None:
    assert isinstance(store, OutboxStore)
    assert await store.schema_version() >= 3  # the outbox came with migration 3
    await store.commit_many([Change(notifications=[row("a", 10.0), row("b", 20.0)])])
    await store.commit_many([Change(notifications=[row("a", 99.0)])])  # a key that exists: ignored
    due = await store.due_notifications(15.0)
    assert [(d.id, d.state, d.attempts, d.notification.payload) for d in due] == [
        ("a", "pending", 0, {"text": "é ✓", "n": 1})
    ]
    assert due[0].notification.created_at == 10.0 and due[0].notification.expires_at == 110.0
    assert await store.next_notification_at() == 10.0

    await store.notification_retry("a", 30.0, "503 Service Unavailable")
    assert await store.next_notification_at() == 20.0
    assert [d.id for d in await store.due_notifications(25.0)] == ["b"]
    await store.notification_delivered("b", 26.0)
    await store.notification_failed("a", "400 Bad Request")
    await store.notification_delivered("a", 27.0)  # a failed row stays failed
    assert await store.next_notification_at() is None

    [failed] = await store.notifications(state="failed")
    assert (failed.id, failed.attempts, failed.last_error) == ("a", 2, "400 Bad Request")
    [delivered] = await store.notifications(state="delivered")
    assert (delivered.id, delivered.attempts, delivered.delivered_at, delivered.last_error) == ("b", 1, 26.0, None)
    assert [n.id for n in await store.notifications()] == ["b", "a"]  # newest first
    assert await store.notifications(state="pending") == []
    with pytest.raises(ValueError):
        await store.notifications(state="lost")
