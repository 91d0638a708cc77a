"""The outbound simulator's AMD() hears a little more silence after a person's greeting than its
setting, as on real calls (docs/bench-amd.md: HUMAN-800-800 to HUMAN-819-800), and the campaign's
pacing, the same code as on real telephony, learns the measured silence from the answers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core import events as ev
from app.core.settings import CONNECT_WITHIN
from app.sim.outbound import CAMPAIGN, OutboundScenario, OutboundSimulator

RUN = OutboundScenario(name="small", agents=10, horizon=1800.0, policy="holdfast")


class Hearing(OutboundSimulator):
    """Keeps the silence each HUMAN verdict came after."""

    def __init__(self, scenario: OutboundScenario) -> None:
        super().__init__(scenario)
        self.silences: list[float] = []

    def _feed(self, event: ev.Event) -> None:
        if isinstance(event, ev.LegAnswered) and event.greeting_ended is not None:
            self.silences.append(event.now - event.greeting_ended)
        super()._feed(event)


def test_amd_hears_the_setting_plus_a_frame_at_most() -> None:
    sim = Hearing(RUN)
    sim.run()
    assert len(sim.silences) > 50
    assert all(0.8 - 1e-9 <= s < 0.8 + RUN.silence_overshoot for s in sim.silences)
    assert min(sim.silences) < 0.805 and max(sim.silences) > 0.815  # drawn, not one figure


def test_the_campaign_paces_with_the_silence_it_measured() -> None:
    sim = Hearing(RUN)
    before = sim.engine.pacing_view(sim.engine.campaigns[CAMPAIGN]).connect_allowance
    assert before == pytest.approx(CONNECT_WITHIN - 0.8)  # nothing measured yet: the setting
    sim.run()
    after = sim.engine.pacing_view(sim.engine.campaigns[CAMPAIGN]).connect_allowance
    assert CONNECT_WITHIN - 0.82 < after < CONNECT_WITHIN - 0.81  # a high one of those heard (800-820 ms)


def test_without_overshoot_the_setting_is_what_is_heard() -> None:
    sim = Hearing(replace(RUN, silence_overshoot=0.0))
    sim.run()
    assert sim.silences and all(s == pytest.approx(0.8) for s in sim.silences)
    assert sim.engine.pacing_view(sim.engine.campaigns[CAMPAIGN]).connect_allowance == pytest.approx(1.2)


def test_the_overshoot_is_a_scenario_key() -> None:
    assert OutboundScenario.from_dict({"kind": "outbound", "silence_overshoot": "0.04s"}).silence_overshoot == 0.04
