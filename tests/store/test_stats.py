"""Statistics against figures computed by hand on a small recorded event log, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.core.commands import Activity
from app.store import Store
from app.store.sqlite import SQLiteStore
from app.store.stats import StatsQuery, statistics

T0 = 1_800_000_000.0  # a range of two hours: buckets T0 and T0 + 3600
H = 3600.0


def ev(
    dt: float, kind: str, req: str | None = None, agent: str | None = None, queue: str | None = None, **data: Any
) -> Activity:
    return Activity(kind=kind, request_id=req, agent_id=agent, queue=queue, at=T0 + dt, data=data)


def conn(dt: float, req: str, agent: str, queue: str, net: float, gross: float, sla: bool) -> Activity:
    return ev(dt, "connected", req, agent, queue, net_wait=net, gross_wait=gross, within_sla=sla)


LOG = [
    ev(-100, "arrived", "r0", None, "support"),  # before the range: not counted
    ev(-500, "agent_state", None, "a1", state="ready", previous="logged_off"),
    # support, first hour
    ev(10, "arrived", "r1", None, "support"),
    ev(20, "arrived", "r2", None, "support"),
    ev(20, "agent_ringing", "r1", "a1", "support"),
    ev(20, "agent_state", None, "a1", state="ringing", previous="ready"),
    ev(23, "ended", "r2", None, "support", outcome="abandoned", waited=3.0),  # short abandon
    conn(25, "r1", "a1", "support", 15, 15, True),
    ev(25, "agent_state", None, "a1", state="busy", previous="ringing"),
    ev(30, "arrived", "r3", None, "support"),
    ev(40, "arrived", "r4", None, "support"),
    ev(50, "arrived", "r5", None, "support"),
    conn(60, "r5", "a4", "support", 10, 10, True),
    ev(70, "callback_accepted", "r4", None, "support", number="+4520000004"),
    ev(90, "ended", "r3", None, "support", outcome="abandoned", waited=60.0),
    ev(125, "ended", "r1", "a1", "support", outcome="served"),
    ev(125, "agent_state", None, "a1", state="wrap_up", previous="busy"),
    ev(155, "agent_state", None, "a1", state="ready", previous="wrap_up"),
    conn(1000, "r4", "a2", "support", 30, 960, False),
    ev(1300, "ended", "r4", "a2", "support", outcome="served"),
    ev(1300, "agent_state", None, "a2", state="wrap_up", previous="busy"),  # busy since before the range
    ev(3650, "agent_state", None, "a2", state="ready", previous="wrap_up"),  # a wrap-up across two buckets
    ev(3000, "agent_state", None, "a1", state="paused", previous="ready", reason="lunch"),
    # support, second hour
    ev(3700, "ended", "r5", "a4", "support", outcome="served"),
    ev(3700, "arrived", "r6", None, "support"),
    ev(3710, "callback_accepted", "r6", None, "support", number="+4520000006"),
    ev(3720, "arrived", "r7", None, "support"),  # still waiting at the end
    ev(3800, "ended", "r6", None, "support", outcome="expired"),
    ev(5400, "agent_state", None, "a1", state="logged_off", previous="paused"),
    # sales, first hour
    ev(100, "arrived", "r8", None, "sales"),
    conn(140, "r8", "a3", "sales", 40, 40, False),
    ev(200, "ended", "r8", "a3", "sales", outcome="served"),
    # a campaign's dials
    ev(300, "dial_attempt", "d1", "a3", "c1", campaign="c1", outcome="answered", abandoned=False),
    conn(-80, "r00", "a5", "sales", 5, 5, True),  # an inbound call before the dialler's
    ev(-50, "connected", "d0", "a5", "sales", campaign="c1"),  # a5's wrap-up after a dialler call:
    ev(360, "agent_state", None, "a5", state="wrap_up", previous="busy"),  # by agent, not by queue
    ev(380, "agent_state", None, "a5", state="ready", previous="wrap_up"),
    ev(400, "dial_attempt", "d2", None, "c1", campaign="c1", outcome="no_answer", abandoned=False),
    ev(500, "dial_attempt", "d3", None, "c1", campaign="c1", outcome="abandoned", abandoned=True),
    ev(7300, "arrived", "r9", None, "support"),  # after the range
]


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, Any]]:
    return {(r["key"], r["bucket"] - T0): r for r in rows}


async def report(store: Store, **kw: Any) -> dict[tuple[str, float], dict[str, Any]]:
    await store.append_events(LOG)
    q = StatsQuery(start=T0, end=T0 + 2 * H, width=H, sla_targets={"support": 20.0, "sales": 20.0}, **kw)
    return by_key(await statistics(store, q))


async def test_queue_figures_match_hand_computed(store: Store) -> None:
    rows = await report(store, by="queue")
    assert set(rows) == {("support", 0.0), ("support", H), ("sales", 0.0)}
    first = rows[("support", 0.0)]
    assert (first["offered"], first["answered"], first["abandoned"], first["short_abandoned"]) == (5, 3, 2, 1)
    assert first["abandon_rate"] == 0.25  # (2 - 1 short) / (5 - 1 short)
    assert (first["callbacks_requested"], first["callbacks_served"], first["callbacks_expired"]) == (1, 1, 0)
    assert first["asa"] == pytest.approx(18.333, abs=1e-3)  # (15 + 30 + 10) / 3
    assert first["asa_p90"] == 30.0  # nearest rank: the 3rd of [10, 15, 30]
    assert first["gross_wait_avg"] == pytest.approx(328.333, abs=1e-3)
    assert first["handle_avg"] == pytest.approx(1346.667, abs=1e-3)  # (100 + 300 + 3640) / 3
    assert first["sla_net"] == pytest.approx(0.6667) and first["sla_gross"] == pytest.approx(0.6667)
    second = rows[("support", H)]
    assert (second["offered"], second["answered"], second["callbacks_requested"], second["callbacks_expired"]) == (
        2,
        0,
        1,
        1,
    )
    assert second["asa"] is None and second["sla_net"] is None
    sales = rows[("sales", 0.0)]
    assert (sales["offered"], sales["answered"], sales["asa_p90"], sales["sla_net"], sales["handle_avg"]) == (
        1,
        1,
        40.0,
        0.0,
        60.0,
    )


async def test_a_whole_range_bucket_totals_the_hours(store: Store) -> None:
    await store.append_events(LOG)
    q = StatsQuery(start=T0, end=T0 + 2 * H, width=2 * H, by="queue")
    rows = by_key(await statistics(store, q))
    total = rows[("support", 0.0)]
    assert (total["offered"], total["answered"], total["abandoned"], total["callbacks_requested"]) == (7, 3, 2, 2)
    assert total["sla_gross"] is None  # no targets given


async def test_agent_occupancy_from_state_intervals(store: Store) -> None:
    rows = await report(store, by="agent")
    a1 = rows[("a1", 0.0)]
    assert (a1["offered"], a1["answered"], a1["asa"]) == (1, 1, 15.0)
    assert a1["logged_in_seconds"] == pytest.approx(3600.0)  # ready before 20 s counts from the range start
    assert a1["busy_seconds"] == pytest.approx(135.0)  # ringing 5 + busy 100 + wrap-up 30
    assert a1["occupancy"] == pytest.approx(0.0375)
    later = rows[("a1", H)]
    assert later["logged_in_seconds"] == pytest.approx(1800.0) and later["occupancy"] == 0.0  # paused to 5400
    assert rows[("a3", 0.0)]["answered"] == 1


async def test_wrap_up_is_counted_apart_and_per_handled_call(store: Store) -> None:
    rows = await report(store, by="agent")
    a1, a2, a2_later = rows[("a1", 0.0)], rows[("a2", 0.0)], rows[("a2", H)]
    assert (a1["wrap_up_seconds"], a1["answered"], a1["wrap_up_avg"]) == (30.0, 1, 30.0)  # 125 → 155
    assert rows[("a1", H)]["wrap_up_seconds"] == 0.0 and rows[("a1", H)]["wrap_up_avg"] is None  # no calls
    assert (a2["wrap_up_seconds"], a2["busy_seconds"], a2["logged_in_seconds"]) == (2300.0, 3600.0, 3600.0)
    assert a2["wrap_up_avg"] == 2300.0  # one call answered at 1000
    assert (a2_later["wrap_up_seconds"], a2_later["busy_seconds"], a2_later["logged_in_seconds"]) == (50.0, 50.0, H)
    assert a2_later["wrap_up_avg"] is None  # wrap-up, but no call answered in this hour
    whole = by_key(await statistics(store, StatsQuery(start=T0, end=T0 + 2 * H, width=2 * H, by="agent")))
    assert (whole[("a2", 0.0)]["wrap_up_seconds"], whole[("a2", 0.0)]["wrap_up_avg"]) == (2350.0, 2350.0)
    queues = await report_again(store, by="queue")
    support, support_later = queues[("support", 0.0)], queues[("support", H)]
    # a1's 30 s after r1 and a2's 2300 s after r4, both support calls; the rest of a2's in the next hour
    assert (support["wrap_up_seconds"], support["answered"]) == (2330.0, 3)
    assert support["wrap_up_avg"] == pytest.approx(776.667, abs=1e-3)
    assert (support_later["wrap_up_seconds"], support_later["wrap_up_avg"]) == (50.0, None)
    assert queues[("sales", 0.0)]["wrap_up_seconds"] == 0  # a5's wrap-up followed a campaign's call
    assert rows[("a5", 0.0)]["wrap_up_seconds"] == 20.0
    scoped = await report_again(store, by="queue", queues=frozenset({"sales"}))
    assert all(r["wrap_up_seconds"] == 0 for r in scoped.values())  # support's wrap-up stays out of scope


async def report_again(store: Store, **kw: Any) -> dict[tuple[str, float], dict[str, Any]]:
    q = StatsQuery(start=T0, end=T0 + 2 * H, width=H, **kw)
    return by_key(await statistics(store, q))


async def test_campaign_dials(store: Store) -> None:
    rows = await report(store, by="campaign")
    c1 = rows[("c1", 0.0)]
    assert (c1["dial_attempts"], c1["dial_connects"], c1["dial_abandoned"], c1["dial_abandon_rate"]) == (3, 1, 1, 0.5)
    assert (
        await statistics(store, StatsQuery(start=T0, end=T0 + H, by="campaign", campaigns=frozenset())) == []
    )  # campaigns hidden from this scope


async def test_scope_keeps_other_queues_and_agents_out(store: Store) -> None:
    rows = await report(store, by="queue", queues=frozenset({"support"}))
    assert {k for k, _ in rows} == {"support"}
    agents = await statistics(
        store,
        StatsQuery(
            start=T0, end=T0 + 2 * H, width=H, by="agent", queues=frozenset({"support"}), agents=frozenset({"a1"})
        ),
    )
    assert {r["key"] for r in agents} == {"a1"}


def test_bad_queries_are_refused() -> None:
    with pytest.raises(ValueError, match="by is"):
        StatsQuery(start=T0, end=T0 + H, by="planet")
    with pytest.raises(ValueError, match="after"):
        StatsQuery(start=T0, end=T0)
    with pytest.raises(ValueError, match="10000 buckets"):
        StatsQuery(start=T0, end=T0 + 365 * 86400, width=60)


async def test_a_report_on_sqlite_does_not_wait_for_the_stores_lock(tmp_path: Path) -> None:
    """A report reads on its own connection: engine commits, which take the store's lock, are not
    held up for the length of a report (a month's takes seconds)."""
    store = SQLiteStore(tmp_path / "busy.db")
    await store.open()
    try:
        await store.append_events(LOG)
        async with store._lock:  # as if a commit were under way for the whole report
            rows = await asyncio.wait_for(statistics(store, StatsQuery(start=T0, end=T0 + H)), timeout=5.0)
        assert {r["key"] for r in rows} == {"support", "sales"}
    finally:
        await store.close()


DIALS = [  # agent a1 takes an inbound support call and a dial of each of two campaigns (queue sales)
    ev(10, "agent_ringing", "r1", "a1", "support"),
    conn(12, "r1", "a1", "support", 5, 5, True),
    ev(100, "attempt_started", "dial-c1-7-1", None, "sales", campaign="c1", contact=7),
    ev(101, "agent_ringing", "dial-c1-7-1", "a1", "sales"),  # no campaign field: placed by its request
    ev(102, "connected", "dial-c1-7-1", "a1", "sales", campaign="c1"),
    ev(102, "dial_attempt", "dial-c1-7-1", "a1", "c1", campaign="c1", outcome="answered", abandoned=False),
    ev(200, "contact_previewed", "dial-c2-8-2", "a1", "sales", campaign="c2", contact=8),
    ev(201, "agent_ringing", "dial-c2-8-2", "a1", "sales"),
    ev(202, "connected", "dial-c2-8-2", "a1", "sales", campaign="c2"),
    ev(202, "dial_attempt", "dial-c2-8-2", "a1", "c2", campaign="c2", outcome="answered", abandoned=False),
]


async def test_a_campaigns_calls_are_counted_only_for_those_who_see_the_campaign(store: Store) -> None:
    """A dial belongs to its campaign, never to the queue its agents come from: seeing sales does
    not show c2's calls, and seeing c1 shows them without seeing sales."""
    await store.append_events(DIALS)

    async def totals(**kw: Any) -> dict[str, dict[str, Any]]:
        rows = await statistics(store, StatsQuery(start=T0, end=T0 + H, width=H, **kw))
        return {r["key"]: r for r in rows}

    both = await totals(by="agent", queues=frozenset({"support", "sales"}), campaigns=frozenset({"c1"}))
    assert (both["a1"]["offered"], both["a1"]["answered"]) == (2, 2)  # the inbound call and c1's
    c1_only = await totals(by="agent", queues=frozenset(), campaigns=frozenset({"c1"}))
    assert (c1_only["a1"]["offered"], c1_only["a1"]["answered"]) == (1, 1)
    everything = await totals(by="agent")
    assert (everything["a1"]["offered"], everything["a1"]["answered"]) == (3, 3)
    assert set(await totals(by="campaign", queues=frozenset({"sales"}), campaigns=frozenset({"c1"}))) == {"c1"}
    assert set(await totals(by="campaign", queues=frozenset(), campaigns=frozenset({"c2"}))) == {"c2"}
    assert set(await totals(by="campaign")) == {"c1", "c2"}
    assert await totals(by="queue", queues=frozenset({"sales"}), campaigns=frozenset()) == {}


AGENT_WITH_A_DIAL = [  # by agent, a dialler call's `connected` has no net or gross wait
    conn(10, "r1", "a1", "support", 10, 10, True),
    conn(20, "r2", "a1", "support", 20, 30, True),
    ev(30, "connected", "dial-c1-1-1", "a1", "support", campaign="c1"),
]


async def agent_with_a_dial(store: Store) -> dict[str, Any]:
    await store.append_events(AGENT_WITH_A_DIAL)
    q = StatsQuery(start=T0, end=T0 + H, width=H, by="agent", sla_targets={"support": 25.0})
    [a1] = await statistics(store, q)
    assert (a1["key"], a1["answered"], a1["asa"]) == ("a1", 3, 15.0)  # the dial is answered, without a wait
    return a1


async def test_by_agent_p90_leaves_out_a_dialler_call_on_both_backends(store: Store) -> None:
    """Ranked with the waits, the dial's NULL came first on SQLite and moved the nearest-rank pick,
    while PostgreSQL's percentile_disc leaves NULLs out: the same report differed by backend."""
    a1 = await agent_with_a_dial(store)
    assert a1["asa_p90"] == 20.0  # nearest rank over [10, 20]: the 2nd
    assert a1["sla_net"] == 1.0


async def test_by_agent_gross_sla_does_not_judge_a_dialler_call(store: Store) -> None:
    """The dial's queue has a target but the call has no gross wait: it was counted as a miss."""
    a1 = await agent_with_a_dial(store)
    assert a1["sla_gross"] == 0.5  # 10 within 25, 30 not; the dial is not judged
