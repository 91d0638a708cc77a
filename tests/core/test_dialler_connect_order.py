"""Answered dialler contacts are connected each to an agent of their own queue: one that finds no
free agent (its agent paused while the dial rang) must not hold up the next one, whose agent is
ready. It waited for the first one's 2 s to run out, and heard the information message as an
abandoned call, with its agent sitting ready."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import AgentSettings, CampaignMode, CoreSettings, QueueSettings
from tests.core.dialler_harness import DiallerHarness, campaign, contact


def two_power_campaigns() -> DiallerHarness:
    core = CoreSettings(
        queues=(QueueSettings(name="support"), QueueSettings(name="sales")),
        agents=(AgentSettings(id="a1", skills=(("support", 0),)), AgentSettings(id="a2", skills=(("sales", 0),))),
        campaigns=(
            campaign("c1", CampaignMode.POWER, queue="support"),
            campaign("c3", CampaignMode.POWER, queue="sales"),
        ),
    )
    return DiallerHarness(core, [contact(1, campaign_id="c1"), contact(2, campaign_id="c3")])


def test_a_contact_without_a_free_agent_does_not_hold_up_the_next_ones() -> None:
    h = two_power_campaigns()
    (c1_dial,) = h.dials(h.ready("a1"))
    h.at(1).send(ev.AgentPaused(h.now, "a1"))  # a1 goes on a break while its contact's phone rings
    (c3_dial,) = h.dials(h.ready("a2"))
    h.at(5).answer(c1_dial.leg_id)  # no support agent is free: it waits up to CONNECT_WITHIN
    out = h.at(0.3).answer(c3_dial.leg_id)
    rung = [(o.agent_id, o.request_id) for o in h.of(out, c.OriginateAgent)]
    assert rung == [("a2", c3_dial.request_id)]
