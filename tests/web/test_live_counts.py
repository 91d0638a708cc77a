"""Today's counts on the live page: from activities as they come, and read back from the store's
event log at start (so a restart does not zero them), each activity counted once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.core.commands import Activity
from app.store import store_from_dsn
from app.web.live import TodayCounts, events_since, seed_today

DAY = date(2026, 12, 4)
MIDNIGHT = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC).timestamp()


def connected(request_id: str, at: float, queue: str = "support", agent: str = "1001", sla: bool = True) -> Activity:
    data = {"within_sla": sla, "net_wait": 3.0}
    return Activity(kind="connected", request_id=request_id, agent_id=agent, queue=queue, at=at, data=data)


def abandoned(request_id: str, at: float, queue: str = "support") -> Activity:
    return Activity(kind="ended", request_id=request_id, queue=queue, at=at, data={"outcome": "abandoned"})


def test_counts_per_queue_and_agent_and_a_fresh_day_at_midnight() -> None:
    counts = TodayCounts()
    counts(connected("a", MIDNIGHT + 10))
    counts(connected("b", MIDNIGHT + 20, sla=False))
    counts(connected("c", MIDNIGHT + 30, queue="sales", agent="1002"))
    counts(abandoned("d", MIDNIGHT + 40))
    counts(Activity(kind="ended", request_id="a", queue="support", at=MIDNIGHT + 50, data={"outcome": "served"}))
    assert (counts.answered["support"], counts.within_sla["support"], counts.abandoned["support"]) == (2, 1, 1)
    assert counts.handled == {("1001", "support"): 2, ("1002", "sales"): 1}
    counts(connected("e", MIDNIGHT - 5))  # a late one of yesterday: not today's
    assert counts.answered["support"] == 2
    counts(connected("f", MIDNIGHT + 86_400 + 5))  # tomorrow: a fresh day
    counts.rolled(MIDNIGHT + 86_400 + 5)  # (as the page reads them)
    assert counts.answered == {"support": 1} and counts.days[("queue", "support")] == (date(2026, 12, 5), "UTC")


@pytest.mark.parametrize("before", [0, 1, 5, 700, 2500])
async def test_the_day_is_read_back_from_the_event_log(tmp_path: Path, before: int) -> None:
    store = store_from_dsn(str(tmp_path / "h.db"))
    await store.open()
    try:
        yesterday = [connected(f"y{i}", MIDNIGHT - 3600 + i) for i in range(before)]
        noise = [Activity(kind="arrived", request_id=f"n{i}", queue="support", at=MIDNIGHT + i) for i in range(3)]
        today = [connected(f"t{i}", MIDNIGHT + 100 + i) for i in range(1200)] + [abandoned("x", MIDNIGHT + 2000)]
        for chunk in range(0, len(yesterday), 500):
            await store.append_events(yesterday[chunk : chunk + 500])
        await store.append_events(noise + today)
        found = await events_since(store, MIDNIGHT)
        assert [a.request_id for a in found] == [a.request_id for a in today]
    finally:
        await store.close()


def test_an_activity_stored_while_the_log_was_read_is_counted_once() -> None:
    stored = [connected("a", MIDNIGHT + 1), connected("b", MIDNIGHT + 2)]
    live = [connected("b", MIDNIGHT + 2), connected("c", MIDNIGHT + 3)]  # b: in both
    counts = TodayCounts()
    seed_today(counts, stored, live)
    assert counts.answered["support"] == 3


def test_a_dialler_call_counts_for_its_campaign_not_for_its_agents_queue() -> None:
    """A supervisor of sales alone must not see a campaign's calls in sales' answered / abandoned
    or in an agent's calls handled (the live filter sums handled per visible queue and campaign)."""
    counts = TodayCounts()
    dial = "dial-autumn-7-3"
    counts(Activity("connected", dial, "1001", "sales", MIDNIGHT + 10, {"campaign": "autumn", "contact": 7}))
    counts(Activity("ended", dial, "1001", "sales", MIDNIGHT + 20, {"campaign": "autumn", "outcome": "abandoned"}))
    counts(Activity("connected", "dial-spring-8-4", "1001", "sales", MIDNIGHT + 30, {}))  # placed by its id
    counts(connected("in-1", MIDNIGHT + 40, queue="sales"))
    assert (counts.answered["sales"], counts.abandoned["sales"]) == (1, 0)
    assert counts.handled == {("1001", "sales"): 1}
    assert counts.handled_campaign == {("1001", "autumn"): 1, ("1001", "spring"): 1}


def test_each_queue_starts_its_day_at_its_own_midnight() -> None:
    """A Copenhagen queue's day starts at 23:00 UTC in winter, an Auckland one's at 11:00 UTC the
    day before: whatever zone the host runs in, 00:30 in Copenhagen shows no call of yesterday."""
    zones = {"cph": "Europe/Copenhagen", "akl": "Pacific/Auckland"}
    counts = TodayCounts(lambda queue: zones.get(queue, "UTC"))
    cph_midnight = MIDNIGHT - 3600  # 4 December 00:00 in Copenhagen (UTC+1)
    counts(connected("y", cph_midnight - 600, queue="cph"))  # 3 December, 23:50 there
    counts(connected("a", MIDNIGHT - 11 * 3600 + 60, queue="akl"))  # 4 December, 00:01 in Auckland (UTC+13)
    assert counts.rolled(cph_midnight + 1800).answered == {"akl": 1}  # 00:30 in Copenhagen: its day is new
    counts(connected("t", cph_midnight + 1800, queue="cph"))
    assert counts.answered == {"akl": 1, "cph": 1} and counts.handled == {("1001", "akl"): 1, ("1001", "cph"): 1}
    counts.rolled(MIDNIGHT + 11 * 3600)  # 5 December 00:00 in Auckland, still the 4th in Copenhagen
    assert counts.answered == {"cph": 1} and counts.handled == {("1001", "cph"): 1}
