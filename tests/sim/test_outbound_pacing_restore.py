"""A restart's seeded pacer against the one that ran the campaign, on the real core: the simulator's
dial records (the `dial_attempt` lines the event log keeps), counted per minute as the store's
`dial_minutes` does, give a fresh pacer the judged windows the running one has, now and later."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from app.core import commands as c
from app.core.pacing import DAY, HistoryMinute, HoldfastPacer, PacingHistory
from app.sim.outbound import CAMPAIGN, Mix, OutboundScenario, OutboundSimulator


class Recording(OutboundSimulator):
    def __init__(self, scenario: OutboundScenario) -> None:
        super().__init__(scenario)
        self.lines: list[tuple[float, dict[str, object]]] = []

    def _activity(self, act: c.Activity) -> None:
        if act.kind == "dial_attempt":
            self.lines.append((act.at, dict(act.data)))
        super()._activity(act)


def minutes(lines: list[tuple[float, dict[str, object]]]) -> tuple[HistoryMinute, ...]:
    """As the store's dial_minutes: a connected dial at connected_at, the others at the line's time."""
    per: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for at, data in lines:
        connected = data.get("connected_at")
        t = float(connected) if isinstance(connected, float) else at
        live = data["outcome"] == "answered" or data["abandoned"] is True
        m = per[math.floor(t / 60)]
        m[0] += live
        m[1] += data["abandoned"] is True
        m[2] += data["outcome"] == "machine"
    return tuple(HistoryMinute(k, *v) for k, v in per.items())


def test_a_seeded_pacer_has_the_windows_of_the_pacer_that_ran_the_campaign() -> None:
    sc = OutboundScenario(
        agents=6, horizon=1800.0, mix=Mix(0.35, 0.15, 0.05), amd_false_positive=0.05, assumed_false_positive=0.1
    )
    sim = Recording(sc)
    result = sim.run()
    ran = sim.engine.pacers[CAMPAIGN]
    assert isinstance(ran, HoldfastPacer)
    assert result.lives > 50 and result.abandoned > 0 and result.machines > 15  # some of each to compare
    assert all(data.get("connected_at") is not None for _, data in sim.lines if data["outcome"] == "answered")
    now = sim.now
    seeded = HoldfastPacer(cap=sc.abandon_cap, amd_false_positive=sc.assumed_false_positive)
    seeded.restore(PacingHistory(now, CAMPAIGN, minutes(sim.lines)))
    for at in (now, now + DAY - 1500, now + DAY - 900, now + DAY - 300, now + DAY + 60):
        for a, b in ((seeded.day, ran.day), (seeded.month, ran.month)):
            a.expire(at)
            b.expire(at)
            assert (a.lives, a.abandoned, a.machines) == pytest.approx((b.lives, b.abandoned, b.machines))
        assert seeded.headroom(at) == pytest.approx(ran.headroom(at))
        assert seeded.target(at) == pytest.approx(ran.target(at))
    assert ran.day.lives == pytest.approx(0.0, abs=1e-9)  # a day on, all of it has left the 24 h window
