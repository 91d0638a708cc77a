"""The PostgreSQL writes that are NOT looked up after an ambiguous COMMIT, each retried as its caller
retries it: the write committed, but its caller saw StoreIOError (the COMMIT's answer lost, or the
connection cut in the pool's reset after the COMMIT) and went again. `commit_many` and
`append_admin` look their transaction up instead (test_postgres_ambiguous_commit.py).

The audit found two writes that would double when repeated, and neither is repeated by its caller:
- `notification_retry` counts a try (`attempts + 1`, the row stays pending): the worker does not
  record a try's outcome twice; after the refusal it reads the due rows afresh.
- `add_login_failures` inserts unkeyed rows: `StoredFailures.flush` logs the refusal and keeps
  the failures only in memory.
Every other write repeats to the same rows (upserts to the same value, conditional updates,
deletes); the lease's epoch in particular is not taken twice by a standby's retry.

Runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from prometheus_client import CollectorRegistry

from app.config.notifications import RetryPolicy
from app.notify.channels import Retry
from app.notify.worker import OutboxWorker
from app.store import Change, StoreError, StoreIOError
from app.store.login_failures import LoginFailure
from app.store.outbox_records import Notification
from app.store.postgres import PostgresStore, drop_schema
from app.telephony.leadership import Leadership
from app.web.login_guard import StoredFailures
from tests.store.conftest import POSTGRES_DSN
from tests.store.pg_proxy import PgProxy
from tests.store.test_postgres_ambiguous_commit import within

T = TypeVar("T")

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")

NOW = 1_700_000_000.0
# The two ways a committed write reaches its caller as StoreIOError: the bytes the proxy acts on.
LOST = {
    "commit_answer_lost": None,  # the COMMIT reaches the server; its answer never reaches the client
    "cut_in_pool_reset": b"RESET ALL",  # the COMMIT is answered; the pool's reset on release is cut off
}

Lose = Callable[[], None]


@pytest.fixture
async def proxy() -> AsyncIterator[PgProxy]:
    assert POSTGRES_DSN is not None
    p = PgProxy(POSTGRES_DSN)
    await p.start()
    yield p
    await p.close()


@pytest.fixture
async def store(proxy: PgProxy) -> AsyncIterator[PostgresStore]:
    assert POSTGRES_DSN is not None
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    s = PostgresStore(proxy.dsn, schema=schema)
    await s.open()
    yield s
    await s.close()
    await proxy.close()  # a transaction still open (a failing test) would hold up the schema's drop
    await drop_schema(POSTGRES_DSN, schema)


@pytest.fixture(params=sorted(LOST))
def lose(request: pytest.FixtureRequest, proxy: PgProxy) -> Lose:
    """Arms the proxy: the next write's transaction commits, and its caller gets StoreIOError."""
    at = LOST[request.param]
    return lambda: proxy.arm("lose_answer", at=at)


async def retried(call: Callable[[], Awaitable[T]]) -> tuple[T, list[StoreError]]:
    """`call`, and once more after a StoreError, as the callers retry; its result and the errors met."""
    errors: list[StoreError] = []
    for _ in range(2):
        try:
            return await call(), errors
        except StoreError as error:
            errors.append(error)
    raise AssertionError(f"still failing after a retry: {errors}")


