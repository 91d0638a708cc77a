"""A write (or a leader's fenced read) lost in a silent network drop after it took its row locks:
the client cuts its connection off after its limit (test_postgres_silent_drop.py), but the server
hears nothing of that. Its side of the transaction must not stay open holding those locks until
the server's TCP notices the dead client (hours with default kernel settings): a standby could not
take the leadership lease over (every try StoreBusy) and the centre would have no working node;
a retry of the write would be held up the same way.

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from app.store import StoreBusy, StoreIOError
from app.store.lease import Lease
from app.store.postgres import PostgresStore, drop_schema
from tests.store.conftest import POSTGRES_DSN
from tests.store.pg_proxy import PgProxy
from tests.store.test_postgres_ambiguous_commit import within

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")

LIMIT = 2.0  # the leader's transaction limit in these tests
IDLE = 1.0  # the server's: a session idle inside a transaction this long is ended
BOUND = LIMIT + 8.0  # the test's, from the drop: a stale lock left for the server's TCP fails it
TTL = 1.0


@pytest.fixture
async def proxy() -> AsyncIterator[PgProxy]:
    assert POSTGRES_DSN is not None
    p = PgProxy(POSTGRES_DSN)
    await p.start()
    p.heals = False  # what is lost in the network stays lost
    yield p
    await p.close()


@pytest.fixture
async def nodes(proxy: PgProxy) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """The leader, through the proxy, and a standby on a direct connection, on one schema."""
    assert POSTGRES_DSN is not None
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    leader = PostgresStore(proxy.dsn, schema=schema)
    leader.idle_in_transaction_timeout = IDLE
    standby = PostgresStore(POSTGRES_DSN, schema=schema, busy_timeout=0.5)
    await leader.open()
    await standby.open()
    leader.transaction_timeout = LIMIT
    yield leader, standby
    await standby.close()
    await leader.close()
    await proxy.close()  # a transaction still open (a failing test) would hold up the schema's drop
    await drop_schema(POSTGRES_DSN, schema)


async def taken_over(standby: PostgresStore, since: float) -> Lease:
    """As a standby does (Leadership.wait_for_lease): try until the lease is ours; a test failure
    once BOUND has passed since the drop."""
    busy = 0
    while True:
        try:
            lease = await standby.acquire_lease("standby:2:b", TTL, time.time())
        except StoreBusy:  # the lease row is locked
            busy += 1
            lease = None
        if lease is not None:
            return lease
        if time.monotonic() - since > BOUND:
            pytest.fail(f"the standby could not take the lease within {BOUND:g} s of the drop ({busy} tries StoreBusy)")


async def a_renewal(leader: PostgresStore, lease: Lease) -> object:
    return await leader.refresh_lease(lease, TTL, time.time())


async def a_fenced_read(leader: PostgresStore, lease: Lease) -> object:
    leader.fence(lease)  # its every transaction first reads the lease row FOR SHARE
    return await leader.load_request("r1")


LOST = {
    "lease renewal": (a_renewal, None),  # its COMMIT is lost
    "fenced read": (a_fenced_read, b"FROM requests WHERE id"),  # its read is lost, after the fence check
}


@pytest.mark.parametrize("lost", list(LOST))
async def test_a_standby_takes_the_lease_over_after_the_leaders_transaction_was_lost_in_a_silent_drop(
    nodes: tuple[PostgresStore, PostgresStore], proxy: PgProxy, lost: str
) -> None:
    leader, standby = nodes
    lease = await leader.acquire_lease("leader:1:a", TTL, time.time())
    assert lease is not None
    work, at = LOST[lost]
    proxy.arm("blackhole", at=at)
    dropped = time.monotonic()
    with pytest.raises(StoreIOError, match=f"PostgreSQL did not answer within {LIMIT:g} s"):
        await within(BOUND, proxy, work(leader, lease))
    assert proxy.tripped.is_set()
    # The leader's lease expires (it stepped down): the standby must get the row within the bound.
    taken = await within(BOUND + 5.0, proxy, taken_over(standby, dropped))
    assert taken.owner == "standby:2:b" and taken.epoch == lease.epoch + 1


async def test_a_write_lost_in_a_silent_drop_does_not_hold_up_its_retry(
    nodes: tuple[PostgresStore, PostgresStore], proxy: PgProxy
) -> None:
    """The instance lock's renewal (a plain write, not looked up) is cut off; the next renewal, on a
    fresh connection, must not meet the lost one's row lock until the server's TCP gives up."""
    leader, _ = nodes
    leader.busy_timeout = 0.5
    assert await leader.acquire_lock("leader:1:a", 30.0, time.time())
    proxy.arm("blackhole")  # the renewal's COMMIT is lost
    dropped = time.monotonic()
    with pytest.raises(StoreIOError, match=f"PostgreSQL did not answer within {LIMIT:g} s"):
        await within(BOUND, proxy, leader.refresh_lock("leader:1:a", 30.0, time.time()))

    async def retried() -> bool:
        while True:
            try:
                return await leader.refresh_lock("leader:1:a", 30.0, time.time())
            except StoreBusy:
                if time.monotonic() - dropped > BOUND:
                    pytest.fail(f"the retry met the lost write's row lock for over {BOUND:g} s")

    assert await within(BOUND + 5.0, proxy, retried())
