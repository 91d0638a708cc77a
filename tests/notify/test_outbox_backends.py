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


async def test_due_rows_skip_full_channels_and_the_next_after_a_time(store: Any) -> None:
    """The worker's reads while a channel's slots are all taken (app/notify/worker.py): that
    channel's backlog is left out, so another channel's row is found however long it is; and
    the next row due after now leaves out the rows due already (being tried, or waiting for a
    slot of their channel)."""
    sms = Notification("s", 30.0, "closed", "sms", "r2", "support", 130.0, {"to": "+4520123456"})
    await store.commit_many([Change(notifications=[row("a", 10.0), row("b", 20.0), sms])])
    assert [d.id for d in await store.due_notifications(35.0, 1, skip_channels=["crm"])] == ["s"]
    assert [d.id for d in await store.due_notifications(35.0, skip_channels=["crm", "sms"])] == []
    assert [d.id for d in await store.due_notifications(35.0, skip_channels=[])] == ["a", "b", "s"]
    assert await store.next_notification_at(after=15.0) == 20.0
    assert await store.next_notification_at(after=30.0) is None
    assert await store.next_notification_at() == 10.0


async def test_rows_narrowed_to_a_scope(store: Any) -> None:
    """GET /api/notifications narrows the rows to the caller's queues and campaigns in the store,
    before the limit: a queue's rows (not a dialler contact's: those go with their campaign) and
    the rows of a campaign's contacts, by request id; `_` in a name is a letter, not a wildcard."""

    def made(key: str, queue: str | None, request_id: str | None) -> Notification:
        return Notification(key, 1.0, "closed", "crm", request_id, queue, 100.0, {})

    rows = [
        made("support", "support", "1700000000.1"),
        made("sales", "sales", "1700000000.2"),
        made("contact", "support", "dial-spring_sale-7-12"),
        made("other-contact", "support", "dial-springXsale-7-13"),
        made("finished", "support", "campaign-spring_sale"),
        made("no-request", "support", None),
    ]
    await store.commit_many([Change(notifications=rows)])

    async def ids(**scope: Any) -> set[str]:
        return {n.id for n in await store.notifications(**scope)}

    assert await ids() == {r.id for r in rows}
    assert await ids(queues=["support"], campaigns=[]) == {"support", "finished", "no-request"}
    assert await ids(queues=[], campaigns=["spring_sale"]) == {"contact"}
    assert await ids(queues=["sales"], campaigns=["spring_sale"], state="pending") == {"sales", "contact"}
    assert await ids(queues=[], campaigns=[]) == set()


async def test_pending_request_ids_are_those_of_every_pending_row_of_the_events(store: Any) -> None:
    """However many rows are pending (the worker's start used to read the newest 1000 only)."""

    def confirmation(key: str, request_id: str | None, event: str = "callback_requested") -> Notification:
        return Notification(key, 1.0, event, "sms", request_id, "support", 1000.0, {"to": "+4520123456"})

    rows = [confirmation(f"c{i}", f"r{i}") for i in range(1200)]
    rows += [confirmation("closed", "r-closed", "closed"), confirmation("no-request", None)]
    await store.commit_many([Change(notifications=rows)])
    await store.notification_delivered("c5", 2.0)
    await store.notification_failed("c6", "400 Bad Request")
    assert await store.pending_request_ids({"callback_requested"}) == {f"r{i}" for i in range(1200)} - {"r5", "r6"}
    assert await store.pending_request_ids({"callback_requested", "closed"}) >= {"r-closed", "r0"}
    assert await store.pending_request_ids(set()) == set()
