"""The dial log per minute (`dial_minutes`), on every backend: what the pacer's judged abandon windows
are seeded from at start-up. A connected dial counts at its `connected_at` (the line is written
when the call ends), an abandoned one and a machine verdict at the line's time."""

from __future__ import annotations

from typing import Any

from app.core.commands import Activity
from app.store import Store
from app.store.contact_records import DialMinute

NOW = 1_780_000_040.0  # 20 s into a minute
M = int(NOW // 60)


def dial(at: float, outcome: str, campaign: str = "c1", **more: Any) -> Activity:
    data: dict[str, Any] = {"campaign": campaign, "outcome": outcome, "number": "+4520123400"}
    data["abandoned"] = outcome == "abandoned"
    data.update(more)
    return Activity("dial_attempt", None, "1001", campaign, at, data)


async def test_live_answers_abandons_and_machines_per_minute(store: Store) -> None:
    await store.append_events(
        [
            # connected 10 min ago, the call (and its line) ended 2 min ago: counted at the connect
            dial(NOW - 120, "answered", connected_at=NOW - 600),
            dial(NOW - 119, "answered", connected_at=NOW - 599),
            dial(NOW - 5, "answered"),  # an older line without connected_at: at its own time
            dial(NOW - 600, "abandoned"),
            dial(NOW - 600, "machine"),
            dial(NOW - 600, "voicemail"),
            dial(NOW - 600, "busy"),  # neither live nor machine
            dial(NOW - 600, "no_answer"),
            dial(NOW - 600, "abandoned", campaign="c2"),  # another campaign
            Activity("dial_other", None, None, "c1", NOW - 600, {"campaign": "c1", "outcome": "answered"}),
            dial(NOW + 60, "answered"),  # after `until`
        ]
    )
    got = await store.dial_minutes("c1", NOW - 86400.0, NOW)
    assert got == [DialMinute(M - 10, 3, 1, 2), DialMinute(M, 1, 0, 0)]
    assert await store.dial_minutes("nothing", NOW - 86400.0, NOW) == []


async def test_only_minutes_after_since_count(store: Store) -> None:
    since = NOW - 3600.0
    await store.append_events(
        [
            dial(since - 1, "abandoned"),  # written before `since`
            dial(since + 300, "answered", connected_at=since - 100),  # written after, connected before
            dial(since + 300, "answered", connected_at=since + 100),
        ]
    )
    assert await store.dial_minutes("c1", since, NOW) == [DialMinute(int((since + 100) // 60), 1, 0, 0)]


async def test_abandoned_dials_name_every_campaigns_numbers_since(store: Store) -> None:
    """The 72 h no-redial rule after a restart: every abandoned dial after `since`, any campaign."""
    since = NOW - 72 * 3600.0
    await store.append_events(
        [
            dial(since - 1, "abandoned", number="+4520000001"),  # older than the 72 h
            dial(since + 10, "abandoned", number="+4520000002"),
            dial(NOW - 60, "abandoned", campaign="c2", number="+4520000003"),
            dial(NOW - 60, "answered", number="+4520000004"),
            dial(NOW - 30, "busy", number="+4520000005"),
        ]
    )
    got = sorted(await store.abandoned_dials(since))
    assert got == [("+4520000002", since + 10), ("+4520000003", NOW - 60)]
