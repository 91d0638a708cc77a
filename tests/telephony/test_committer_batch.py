"""Group commit in the committer: the steps queued at a moment share one transaction, each is
stored before any of its commands is acted on, acts keep their order, and a failed batch acts on
none of its steps. A real SQLite store, wrapped to count its transactions."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from app.core.commands import Activity, Command
from app.core.states import AgentState
from app.store import AgentRecord, Change, StoreFull
from app.store.sqlite import SQLiteStore
from app.telephony.committer import Committer, Step
from app.telephony.errors import CommitFailed
from app.telephony.metrics import Metrics
from tests.store.test_contract import make_request


class CountingStore(SQLiteStore):
    """Counts real transactions (BEGIN IMMEDIATE … COMMIT traced on the connection), remembers
        which requests are stored, and can be held (`permits`: each call waits for one, and reports
    its number of steps on `arrived` first) or made to fail (`failure`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits = 0  # COMMIT statements SQLite ran: transactions, each one WAL fsync
        self.batches: list[int] = []  # steps per call to the store
        self.stored: set[str] = set()
        self.failure: BaseException | None = None
        self.permits: asyncio.Semaphore | None = None
        self.arrived: asyncio.Queue[int] = asyncio.Queue()

    async def open(self) -> None:
        await super().open()
        await self._conn().set_trace_callback(self._trace)

    def _trace(self, statement: str) -> None:
        if statement == "COMMIT":
            self.commits += 1

    async def commit_many(self, changes: Iterable[Change]) -> None:
        changes = list(changes)
        if self.permits is not None:
            self.arrived.put_nowait(len(changes))
            await self.permits.acquire()
        if self.failure is not None:
            raise self.failure
        await super().commit_many(changes)
        self.batches.append(len(changes))
        self.stored.update(r.id for c in changes for r in c.requests)

    async def commit(self, requests, activities, agents=()):  # type: ignore[no-untyped-def]
        # SQLiteStore.commit is commit_many of one change: counted there, once
        await super().commit(requests, activities, agents)


def step(i: int) -> Step:
    rid = f"r{i}"
    marker = Activity("arrived", rid, at=1000.0 + i)
    agent = AgentRecord(f"a{i % 3}", AgentState.READY, None, 1000.0 + i)
    return Step([make_request(rid, place=(0, 1000.0, i))], [marker], [agent], [marker])


class Harness:
    def __init__(self, store: CountingStore, max_batch: int = 256) -> None:
        self.store = store
        self.acted: list[str] = []
        self.stored_when_acted: list[bool] = []
        self.fatal: list[str] = []
        self.committer = Committer(store, self.act, self.on_fatal, Metrics(), max_batch=max_batch)
        self.committer.retries = (0.0, None)

    def act(self, commands: list[Command]) -> None:
        for c in commands:
            assert isinstance(c, Activity) and c.request_id is not None
            self.acted.append(c.request_id)
            self.stored_when_acted.append(c.request_id in self.store.stored)

    def on_fatal(self, event: str, error: BaseException | None) -> None:
        self.fatal.append(event)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    s = CountingStore(tmp_path / "holdfast.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_steps_queued_together_share_one_transaction_and_are_acted_on_in_order(store: CountingStore) -> None:
    h = Harness(store)
    seqs = [h.committer.put(step(i)) for i in range(20)]  # all queued before the committer runs
    h.committer.start()
    await asyncio.wait_for(h.committer.wait_committed(seqs[-1]), 5.0)
    assert store.batches == [20] and store.commits == 1  # one transaction, one fsync
    assert h.acted == [f"r{i}" for i in range(20)]
    assert all(h.stored_when_acted)
    assert len(await store.load_active_requests()) == 20
    assert [e.request_id for e in await store.events()] == [f"r{i}" for i in range(20)]
    await h.committer.stop()


async def test_max_batch_bounds_a_transaction_and_one_turns_group_commit_off(store: CountingStore) -> None:
    h = Harness(store, max_batch=4)
    for i in range(10):
        h.committer.put(step(i))
    h.committer.start()
    await asyncio.wait_for(h.committer.wait_committed(), 5.0)
    assert store.batches == [4, 4, 2] and store.commits == 3
    await h.committer.stop()

    off = Harness(store, max_batch=1)
    for i in range(10, 15):
        off.committer.put(step(i))
    off.committer.start()
    await asyncio.wait_for(off.committer.wait_committed(), 5.0)
    assert store.batches[3:] == [1] * 5 and store.commits == 3 + 5
    assert off.acted == [f"r{i}" for i in range(10, 15)] and all(off.stored_when_acted)
    await off.committer.stop()


async def test_a_failed_batch_acts_on_none_of_its_steps(store: CountingStore) -> None:
    h = Harness(store)
    first = h.committer.put(step(0))
    h.committer.start()
    await asyncio.wait_for(h.committer.wait_committed(first), 5.0)
    store.failure = StoreFull("database or disk is full (test)")
    seqs = [h.committer.put(step(i)) for i in range(1, 6)]
    for seq in seqs:
        with pytest.raises(CommitFailed):
            await asyncio.wait_for(h.committer.wait_committed(seq), 5.0)
    assert h.fatal == ["store_failed_stopping"]
    assert h.acted == ["r0"]  # none of the failed batch
    assert store.stored == {"r0"} and [r.id for r in await store.load_active_requests()] == ["r0"]
    await h.committer.stop()


async def test_a_waiter_returns_once_its_own_step_is_stored(store: CountingStore) -> None:
    h = Harness(store)
    store.permits = asyncio.Semaphore(0)
    h.committer.start()
    first = h.committer.put(step(0))
    assert await asyncio.wait_for(store.arrived.get(), 5.0) == 1  # step 0 is at the store, held
    later = [h.committer.put(step(i)) for i in range(1, 4)]  # queued behind it: the next batch
    waiter = asyncio.create_task(h.committer.wait_committed(first))
    await asyncio.sleep(0)
    assert not waiter.done()
    store.permits.release()  # step 0 only
    await asyncio.wait_for(waiter, 5.0)
    assert await asyncio.wait_for(store.arrived.get(), 5.0) == 3  # the next batch, still held
    assert h.committer.done_seq == first and h.acted == ["r0"]
    store.permits.release()
    await asyncio.wait_for(h.committer.wait_committed(later[-1]), 5.0)
    assert store.batches == [1, 3] and h.acted == ["r0", "r1", "r2", "r3"]
    await h.committer.stop()


def test_metrics_does_not_import_the_service() -> None:
    """The import circle committer → metrics → service is gone: metrics loads on its own."""
    code = "import sys, app.telephony.metrics; print(sorted(m for m in sys.modules if m.startswith('app.telephony')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['app.telephony', 'app.telephony.metrics']"
