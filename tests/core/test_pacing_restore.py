"""The pacer's judged abandon windows (24 h, 30 days) seeded at start-up from the event log, minute by
minute, so a restart neither forgets abandoned calls the regulators still count nor keeps them past
the time they leave the window: a seeded pacer's windows are those of the pacer that saw the calls."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import pacing
from app.core.engine import Engine
from app.core.pacing import DAY, MONTH, HistoryMinute, HoldfastPacer, PacingHistory
from app.core.settings import AgentSettings, CampaignMode, CampaignSettings, CoreSettings, QueueSettings

NOW = 1_780_000_000.0
LIVE, ABANDONED, MACHINE = "live", "abandoned", "machine"


def minutes_of(events: list[tuple[float, str]]) -> tuple[HistoryMinute, ...]:
    """What the store's dial_minutes gives for these (time, kind) dial outcomes."""
    per: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for at, kind in events:
        m = per[math.floor(at / 60)]
        if kind in (LIVE, ABANDONED):
            m[0] += 1
        if kind == ABANDONED:
            m[1] += 1
        if kind == MACHINE:
            m[2] += 1
    return tuple(HistoryMinute(k, *v) for k, v in per.items())


def fed(events: list[tuple[float, str]], fp: float = 0.0) -> HoldfastPacer:
    """A pacer that saw these outcomes as they happened (as the dialler tells it)."""
    pacer = HoldfastPacer(cap=0.03, amd_false_positive=fp)
    for at, kind in sorted(events):
        if kind == MACHINE:
            pacer.observe_end(at, pacing.MACHINE, 12.0)
        else:
            pacer.observe_live(at, abandoned=kind == ABANDONED)
    return pacer


def seeded(events: list[tuple[float, str]], now: float, fp: float = 0.0, campaign: str = "p1") -> HoldfastPacer:
    pacer = HoldfastPacer(cap=0.03, amd_false_positive=fp)
    pacer.restore(PacingHistory(now, campaign, minutes_of(events)))
    return pacer


def windows(p: HoldfastPacer, at: float) -> tuple[float, ...]:
    """(lives, abandoned, machines) of the day window, then of the month."""
    out: list[float] = []
    for w in (p.day, p.month):
        w.expire(at)
        out += [w.lives, w.abandoned, w.machines]
    return tuple(out)


def test_an_old_abandon_leaves_the_day_window_when_it_would_have_without_the_restart() -> None:
    # today: 40 live answers, 2 abandoned 23 h 30 min ago, the rest an hour ago
    events = [(NOW - 23.5 * 3600, ABANDONED)] * 2 + [(NOW - 3600, LIVE)] * 38
    pacer = seeded(events, NOW)
    assert (pacer.day.lives, pacer.day.abandoned) == (40, 2)
    assert pacer.over_cap(NOW)  # 2 of 40: the dialler stays at one dial per ready agent
    later = NOW + 31 * 60  # the abandons are more than 24 h old now: the day forgets them
    assert pacer.day.rate(later) == 0.0 and pacer.day.lives == 38
    assert pacer.month.rate(later) == pytest.approx(2 / 40)  # the month keeps them
    assert pacer.over_cap(later)  # and is still over the cap: 2 > 3 % of 40


def test_the_seeded_windows_equal_the_windows_of_the_pacer_that_saw_the_calls() -> None:
    events = (
        [(NOW - 29 * DAY, ABANDONED)] * 3
        + [(NOW - 2 * DAY + 17.0, LIVE)] * 50
        + [(NOW - 23.9 * 3600, ABANDONED)]
        + [(NOW - 300.5, LIVE)] * 30
        + [(NOW - 100.0, MACHINE)] * 4
    )
    before, after = fed(events, fp=0.25), seeded(events, NOW, fp=0.25)
    for at in (NOW, NOW + 7 * 60, NOW + DAY - 200, NOW + DAY + 60, NOW + 2 * DAY, NOW + 2 * DAY + 120):
        assert windows(after, at) == pytest.approx(windows(before, at))
        assert after.headroom(at) == pytest.approx(before.headroom(at))
        assert after.target(at) == pytest.approx(before.target(at))
        assert after.over_cap(at) == before.over_cap(at)
    assert after.day.abandoned == pytest.approx(before.day.abandoned) == 0.0  # all gone after two days


def test_machine_verdicts_count_as_abandoned_by_the_false_positive_share() -> None:
    pacer = seeded([(NOW - 60, LIVE)] * 30 + [(NOW - 60, MACHINE)] * 10, NOW, fp=0.5)
    assert pacer.day.abandoned == 5.0 and pacer.day.lives == 35.0 and pacer.day.machines == 10


def test_minutes_older_than_the_month_are_ignored() -> None:
    pacer = seeded([(NOW - MONTH - 120, ABANDONED), (NOW - 60, LIVE)], NOW)
    assert (pacer.month.lives, pacer.month.abandoned) == (1, 0)


OUTCOME = st.sampled_from([LIVE, LIVE, LIVE, LIVE, ABANDONED, MACHINE])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, MONTH + 2 * DAY), OUTCOME), max_size=120),
    st.sampled_from([0.0, 0.2]),
    st.lists(st.floats(0.0, 2 * MONTH), min_size=1, max_size=5),
)
def test_seeded_and_fed_pacers_agree_at_every_later_time(
    raw: list[tuple[float, str]], fp: float, later: list[float]
) -> None:
    """Any history up to the restart (the last 32 days): the seeded pacer reports the same windows,
    room, target and cap verdict as the pacer that saw it, at the restart and at any time after."""
    start = NOW - MONTH - 2 * DAY
    events = [(start + t, kind) for t, kind in raw]
    before, after = fed(events, fp), seeded(events, NOW, fp)
    for at in sorted(NOW + x for x in later):
        assert windows(after, at) == pytest.approx(windows(before, at), abs=1e-9)
        assert after.headroom(at) == pytest.approx(before.headroom(at), abs=1e-9)
        assert after.measured(at) == pytest.approx(before.measured(at), abs=1e-9)
        assert after.target(at) == pytest.approx(before.target(at), abs=1e-9)


def test_the_engine_seeds_a_predictive_campaign_and_ignores_others() -> None:
    engine = Engine(
        CoreSettings(
            queues=(QueueSettings(name="sales"),),
            agents=(AgentSettings(id="a1", skills=(("sales", 0),)),),
            campaigns=(
                CampaignSettings(id="p1", queue="sales", mode=CampaignMode.PREDICTIVE),
                CampaignSettings(id="w1", queue="sales", mode=CampaignMode.POWER),
            ),
        )
    )
    history = minutes_of([(NOW - 60, LIVE)] * 38 + [(NOW - 60, ABANDONED)] * 2)
    engine.restore_pacing(PacingHistory(NOW, "p1", history))
    engine.restore_pacing(PacingHistory(NOW, "w1", history))  # power: no pacer, no harm
    pacer = engine.pacer("p1")
    assert isinstance(pacer, pacing.HoldfastPacer) and pacer.over_cap(NOW)
    assert engine.pacer("w1") is None
