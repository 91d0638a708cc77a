"""The outbound simulator tells a person apart as AMD() does on real calls: a greeting, then the
silence after it, and only then HUMAN; the 2 s to an agent count from the greeting's end."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CONNECT_WITHIN
from app.sim.outbound import CAMPAIGN, OutboundScenario, OutboundSimulator, simulate_outbound
from app.sim.scenario import Dist

SMALL = OutboundScenario(name="small", agents=10, horizon=1800.0, policy="progressive")


def within(low: float, over: float) -> object:
    """Equal to a value from `low` to `low + over` (AMD() hears up to silence_overshoot more silence)."""
    return pytest.approx(low + over / 2, abs=over / 2 + 1e-9)


class Watching(OutboundSimulator):
    """Keeps each person's answer as the engine is told it, and when each leg was dialled."""

    def __init__(self, scenario: OutboundScenario) -> None:
        super().__init__(scenario)
        self.answers: list[ev.LegAnswered] = []
        self.dialled: dict[str, float] = {}

    def _dial(self, cmd: c.OriginateCustomer) -> None:
        self.dialled[cmd.leg_id] = self.now
        super()._dial(cmd)

    def _feed(self, event: ev.Event) -> None:
        if isinstance(event, ev.LegAnswered) and event.leg_id in self._legs and self._legs[event.leg_id].person:
            self.answers.append(event)
        super()._feed(event)


def test_a_person_is_answered_after_their_greeting_and_the_silence_that_follows_it() -> None:
    sim = Watching(replace(SMALL, greeting=Dist("fixed", 1.25), after_greeting_silence=0.5))
    sim.run()
    humans = [a for a in sim.answers if not a.voicemail]
    assert len(humans) > 50
    for a in humans:  # HUMAN comes the silence AMD() heard after the greeting's end, which the engine is told
        assert a.greeting_ended is not None and a.now - a.greeting_ended == within(0.5, SMALL.silence_overshoot)
        assert a.greeting_ended - sim.dialled[a.leg_id] > 1.25  # rang, was picked up, then the greeting


def test_waits_and_abandons_count_from_the_end_of_the_greeting() -> None:
    r = simulate_outbound(replace(SMALL, after_greeting_silence=0.5))
    assert r.lives > 50 and r.abandoned == 0
    heard = 0.5 + SMALL.agent_answer  # silence (and up to silence_overshoot more) + auto-answer
    assert r.waits and all(w == within(heard, SMALL.silence_overshoot) for w in r.waits)
    # a silence that leaves the auto-answering agent (0.5 s) too little of the 2 s: every person abandoned
    late = simulate_outbound(replace(SMALL, after_greeting_silence=CONNECT_WITHIN - 0.4))
    assert late.lives > 50 and late.abandoned == late.lives
    assert set(late.waits) == {CONNECT_WITHIN}


def test_the_campaign_paces_with_the_time_its_silence_leaves_an_agent() -> None:
    sim = OutboundSimulator(replace(SMALL, policy="holdfast", after_greeting_silence=0.5))
    view = sim.engine.pacing_view(sim.engine.campaigns[CAMPAIGN])
    assert view.connect_allowance == pytest.approx(CONNECT_WITHIN - 0.5)


def test_greeting_and_silence_are_scenario_keys() -> None:
    sc = OutboundScenario.from_dict(
        {
            "kind": "outbound",
            "greeting": {"dist": "lognormal", "mean": "1.2s", "cv": 0.5},
            "after_greeting_silence": "1s",
        }
    )
    assert sc.greeting == Dist("lognormal", 1.2, cv=0.5) and sc.after_greeting_silence == 1.0
    assert OutboundScenario().greeting.mean == pytest.approx(1.5)  # docs/bench-amd.md's persons, less the silence
