"""The leadership lease and its fencing token on PostgreSQL (app/store/lease.py).

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from app.core.commands import Activity
from app.store.lease import FencedOut
from app.store.postgres import PostgresStore, drop_schema
from tests.store.conftest import POSTGRES_DSN
from tests.store.test_contract import make_request

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")


Nodes = Callable[[], Awaitable[PostgresStore]]
TTL = 3.0


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    """Opens stores on one shared schema: each is a node of the same deployment."""
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    opened: list[PostgresStore] = []

    async def make() -> PostgresStore:
        assert POSTGRES_DSN is not None
        s = PostgresStore(POSTGRES_DSN, schema=schema, busy_timeout=5.0)
        await s.open()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()
    assert POSTGRES_DSN is not None
    await drop_schema(POSTGRES_DSN, schema)


def activity(kind: str, at: float = 100.0) -> Activity:
    return Activity(kind=kind, at=at)


async def test_two_contenders_exactly_one_leader(nodes: Nodes) -> None:
    stores = [await nodes() for _ in range(4)]
    won = await asyncio.gather(*(s.acquire_lease(f"node{i}", TTL, 100.0) for i, s in enumerate(stores)))
    leaders = [lease for lease in won if lease is not None]
    assert len(leaders) == 1
    assert leaders[0].epoch == 1
    holder = await stores[0].lease_holder()
    assert holder is not None and holder.owner == leaders[0].owner and holder.epoch == 1


async def test_a_held_lease_is_refused_until_it_expires_then_handed_over_with_a_new_epoch(nodes: Nodes) -> None:
    a, b = await nodes(), await nodes()
    first = await a.acquire_lease("a", TTL, 100.0)
    assert first is not None and first.epoch == 1
    assert await b.acquire_lease("b", TTL, 100.0 + TTL - 0.01) is None  # still a's
    again = await a.acquire_lease("a", TTL, 101.0)  # ours: kept, same epoch, extended
    assert again is not None and again.epoch == 1 and again.expires_at == 101.0 + TTL
    second = await b.acquire_lease("b", TTL, 101.0 + TTL)  # expired: b takes it
    assert second is not None and second.owner == "b" and second.epoch == 2
    assert await a.refresh_lease(again, TTL, 105.0) is None  # a learns it lost it
    refreshed = await b.refresh_lease(second, TTL, 105.0)
    assert refreshed is not None and refreshed.epoch == 2 and refreshed.expires_at == 105.0 + TTL


async def test_a_released_lease_is_taken_at_once_with_a_higher_epoch(nodes: Nodes) -> None:
    a, b = await nodes(), await nodes()
    first = await a.acquire_lease("a", TTL, 100.0)
    assert first is not None
    await a.release_lease(first, 100.5)
    second = await b.acquire_lease("b", TTL, 100.5)
    assert second is not None and second.epoch == 2
    third = await a.acquire_lease("a", TTL, 200.0)  # a comes back after b's lease expired
    assert third is not None and third.epoch == 3


async def test_a_stale_epochs_commit_is_refused_and_writes_nothing(nodes: Nodes) -> None:
    old, new = await nodes(), await nodes()
    old_lease = await old.acquire_lease("old", TTL, 100.0)
    assert old_lease is not None
    old.fence(old_lease)
    await old.commit([make_request("r1")], [activity("before")])  # current epoch: written
    new_lease = await new.acquire_lease("new", TTL, 100.0 + TTL)  # old froze past its lease
    assert new_lease is not None
    new.fence(new_lease)

    with pytest.raises(FencedOut, match=r"epoch 1.*held by new \(epoch 2\)"):
        await old.commit([make_request("r2")], [activity("after")])
    with pytest.raises(FencedOut):
        await old.append_admin(101.0, "someone", "pause")

    assert [r.id for r in await new.load_active_requests()] == ["r1"]
    assert [e.kind for e in await new.events()] == ["before"]
    assert await new.admin_log() == []
    await new.commit([make_request("r3")], [activity("new leader")])  # the new epoch writes
    assert [e.kind for e in await new.events()] == ["before", "new leader"]


async def test_a_commit_in_flight_during_a_takeover_is_either_in_before_it_or_refused(nodes: Nodes) -> None:
    """The fence's row lock orders a commit against a takeover: the takeover waits for a commit
    that passed the check, and the new leader then sees all of it."""
    old, new = await nodes(), await nodes()
    old_lease = await old.acquire_lease("old", TTL, 100.0)
    assert old_lease is not None
    old.fence(old_lease)
    async with old._transaction() as conn:  # passed the fence check, not committed yet
        await conn.execute("INSERT INTO events (at, kind, data) VALUES (1, 'in flight', '{}'::jsonb)")
        takeover = asyncio.ensure_future(new.acquire_lease("new", TTL, 100.0 + TTL))
        done, _ = await asyncio.wait([takeover], timeout=0.5)
        assert not done, "the takeover must wait for a commit that holds the current epoch"
    new_lease = await takeover
    assert new_lease is not None and new_lease.epoch == 2
    assert [e.kind for e in await new.events()] == ["in flight"]
    with pytest.raises(FencedOut):
        await old.commit([], [activity("late")])


async def test_an_unfenced_store_is_not_checked(nodes: Nodes) -> None:
    """A tool (contacts import) or a single node without leadership writes as before."""
    a, tool = await nodes(), await nodes()
    assert await a.acquire_lease("a", TTL, 100.0) is not None
    await tool.commit([], [activity("from a tool")])
    assert [e.kind for e in await a.events()] == ["from a tool"]