async def until(done: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Waits for the worker's own counters: reading the store meanwhile would be a COMMIT the
    proxy could act on instead of the one under test."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.02)


# ---- the two writes that double when repeated: their callers do not repeat them


class FlakyChannel:
    """Refuses its first `refusals` tries (a delivery error: tried again later), then takes them;
    each try waits for `gate` (see `worker_with`)."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.tries: list[str] = []
        self.gate = asyncio.Event()

    async def deliver(self, session: object, notification: Notification) -> None:
        await self.gate.wait()
        self.tries.append(notification.id)
        if len(self.tries) <= self.refusals:
            raise Retry("gateway busy")


def a_notification(key: str) -> Notification:
    now = time.time()
    return Notification(key, now, "closed", "sms", f"r-{key}", "support", now + 60, {"to": "+4520123456"})


def worker_with(store: PostgresStore, channel: FlakyChannel) -> OutboxWorker:
    """A worker whose tries start once its loop has done its first round's reads: the proxy acts
    on the next COMMIT of ANY transaction, and the try's record must be the one."""
    policy = RetryPolicy.model_validate({"first_delay": 0.05, "max_delay": 0.2, "expire_after": 60})
    worker = OutboxWorker(store, {"sms": channel}, policy, time.time)
    worker.store_retries = (0.05, 0.05, 0.05, None)
    last_read = store.next_notification_at  # a round's last read: then the loop sleeps until woken

    async def then_open_the_gate(after: float | None = None) -> float | None:
        try:
            return await last_read(after)
        finally:
            channel.gate.set()

    store.next_notification_at = then_open_the_gate  # type: ignore[method-assign]
    return worker


def lose_during(store: PostgresStore, method: str, lose: Lose, proxy: PgProxy) -> list[BaseException]:
    """The first call of the store's `method` commits, and its caller gets StoreIOError; returns
    what that call raised (StoreIOError, unless the proxy acted on another transaction's COMMIT)."""
    original = getattr(store, method)
    raised: list[BaseException] = []

    async def armed(*args: object) -> None:
        if proxy.tripped.is_set():
            await original(*args)
            return
        lose()
        try:
            await original(*args)
        except BaseException as error:
            raised.append(error)
            raise

    setattr(store, method, armed)
    return raised


async def test_a_failed_try_whose_record_is_lost_counts_one_attempt(
    store: PostgresStore, proxy: PgProxy, lose: Lose
) -> None:
    """notification_retry adds 1 to attempts and leaves the row pending: repeated, it would count
    the try twice (and push the back-off on). The worker records each try's outcome once."""
    await store.commit_many([Change(notifications=[a_notification("n1")])])
    channel = FlakyChannel(refusals=1)
    worker = worker_with(store, channel)
    raised = lose_during(store, "notification_retry", lose, proxy)
    worker.start()
    try:
        await until(lambda: worker.delivered >= 1, "n1 delivered on its second try")
    finally:
        await worker.stop()
    [row] = await store.notifications()
    assert channel.tries == ["n1", "n1"]
    assert row.attempts == 2, "the refused try was counted twice"
    assert [type(e) for e in raised] == [StoreIOError]  # the first try's record went unanswered


async def test_a_delivery_whose_record_is_lost_is_not_sent_again(
    store: PostgresStore, proxy: PgProxy, lose: Lose
) -> None:
    """notification_delivered is conditional (state = pending): the worker's next round reads the
    row delivered and sends nothing twice."""
    await store.commit_many([Change(notifications=[a_notification("n1")])])
    channel = FlakyChannel()
    worker = worker_with(store, channel)
    raised = lose_during(store, "notification_delivered", lose, proxy)
    worker.start()
    try:
        await asyncio.wait_for(proxy.tripped.wait(), 10)
        # A later row is delivered in a round after the refused record: one that read n1 again.
        await store.commit_many([Change(notifications=[a_notification("n2")])])
        worker.wake()
        await until(lambda: worker.delivered >= 1, "n2 delivered (n1's record was refused: not counted)")
    finally:
        await worker.stop()
    assert [type(e) for e in raised] == [StoreIOError]  # n1's record went unanswered
    assert channel.tries == ["n1", "n2"], "n1 was sent twice"
    assert {r.id: (r.state, r.attempts) for r in await store.notifications()} == {
        "n1": ("delivered", 1),
        "n2": ("delivered", 1),
    }


async def test_wrong_passwords_whose_write_answer_is_lost_are_stored_once(
    store: PostgresStore, proxy: PgProxy, lose: Lose
) -> None:
    """add_login_failures inserts rows without a key: repeated, each wrong password would count
    twice after a restart. StoredFailures does not write a refused batch again."""
    stored = StoredFailures(store, window=600.0)
    stored.add(LoginFailure("eva", "10.0.0.1", NOW))
    stored.add(LoginFailure("eva", "10.0.0.1", NOW + 1))
    lose()
    await stored.flush()  # refused (logged); the failures stay counted in memory only
    stored.add(LoginFailure("eva", "10.0.0.1", NOW + 2))
    await stored.close()  # the next write: what is pending now
    assert proxy.tripped.is_set()
    assert [f.at for f in await store.login_failures(NOW - 1)] == [NOW, NOW + 1, NOW + 2]


# ---- the lease: a standby's retried take-over is one leadership


async def test_a_standby_retrying_a_take_over_whose_answer_is_lost_gets_one_epoch(
    store: PostgresStore, proxy: PgProxy, lose: Lose
) -> None:
    """acquire_lease increments the epoch when it takes the lease from someone else. Its answer
    lost, the standby polls again (Leadership.wait_for_lease): the row is ours and unexpired
    then, so the same leadership (epoch) comes back, not a second one."""
    assert await store.acquire_lease("old-leader:1:x", ttl=3.0, now=time.time() - 10) is not None  # expired
    standby = Leadership(store, time.time, on_lost=lambda: None, registry=CollectorRegistry())
    lose()
    lease = await within(10, proxy, standby.wait_for_lease())
    assert proxy.tripped.is_set()
    holder = await store.lease_holder()
    assert holder is not None and holder.owner == standby.owner
    assert (lease.epoch, holder.epoch) == (2, 2), "the take-over was counted twice"


async def test_a_lease_refresh_whose_answer_is_lost_is_still_the_same_leadership(
    store: PostgresStore, proxy: PgProxy, lose: Lose
) -> None:
    lease = await store.acquire_lease("leader:1:x", ttl=3.0, now=NOW)
    assert lease is not None
    lose()
    refreshed, errors = await retried(lambda: store.refresh_lease(lease, 3.0, NOW + 1))
    assert proxy.tripped.is_set() and [type(e) for e in errors] == [StoreIOError]
    assert refreshed is not None and (refreshed.epoch, refreshed.expires_at) == (1, NOW + 4)


# ---- the other writes, each retried once after a lost answer: one effect


async def contacts_upload(store: PostgresStore, lose: Lose) -> list[StoreError]:
    """A client uploading the same CSV again after the 503 (campaigns.py upload_contacts)."""
    rows = [(f"+452010000{i}", f"n{i}", '{"a": "1"}', None, None) for i in range(3)]
    lose()
    counts, errors = await retried(lambda: store.import_contacts("c1", rows, NOW))
    # The retry finds them all there: its answer says 0 new, 3 merged (the upload's report).
    assert (counts.inserted, counts.merged) == (0, 3)
    contacts = await store.list_contacts("c1")
    assert [(c.number, dict(c.fields)) for c in contacts] == [(r[0], {"a": "1"}) for r in rows]
    return errors


async def dnc_addition(store: PostgresStore, lose: Lose) -> list[StoreError]:
    lose()
    added, errors = await retried(lambda: store.dnc_add("c1", [("+4520100001", False), ("+4599", True)], NOW, "eva"))
    assert added == 0  # the retry's count: the API answers "0 new"
    assert [(e.entry, e.is_prefix) for e in await store.dnc_list("c1")] == [("+4520100001", False), ("+4599", True)]
    return errors


async def dnc_removal(store: PostgresStore, lose: Lose) -> list[StoreError]:
    await store.dnc_add("c1", [("+4520100001", False), ("+4599", True)], NOW, "eva")
    lose()
    removed, errors = await retried(lambda: store.dnc_remove("c1", [("+4520100001", False), ("+4599", True)]))
    assert removed == 0  # the retry's count: the API answers "0 there" and tells the engine nothing
    assert await store.dnc_list("c1") == []
    return errors


async def campaign_state(store: PostgresStore, lose: Lose) -> list[StoreError]:
    lose()
    _, errors = await retried(lambda: store.set_campaign_state("c1", "paused", NOW, "eva"))
    assert [(s.campaign, s.state) for s in await store.campaign_states()] == [("c1", "paused")]
    return errors


async def campaign_definition(store: PostgresStore, lose: Lose) -> list[StoreError]:
    lose()
    _, errors = await retried(lambda: store.save_campaign_def("c9", {"queue": "support"}, NOW, "eva"))
    assert [(d.campaign, d.definition, d.created_at) for d in await store.campaign_defs()] == [
        ("c9", {"queue": "support"}, NOW)
    ]
    return errors


async def campaign_deletion(store: PostgresStore, lose: Lose) -> list[StoreError]:
    await store.save_campaign_def("c9", {"queue": "support"}, NOW, "eva")
    await store.set_campaign_state("c9", "stopped", NOW, "eva")
    lose()
    deleted, errors = await retried(lambda: store.delete_campaign_def("c9"))
    # The retry finds nothing to delete, and the stored state went with the first: the API's own
    # retry of DELETE is refused before this ("not stopped"; campaign_crud.delete_campaign).
    assert deleted is False
    assert await store.campaign_defs() == [] and await store.campaign_states() == []
    return errors


async def session_revocation(store: PostgresStore, lose: Lose) -> list[StoreError]:
    lose()
    _, errors = await retried(lambda: store.revoke_session("s1", "eva", NOW + 3600, NOW))
    assert await store.revoked_sessions(NOW) == {"s1": NOW + 3600}
    return errors


async def instance_lock(store: PostgresStore, lose: Lose) -> list[StoreError]:
    lose()
    taken, errors = await retried(lambda: store.acquire_lock("me:1:x", ttl=30.0, now=NOW))
    holder = await store.lock_holder()
    assert taken and holder is not None and (holder.owner, holder.acquired_at) == ("me:1:x", NOW)
    return errors


async def claims_released(store: PostgresStore, lose: Lose) -> list[StoreError]:
    await store.import_contacts("c1", [("+4520100001", "n", "{}", None, None)], NOW)
    [contact] = await store.list_contacts("c1")
    async with store._transaction() as conn:  # claimed by the engine before a restart
        await conn.execute("UPDATE contacts SET state = 'claimed', attempts = 1")
    lose()
    _, errors = await retried(lambda: store.release_claimed(None, []))
    [again] = await store.list_contacts("c1")
    assert (again.contact_id, again.state, again.attempts) == (contact.contact_id, "scheduled", 1)
    return errors


IDEMPOTENT = [
    contacts_upload,
    dnc_addition,
    dnc_removal,
    campaign_state,
    campaign_definition,
    campaign_deletion,
    session_revocation,
    instance_lock,
    claims_released,
]


@pytest.mark.parametrize("write", IDEMPOTENT, ids=[w.__name__ for w in IDEMPOTENT])
async def test_a_write_retried_after_a_lost_answer_has_one_effect(
    store: PostgresStore,
    proxy: PgProxy,
    lose: Lose,
    write: Callable[[PostgresStore, Lose], Awaitable[list[StoreError]]],
) -> None:
    errors = await write(store, lose)
    assert proxy.tripped.is_set()  # the first call's transaction committed unanswered
    assert [type(e) for e in errors] == [StoreIOError]  # and its caller saw a failure and went again
