"""Start-up seeds a predictive campaign's abandon windows from the event log's `dial_attempt` lines,
minute by minute (real SQLite): the windows after a restart age out old abandons when the pacer that
saw them would have."""

from __future__ import annotations

from pathlib import Path

from app.core.engine import Engine
from app.core.pacing import HoldfastPacer
from app.core.settings import AgentSettings, CampaignMode, CampaignSettings, CoreSettings, QueueSettings
from app.store.records import Activity
from app.store.sqlite import SQLiteStore
from app.telephony.contacts_loader import ContactsLoader

NOW = 1_780_000_000.0
HOUR, DAY = 3600.0, 86400.0
SETTINGS = CoreSettings(
    queues=(QueueSettings(name="sales"),),
    agents=(AgentSettings(id="a1", skills=(("sales", 0),)),),
    campaigns=(CampaignSettings(id="p1", queue="sales", mode=CampaignMode.PREDICTIVE),),
)


def dial(at: float, outcome: str, campaign: str = "p1", connected_at: float | None = None) -> Activity:
    data = {"campaign": campaign, "outcome": outcome, "number": "+4520123400", "abandoned": outcome == "abandoned"}
    if connected_at is not None:
        data["connected_at"] = connected_at
    return Activity("dial_attempt", None, "a1", campaign, at, data)


async def started(tmp_path: Path, events: list[Activity]) -> HoldfastPacer:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    try:
        await store.append_events(events)
        engine = Engine(SETTINGS)
        loader = ContactsLoader(store, engine.handle, lambda: NOW, lambda *_: None)
        await loader.start_up(engine)
    finally:
        await store.close()
    pacer = engine.pacer("p1")
    assert isinstance(pacer, HoldfastPacer)
    return pacer


async def test_start_up_restores_the_abandon_windows_from_the_event_log(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    try:
        await store.append_events(
            [dial(NOW - HOUR, "answered") for _ in range(20)]
            + [dial(NOW - HOUR, "abandoned")]
            + [dial(NOW - 3 * DAY, "answered") for _ in range(9)]
            + [dial(NOW - 3 * DAY, "abandoned") for _ in range(2)]
            + [dial(NOW - HOUR, "abandoned", campaign="other")]  # not this campaign's
        )
        engine = Engine(SETTINGS)
        loader = ContactsLoader(store, engine.handle, lambda: NOW, lambda *_: None)
        await loader.start_up(engine)
        pacer = engine.pacer("p1")
        assert isinstance(pacer, HoldfastPacer)
        assert (pacer.day.lives, pacer.day.abandoned) == (21, 1)
        assert (pacer.month.lives, pacer.month.abandoned) == (32, 3)
        assert pacer.over_cap(NOW)  # 3 of 32 in 30 days: the dialler stays at one dial per ready agent
    finally:
        await store.close()


async def test_old_abandons_leave_the_restored_day_window_at_their_own_time(tmp_path: Path) -> None:
    pacer = await started(
        tmp_path,
        [dial(NOW - DAY + 300, "abandoned") for _ in range(2)]  # 23 h 55 min ago
        + [dial(NOW - DAY + 330, "answered", connected_at=NOW - DAY + 200) for _ in range(3)]
        + [dial(NOW - HOUR, "answered", connected_at=NOW - HOUR - 90) for _ in range(35)],
    )
    assert (pacer.day.lives, pacer.day.abandoned) == (40, 2) and pacer.over_cap(NOW)
    # 4 min on, the 3 calls connected 23 h 57 min before the restart are out of the 24 h window
    assert pacer.day.rate(NOW + 240) == 2 / 37
    # 6 min on, so are the abandons (before, they stayed in it for a whole day after the restart)
    assert pacer.day.rate(NOW + 360) == 0.0 and pacer.day.lives == 35
    assert pacer.month.rate(NOW + 360) == 2 / 40  # the 30 days keep them


async def test_start_up_keeps_numbers_abandoned_in_the_last_72_hours_from_being_redialled(tmp_path: Path) -> None:
    """The no-redial rule is per number and outlives a restart: another campaign's contact with a
    number abandoned 71 h ago waits out the 72 h; one abandoned 73 h ago is dialled."""
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    try:
        recent, old = "+4520111111", "+4520222222"
        abandoned = [dial(NOW - 71 * HOUR, "abandoned"), dial(NOW - 73 * HOUR, "abandoned")]
        for line, number in zip(abandoned, (recent, old), strict=True):
            line.data["number"] = number
        await store.append_events(abandoned)
        engine = Engine(SETTINGS)
        loader = ContactsLoader(store, engine.handle, lambda: NOW, lambda *_: None)
        await loader.start_up(engine)
        assert engine._quarantined_until(recent) == NOW - 71 * HOUR + 72 * HOUR
        assert engine._quarantined_until(old) is None
    finally:
        await store.close()
