"""A call_back kept for its agent goes back to the window when that agent misses its ring (paused
not_responding). It keeps the deadline it was loaded with: after `reserve_for` any agent takes
it, as if the agent had never been rung (it used to wait for them for ever)."""

from __future__ import annotations

from app.core import commands as c
from app.core.states import AgentState, AttemptOutcome
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

HOLD = 600.0


def rung(out: list[c.Command]) -> list[str]:
    return [x.agent_id for x in DiallerHarness.of(out, c.OriginateAgent)]


def test_the_reservation_lapses_at_its_first_deadline_after_its_agent_missed_the_ring() -> None:
    core = dialler_settings(campaign(reserve_for=HOLD), agents=2, max_agent_refusals=1)
    h = DiallerHarness(core, [contact(1, reserved_agent="a1", attempts=1, last_outcome="call_back")])
    loaded = h.now
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    h.at(15).fail(ring.leg_id, AttemptOutcome.NO_ANSWER)  # a1 walked away from the desk
    assert h.engine.agents["a1"].state is AgentState.PAUSED
    h.ready("a2")
    assert rung(h.run_until(loaded + HOLD - 1)) == []  # still a1's until the deadline
    assert rung(h.run_until(loaded + HOLD + 1)) == ["a2"]
    assert [a.data["reserved_for"] for a in h.activities("reservation_lapsed")] == ["a1"]


def test_the_reserved_agent_back_before_the_deadline_still_gets_it() -> None:
    core = dialler_settings(campaign(reserve_for=HOLD), agents=2, max_agent_refusals=1)
    h = DiallerHarness(core, [contact(1, reserved_agent="a1", attempts=1, last_outcome="call_back")])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    h.at(15).fail(ring.leg_id, AttemptOutcome.NO_ANSWER)
    h.ready("a2")
    assert rung(h.at(60).ready("a1")) == ["a1"]
