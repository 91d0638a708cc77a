"""A COMMIT whose answer is lost: the connection drops after PostgreSQL received the COMMIT (and
committed) but before the client read the answer. The committer (app/telephony/committer.py
`_commit`) retries a batch on StoreError; the store must not make that retry write the batch's
events a second time (statistics, the pacing's abandon windows and the live page read them), nor
the service's `record_admin` an admin change line. A silent network drop (no reset: the packets
just stop) must neither be waited on forever nor leave the lost transaction open on the server,
where its locks hold up the retry and its COMMIT may still arrive after it.

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import pytest

from app.core.commands import Activity
from app.store import Change, StoreError, StoreIOError
from app.store.postgres import PostgresStore
from tests.store.conftest import POSTGRES_DSN
from tests.store.pg_proxy import PgProxy
from tests.store.test_contract import make_request

T = TypeVar("T")

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

    async def recorded(txid: int, backend: int) -> str | None:
        seen.append(await ask(txid, backend))
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


# ---- a silent network drop: no reset, the packets just stop (proxy mode "blackhole")


async def within(seconds: float, proxy: PgProxy, work: Awaitable[T]) -> T:
    """`work`'s result; a test failure (not a hang) when it is still waiting after `seconds`."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task}, timeout=seconds)
    if not task.done():
        await proxy.close()  # every connection ends: what waited on one is let go
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        pytest.fail(f"still waiting after {seconds} s: a silent connection is waited on forever")
    return task.result()


def cut_off_soon(store: PostgresStore, proxy: PgProxy) -> asyncio.Task[None]:
    """The lost transaction is given up after 2 s; the retries keep the usual limit (the append
    lock is one for the whole database, and other tests may hold it for a moment)."""
    store.commit_timeout = 2.0

    async def usual_limit_once_tripped() -> None:
        await proxy.tripped.wait()
        store.commit_timeout = 30.0

    return asyncio.create_task(usual_limit_once_tripped())


async def test_a_commit_lost_in_a_silent_network_drop_is_given_up_and_stored_once(
    store: PostgresStore, proxy: PgProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = record_statuses(store, monkeypatch)
    tripped = cut_off_soon(store, proxy)
    proxy.arm("blackhole")  # the COMMIT never arrives (until the retry writes); nobody hears anything
    errors = await within(8, proxy, commit_as_the_committer_does(store, a_batch()))
    await tripped
    assert proxy.tripped.is_set()
    assert statuses == ["aborted"]  # the open transaction was ended before deciding
    assert [type(e) for e in errors] == [StoreIOError]
    assert [(e.kind, e.request_id) for e in await store.events()] == [("arrived", "r1"), ("arrived", "r2")]


async def test_a_commit_still_in_the_network_when_the_client_gives_up_is_not_stored_twice(
    store: PostgresStore, proxy: PgProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = record_statuses(store, monkeypatch)
    proxy.arm("blackhole")

    async def the_client_gives_up() -> None:
        await proxy.tripped.wait()
        proxy.give_up()  # the client's connection fails; the server's transaction is still open

    giving_up = asyncio.create_task(the_client_gives_up())
    errors = await within(8, proxy, commit_as_the_committer_does(store, a_batch()))
    await giving_up
    kinds = [(e.kind, e.request_id) for e in await store.events()]
    assert kinds == [("arrived", "r1"), ("arrived", "r2")], "stored twice"
    assert statuses == ["aborted"]  # in progress at first; ended, then known
    assert [type(e) for e in errors] == [StoreIOError]


async def test_a_commit_without_events_lost_in_a_silent_network_drop_does_not_hold_up_its_retry(
    store: PostgresStore, proxy: PgProxy
) -> None:
    """Nothing to store twice, but the lost transaction's row locks would hold every retry up."""
    tripped = cut_off_soon(store, proxy)
    store.busy_timeout = 1.0  # (the retry's lock_timeout: a held-up retry fails fast)
    proxy.arm("blackhole")
    proxy.heals = False  # the COMMIT never arrives: the server's transaction stays open, holding r1
    errors = await within(8, proxy, commit_as_the_committer_does(store, [Change([make_request("r1")], [])]))
    await tripped
    assert [type(e) for e in errors] == [StoreIOError]
    assert [r.id for r in await store.load_active_requests()] == ["r1"]


async def test_a_transaction_lost_in_a_silent_network_drop_before_its_commit_does_not_hold_up_its_retry(
    store: PostgresStore, proxy: PgProxy
) -> None:
    """Never committed, but still open on the server: its locks would hold every retry up."""
    tripped = cut_off_soon(store, proxy)
    store.busy_timeout = 1.0  # (the retry's lock_timeout: a held-up retry fails fast)
    proxy.arm("blackhole", at=b"INSERT INTO events")  # after the requests' upsert and the append lock
    proxy.heals = False
    errors = await within(8, proxy, commit_as_the_committer_does(store, a_batch()))
    await tripped
    assert [type(e) for e in errors] == [StoreIOError]
    assert [(e.kind, e.request_id) for e in await store.events()] == [("arrived", "r1"), ("arrived", "r2")]


# ---- the admin change log (app/telephony/service.py `record_admin` retries on StoreError)


async def append_admin_as_the_service_does(store: PostgresStore) -> tuple[int, list[StoreError]]:
    errors: list[StoreError] = []
    for _ in range(3):
        try:
            return await store.append_admin(1000.0, "alice", "remove_callback", "r1", {"reason": "asked"}), errors
        except StoreError as error:
            errors.append(error)
    raise AssertionError(f"still failing after retries: {errors}")


async def test_an_admin_entry_whose_answer_is_lost_is_kept_once_and_its_id_returned(
    store: PostgresStore, proxy: PgProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.arm("lose_answer")
    with caplog.at_level(logging.WARNING, logger="app.store.postgres"):
        entry_id, errors = await append_admin_as_the_service_does(store)
    assert proxy.tripped.is_set()
    assert [(e.id, e.who, e.action) for e in await store.admin_log()] == [(entry_id, "alice", "remove_callback")]
    assert errors == []  # it was stored: the admin is not told otherwise
    assert "commit_answer_lost_but_committed" in caplog.text


async def test_an_admin_entry_that_never_reached_the_server_is_an_error_and_retried(
    store: PostgresStore, proxy: PgProxy
) -> None:
    proxy.arm("drop")
    entry_id, errors = await append_admin_as_the_service_does(store)
    assert [type(e) for e in errors] == [StoreIOError]
    assert [(e.id, e.who) for e in await store.admin_log()] == [(entry_id, "alice")]


async def test_an_admin_entry_lost_in_a_silent_network_drop_is_given_up_and_kept_once(
    store: PostgresStore, proxy: PgProxy
) -> None:
    tripped = cut_off_soon(store, proxy)
    proxy.arm("blackhole")
    entry_id, errors = await within(8, proxy, append_admin_as_the_service_does(store))
    await tripped
    assert [type(e) for e in errors] == [StoreIOError]
    assert [(e.id, e.who) for e in await store.admin_log()] == [(entry_id, "alice")]
