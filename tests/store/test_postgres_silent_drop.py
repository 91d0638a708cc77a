"""A silent network drop (no reset: the packets just stop) while the store reads, or while the pool
sets a connection up: the call must fail after the store's limit with an error saying so (the
engine, the live page and the notifications worker handle StoreIOError), not wait forever: a
service frozen on one read looks alive (/healthz) and does nothing. The two looked-up writes have
their own limit (test_postgres_ambiguous_commit.py); here also the look-up itself.

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from app.store import Change, StoreIOError
from app.store.postgres import PostgresStore
from tests.store.conftest import POSTGRES_DSN
from tests.store.pg_proxy import PgProxy
from tests.store.test_contract import make_request
from tests.store.test_postgres_ambiguous_commit import record_statuses, within

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")

LIMIT = 2.0  # the store's limit in these tests
BOUND = 15.0  # the test's: well past the limit, so a missing limit fails the test instead of hanging it


@pytest.fixture
async def proxy() -> AsyncIterator[PgProxy]:
    assert POSTGRES_DSN is not None
    p = PgProxy(POSTGRES_DSN)
    await p.start()
    p.heals = False  # what is lost in the network stays lost
    yield p
    await p.close()


@pytest.fixture
async def store(proxy: PgProxy) -> AsyncIterator[PostgresStore]:
    from app.store.postgres import drop_schema

    assert POSTGRES_DSN is not None
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    s = PostgresStore(proxy.dsn, schema=schema)
    await s.open()  # (the migrations at open keep no limit: a big table's may take long)
    s.transaction_timeout = LIMIT
    yield s
    await s.close()
    await proxy.close()  # a transaction still open (a failing test) would hold up the schema's drop
    await drop_schema(POSTGRES_DSN, schema)


async def test_a_read_lost_in_a_silent_network_drop_fails_after_the_limit(store: PostgresStore, proxy: PgProxy) -> None:
    await store.commit_many([Change([make_request("r1")], [])])
    proxy.arm("blackhole", at=b"FROM requests WHERE id")  # load_request's query never arrives
    with pytest.raises(StoreIOError, match=f"PostgreSQL did not answer within {LIMIT:g} s"):
        await within(BOUND, proxy, store.load_request("r1"))
    assert proxy.tripped.is_set()
    loaded = await within(BOUND, proxy, store.load_request("r1"))  # the next call has a fresh connection
    assert loaded is not None and loaded.id == "r1"


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh connection", "pooled connection"])
async def test_a_connection_set_up_in_a_silent_network_drop_fails_after_the_limit(
    store: PostgresStore, proxy: PgProxy, fresh: bool
) -> None:
    if fresh:  # the pool's connections are replaced: the next acquire connects anew
        assert store._pool is not None
        await store._pool.expire_connections()
    proxy.arm("blackhole", at=b"SET search_path")  # the pool's setup on acquire (_setup_connection)
    with pytest.raises(StoreIOError, match=f"PostgreSQL did not answer within {LIMIT:g} s"):
        await within(BOUND, proxy, store.load_active_requests())
    assert proxy.tripped.is_set()
    assert await within(BOUND, proxy, store.load_active_requests()) == []


async def test_the_look_up_of_a_lost_commit_has_a_limit_too(
    store: PostgresStore, proxy: PgProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The COMMIT is lost in a silent drop, then so is the look-up on its fresh connection: the
    write fails (the committer retries) instead of waiting on the look-up forever."""
    statuses = record_statuses(store, monkeypatch)
    store.commit_timeout = LIMIT  # (no events: no wait for the database-wide append lock)

    async def the_look_up_is_lost_too() -> None:
        await proxy.tripped.wait()
        proxy.arm("blackhole", at=b"txid_status")

    looking = asyncio.create_task(the_look_up_is_lost_too())
    proxy.arm("blackhole")
    with pytest.raises(StoreIOError, match=f"PostgreSQL did not answer within {LIMIT:g} s"):
        await within(BOUND, proxy, store.commit_many([Change([make_request("r1")], [])]))
    looking.cancel()
    assert statuses == [None]  # the look-up was cut off: the outcome is not known


TERMINATE = b"X\x00\x00\x00\x04"  # the Terminate message (type X, length 4): a connection's goodbye


async def test_closing_a_store_whose_connections_went_silent_ends_after_the_limit(
    store: PostgresStore, proxy: PgProxy
) -> None:
    """A service that fails to start (e.g. a read cut off as above) closes its store on the way
    out: an idle pooled connection's goodbye lost in the network must not hold the exit forever."""
    store.commit_timeout = LIMIT
    assert await store.load_active_requests() == []  # the pool holds an idle connection
    proxy.arm("blackhole", at=TERMINATE)
    await within(BOUND, proxy, store.close())
    assert proxy.tripped.is_set()
