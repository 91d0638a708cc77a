"""Statistics on PostgreSQL share the store's small connection pool with the engine's commits:
reports that take long (a quarter by agent takes seconds) must never hold every connection."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from app.core.commands import Activity
from app.store import Store
from app.store.stats import StatsQuery, pruned_before, statistics
from tests.store.test_stats import LOG, T0, H

POSTGRES_DSN = os.environ.get("HOLDFAST_TEST_POSTGRES_DSN")


@pytest.fixture
async def pg() -> AsyncIterator[tuple[object, str]]:
    if not POSTGRES_DSN:
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL contract tests")
    from app.store.postgres import PostgresStore, drop_schema

    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(POSTGRES_DSN, schema=schema, busy_timeout=60.0)
    await store.open()
    try:
        yield store, schema
    finally:
        await store.close()
        await drop_schema(POSTGRES_DSN, schema)


async def test_slow_reports_leave_the_engine_a_connection(pg: tuple[object, str]) -> None:
    """As many supervisors as the pool has connections each ask for a long report (here: the
    event table locked, so every report waits): the engine's next commit must still get a
    connection, or every call waits for the reports."""
    import asyncpg

    from app.store.postgres import PostgresStore

    store, schema = pg
    assert isinstance(store, PostgresStore) and POSTGRES_DSN is not None
    await store.append_events(LOG)
    locker = await asyncpg.connect(POSTGRES_DSN)
    reports: list[asyncio.Task[object]] = []
    try:
        locked = locker.transaction()
        await locked.start()
        await locker.execute(f"LOCK TABLE {schema}.events IN ACCESS EXCLUSIVE MODE")
        query = StatsQuery(start=T0, end=T0 + 2 * H, by="agent")
        reports = [asyncio.create_task(statistics(store, query)) for _ in range(store.pool_size)]
        # the first report is at the database, waiting for the table
        while not await locker.fetchval(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass", f"{schema}.events"
        ):
            await asyncio.sleep(0.01)
        # a commit that does not touch the locked table: it needs only a connection
        await asyncio.wait_for(store.append_admin(T0, "eva", "agent_ready", None, {"agent_id": "a1"}), timeout=5.0)
        await locked.rollback()
        assert all(await asyncio.gather(*reports))
    finally:
        for task in reports:
            task.cancel()
        await asyncio.gather(*reports, return_exceptions=True)
        await locker.close()


async def test_the_latest_pruning_cut_is_read_on_both_backends(store: Store) -> None:
    assert await pruned_before(store) is None
    sweeps = [
        Activity("history_pruned", None, None, None, T0 + 3600 * i, {"before": T0 + 3600 * i - 1e5}) for i in (1, 2)
    ]
    await store.append_events(sweeps)
    assert await pruned_before(store) == T0 + 7200 - 1e5


TICKET_LOG = [  # a ticket-mode queue: the caller asks (key, or hangs up: trigger abandon); staff call back
    Activity("arrived", "t1", None, "desk", T0 + 10, {"caller": "+4520000001", "position": 1}),
    Activity("ticket_created", "t1", None, "desk", T0 + 40, {"number": "+4520000001", "trigger": "key"}),
    Activity("ended", "t1", None, "desk", T0 + 40, {"outcome": "ticket", "number": "+4520000001", "trigger": "key"}),
    Activity("arrived", "t2", None, "desk", T0 + 50, {"caller": "+4520000002", "position": 1}),
    Activity("abandoned", "t2", None, "desk", T0 + 90, {"waited": 40.0, "callback": True}),
    Activity(
        "ended", "t2", None, "desk", T0 + 90, {"outcome": "ticket", "number": "+4520000002", "trigger": "abandon"}
    ),
    Activity("arrived", "t3", None, "desk", T0 + 100, {"caller": "+4520000003", "position": 1}),
    Activity("ended", "t3", None, "desk", T0 + 130, {"outcome": "abandoned", "waited": 30.0}),
]
ENDINGS = (
    "served",
    "abandoned",
    "closed",
    "dropped",
    "callbacks_missed",
    "callbacks_expired",
    "callbacks_removed",
    "tickets",
)


async def test_a_caller_who_got_a_ticket_is_counted(store: Store) -> None:
    """Every offered call ends in one column: a caller whose request ended as a ticket (callback
    mode `ticket`) was offered and then in no column at all, so a ticket queue's figures did not
    add up and its tickets were nowhere."""
    await store.append_events(TICKET_LOG)
    [row] = await statistics(store, StatsQuery(start=T0, end=T0 + H))
    assert (row["key"], row["offered"], row.get("tickets"), row["abandoned"]) == ("desk", 3, 2, 1)
    assert sum(row.get(c, 0) for c in ENDINGS) == row["offered"]


MOVE_LOG = [  # a callback asked in support, moved by a supervisor to sales, served there
    Activity("arrived", "m1", None, "support", T0 + 10, {"caller": "+4520000001", "position": 1}),
    Activity("callback_accepted", "m1", None, "support", T0 + 20, {"number": "+4520000001"}),
    Activity("moved", "m1", None, "sales", T0 + 30, {"from_queue": "support", "to_queue": "sales", "by": "eva"}),
    Activity("connected", "m1", "a1", "sales", T0 + 40, {"net_wait": 5.0, "gross_wait": 30.0, "within_sla": True}),
    Activity("ended", "m1", "a1", "sales", T0 + 100, {"outcome": "served"}),
]


async def test_a_moved_callback_leaves_one_queue_and_enters_the_other(store: Store) -> None:
    """Per queue, what came in is what went out: offered + moved in == endings + moved out (+ still
    open). A callback moved from support to sales was offered in support and ended nowhere there,
    while sales served a callback it never had (callbacks served > requested)."""
    await store.append_events(MOVE_LOG)
    rows = {r["key"]: r for r in await statistics(store, StatsQuery(start=T0, end=T0 + H))}
    for queue in ("support", "sales"):
        r = rows[queue]
        ins = r["offered"] + r.get("moved_in", 0)
        assert ins == sum(r.get(c, 0) for c in ENDINGS) + r.get("moved_out", 0), (queue, r)
    assert (rows["support"].get("moved_out"), rows["sales"].get("moved_in")) == (1, 1)
    # scoped: a supervisor of support sees the move out, not the queue it went to
    scoped = await statistics(store, StatsQuery(start=T0, end=T0 + H, queues=frozenset({"support"})))
    assert [(r["key"], r["moved_out"], r["moved_in"]) for r in scoped] == [("support", 1, 0)]


async def test_a_callback_served_after_the_cut_is_still_a_callback(store: Store) -> None:
    """keep_history cuts the log at a time, not between requests: a callback promised the day
    before the cut and served the day after lost its `callback_accepted` line while its `ended`
    line stayed, so a report wholly after the cut (nothing said pruned) counted it served but not
    a served callback. An ended request's lines go together: all once its last is older."""
    from app.store.history import HistoryStore

    assert isinstance(store, HistoryStore)
    cut = T0 + 86400
    await store.append_events(
        [
            Activity("arrived", "cb", None, "support", cut - 3600, {"caller": "+4520000001"}),
            Activity("callback_accepted", "cb", None, "support", cut - 3500, {"number": "+4520000001"}),
            Activity("connected", "cb", "a1", "support", cut + 3600, {"net_wait": 5.0, "gross_wait": 7100.0}),
            Activity("ended", "cb", "a1", "support", cut + 3700, {"outcome": "served"}),
            Activity("arrived", "gone", None, "support", cut - 100, {"caller": "+4520000002"}),  # all before
            Activity("ended", "gone", None, "support", cut - 50, {"outcome": "abandoned", "waited": 50.0}),
        ]
    )
    await store.prune_history(cut, 1000)
    assert {(e.request_id, e.kind) for e in await store.events()} == {
        ("cb", "arrived"),
        ("cb", "callback_accepted"),
        ("cb", "connected"),
        ("cb", "ended"),
    }
    [row] = await statistics(store, StatsQuery(start=cut, end=cut + H * 24, width=24 * H))
    assert (row["served"], row["callbacks_served"]) == (1, 1)
