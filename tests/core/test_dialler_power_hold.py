"""Power dials are placed for ready agents, who stay "ready" while the contacts' phones ring. Those
agents are the dials' until the dials end: given to an inbound caller meanwhile, the contact
answers to nobody, hears the information message and counts as abandoned (72 h quarantine, the
regulators' abandon rate). `inbound_first` decides who gets a *free* agent, not a held one."""

from __future__ import annotations

from app.core import commands as c
from app.core.settings import CampaignMode
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

POWER = CampaignMode.POWER


def rung_for(h: DiallerHarness, out: list[c.Command]) -> list[tuple[str, str]]:
    return [(x.agent_id, x.request_id) for x in h.of(out, c.OriginateAgent)]


def test_an_inbound_caller_waits_while_the_agents_power_dial_rings() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER)), [contact(1)])
    (dial,) = h.dials(h.ready("a1"))
    assert rung_for(h, h.at(3).arrive("in-1", queue="sales")) == []  # was: a1 rung for in-1
    ring = h.one(h.at(2).answer(dial.leg_id), c.OriginateAgent)
    assert (ring.agent_id, ring.auto_answer) == ("a1", True)
    out = h.at(0.3).answer(ring.leg_id)
    assert h.one(out, c.BridgeLegs).customer_leg == dial.leg_id
    h.run_until(h.now + 5)
    assert not h.activities("dialler_abandoned")
    assert h.engine.requests["in-1"].agent_id is None  # still waiting for the next free agent


def test_the_agent_goes_to_the_waiting_caller_when_the_dial_ends_unanswered() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER)), [contact(1), contact(2)])
    (dial,) = h.dials(h.ready("a1"))
    h.at(3).arrive("in-1", queue="sales")
    out = h.at(10).fail(dial.leg_id, AttemptOutcome.NO_ANSWER)
    assert rung_for(h, out) == [("a1", "in-1")]  # inbound first: before the next dial
    assert not h.dials(out)


def test_one_agent_is_held_per_lines_per_agent_dials_in_flight() -> None:
    core = dialler_settings(campaign(mode=POWER, lines_per_agent=2.0), agents=2)
    h = DiallerHarness(core, [contact(i) for i in range(1, 9)])
    h.ready("a1")
    h.ready("a2")
    dials = h.dials()
    assert len(dials) == 4
    assert rung_for(h, h.at(1).arrive("in-1", queue="sales")) == []  # 4 in flight hold both agents
    out = h.at(1).fail(dials[0].leg_id)  # 3 in flight: still both, and no redial while in-1 waits
    assert rung_for(h, out) == [] and not h.dials(out)
    out = h.at(1).fail(dials[1].leg_id)  # 2 in flight: one agent is free again
    assert [rid for _, rid in rung_for(h, out)] == ["in-1"]
    assert not h.dials(out)


def test_a_campaign_before_inbound_keeps_the_agent_it_dialled_for() -> None:
    """`inbound_first: false` dials first; the caller then must not take the agent the dial counts on."""
    h = DiallerHarness(dialler_settings(campaign(mode=POWER, inbound_first=False)), [contact(1)])
    h.arrive("in-1", queue="sales")
    out = h.ready("a1")
    assert len(h.dials(out)) == 1
    assert rung_for(h, out) == []  # was: a1 rung for in-1 in the same dispatch
