"""A COMMIT whose answer is lost: the connection drops after PostgreSQL received the COMMIT (and
committed) but before the client read the answer. The committer (app/telephony/committer.py
`_commit`) retries a batch on StoreError; the store must not make that retry write the batch's
events a second time (statistics, the pacing's abandon windows and the live page read them).

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from app.core.commands import Activity
from app.store import Change, StoreError, StoreIOError
from app.store.postgres import PostgresStore
from tests.store.conftest import POSTGRES_DSN
from tests.store.pg_proxy import PgProxy
from tests.store.test_contract import make_request

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")


@pytest.fixture
async def proxy() -> AsyncIterator[PgProxy]:
    assert POSTGRES_DSN is not None
    p = PgProxy(POSTGRES_DSN)
    await p.start()
    yield p
    await p.close()


@pytest.fixture
async def store(proxy: PgProxy) -> AsyncIterator[PostgresStore]:
    from app.store.postgres import drop_schema

    assert POSTGRES_DSN is not None
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    s = PostgresStore(proxy.dsn, schema=schema)
    await s.open()
    yield s
    await s.close()
    await proxy.close()  # a transaction still open (a failing test) would hold up the schema's drop
    await drop_schema(POSTGRES_DSN, schema)


def a_batch() -> list[Change]:
    return [
        Change([make_request("r1")], [Activity("arrived", "r1", at=1000.0)]),
        Change([make_request("r2", place=(0, 1001.0, 2))], [Activity("arrived", "r2", at=1001.0)]),
    ]


def record_statuses(store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What the store learnt about its transactions after a lost answer."""
    seen: list[str | None] = []
    ask = store._transaction_status

    async def recorded(txid: int) -> str | None:
        seen.append(await ask(txid))
        return seen[-1]

    monkeypatch.setattr(store, "_transaction_status", recorded)
    return seen


async def commit_as_the_committer_does(store: PostgresStore, changes: list[Change]) -> list[StoreError]:
    """commit_many, and on StoreError the same changes again (committer `_commit`); the errors met."""
    errors: list[StoreError] = []
    for _ in range(3):
        try:
            await store.commit_many(changes)
            return errors
        except StoreError as error:
            errors.append(error)
    raise AssertionError(f"still failing after retries: {errors}")


async def test_a_commit_whose_answer_is_lost_stores_its_events_once(
    store: PostgresStore, proxy: PgProxy, caplog: pytest.LogCaptureFixture
) -> None:
    await store.commit_many([Change([], [Activity("started", at=999.0)])])  # an ordinary commit first
    proxy.arm("lose_answer")
    with caplog.at_level(logging.WARNING, logger="app.store.postgres"):
        errors = await commit_as_the_committer_does(store, a_batch())
    assert proxy.tripped.is_set()  # the answer really was lost
    kinds = [(e.kind, e.request_id) for e in await store.events()]
    assert kinds == [("started", None), ("arrived", "r1"), ("arrived", "r2")], "stored twice"
    assert errors == []  # the commit happened: the call returns normally, nothing to retry
    assert "commit_answer_lost_but_committed" in caplog.text
    assert {r.id for r in await store.load_active_requests()} == {"r1", "r2"}


async def test_a_commit_still_finishing_when_first_asked_about_is_found_committed(
    store: PostgresStore, proxy: PgProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = record_statuses(store, monkeypatch)
    proxy.arm("late")  # the server gets the COMMIT only after the store's first look
    errors = await commit_as_the_committer_does(store, a_batch())
    assert proxy.tripped.is_set()
    assert statuses == ["committed"] and errors == []
    assert [(e.kind, e.request_id) for e in await store.events()] == [("arrived", "r1"), ("arrived", "r2")]


async def test_a_commit_that_never_reached_the_server_is_still_an_error_and_retried(
    store: PostgresStore, proxy: PgProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = record_statuses(store, monkeypatch)
    proxy.arm("drop")
    errors = await commit_as_the_committer_does(store, a_batch())
    assert proxy.tripped.is_set()
    assert statuses == ["aborted"]
    assert [type(e) for e in errors] == [StoreIOError]  # rolled back: the retry is right
    assert [(e.kind, e.request_id) for e in await store.events()] == [("arrived", "r1"), ("arrived", "r2")]


async def test_when_the_database_cannot_say_the_commit_fails_as_before(
    store: PostgresStore, proxy: PgProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = record_statuses(store, monkeypatch)
    monkeypatch.setattr(store, "dsn", "postgresql://postgres@127.0.0.1:1/postgres")  # fresh connections fail
    proxy.arm("lose_answer")
    with pytest.raises(StoreIOError, match="closed in the middle of operation"):  # the COMMIT's own error
        await store.commit_many(a_batch())
    assert proxy.tripped.is_set() and statuses == [None]
