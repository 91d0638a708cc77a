"""Leadership (app/telephony/leadership.py) and the committer on a fenced PostgreSQL store: a
deposed leader's first commit stops it at once (never retried, never acted on); a standby takes
the lease once the leader's expires; a leader that finds its lease taken stops itself.

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from app.core.commands import Activity, Command
from app.store.lease import FencedOut
from app.telephony import leadership as leadership_module
from app.telephony.committer import Committer, Step
from app.telephony.leadership import Leadership
from app.telephony.metrics import Metrics
from tests.store.conftest import POSTGRES_DSN
from tests.store.test_lease import Nodes, nodes  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")


async def test_a_deposed_leaders_commit_stops_it_at_once_and_nothing_is_acted_on(nodes: Nodes) -> None:  # noqa: F811
    old, new = await nodes(), await nodes()
    lease = await old.acquire_lease("old", 3.0, 100.0)
    assert lease is not None
    old.fence(lease)
    assert await new.acquire_lease("new", 3.0, 104.0) is not None

    acted: list[list[Command]] = []
    fatal: list[tuple[str, BaseException | None]] = []
    committer = Committer(old, acted.append, lambda why, error: fatal.append((why, error)), Metrics())
    committer.retries = (5.0, 5.0, None)  # a retry would show as a 5 s wait: there must be none
    committer.start()
    started = time.monotonic()
    committer.put(Step([], [Activity(kind="too late", at=105.0)], [], [Activity(kind="too late", at=105.0)]))
    async with asyncio.timeout(3):
        while not fatal:
            await asyncio.sleep(0.01)
    assert time.monotonic() - started < 3
    assert fatal[0][0] == "fenced_out_stopping" and isinstance(fatal[0][1], FencedOut)
    assert acted == []
    assert await new.events() == []
    await committer.stop()


async def test_a_standby_takes_over_when_the_leader_stops_refreshing_and_the_leader_stops_itself(
    nodes: Nodes,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(leadership_module, "LEASE_TTL", 0.6)
    monkeypatch.setattr(leadership_module, "REFRESH_EVERY", 0.15)
    monkeypatch.setattr(leadership_module, "POLL_EVERY", 0.05)
    a_store, b_store = await nodes(), await nodes()
    a_lost, b_lost = asyncio.Event(), asyncio.Event()
    registry = CollectorRegistry()
    a = Leadership(a_store, time.time, a_lost.set, registry)
    b = Leadership(b_store, time.time, b_lost.set, CollectorRegistry())
    await a.acquire()
    assert a.lease is not None and a.lease.epoch == 1
    assert registry.get_sample_value("holdfast_leader") == 1.0

    shown: list[str | None] = []
    waiting = asyncio.ensure_future(b.wait_for_lease(shown.append))
    await asyncio.sleep(1.0)  # several ttls: a keeps refreshing, so b must still be waiting
    assert not waiting.done() and not a_lost.is_set()
    assert shown and shown[-1] is not None and f"held by {':'.join(a.owner.split(':')[:2])}, epoch 1" in shown[-1]

    assert a.task is not None
    a.task.cancel()  # a freezes: no more refreshes (its fence stays)
    lease = await asyncio.wait_for(waiting, 3)
    assert lease.epoch == 2 and b_store.fencing == lease
    with pytest.raises(FencedOut):
        await a_store.commit([], [Activity(kind="late", at=1.0)])

    a._task = None
    a._start_keeping()  # a thaws: its next refresh finds the lease taken
    await asyncio.wait_for(a_lost.wait(), 3)
    assert registry.get_sample_value("holdfast_leader") == 0.0
    await b.release()
    await a.release()
