"""agent_share caps a predictive campaign as it does the others: pacing sees only its share of the
agents, and an answered contact is connected only while the campaign is within its share."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

PREDICTIVE = CampaignMode.PREDICTIVE


def harness(share: float) -> DiallerHarness:
    core = dialler_settings(campaign("pd", mode=PREDICTIVE, agent_share=share), agents=4)
    h = DiallerHarness(core, [contact(i, campaign_id="pd") for i in range(1, 40)])
    for a in ("a1", "a2", "a3", "a4"):
        h.ready(a)
    return h


def on_campaign(h: DiallerHarness) -> int:
    return sum(1 for a in h.engine.agents.values() if a.request_id and a.request_id.startswith("dial-pd"))


def test_pacing_sees_only_the_campaigns_share_of_the_agents() -> None:
    h = harness(0.25)
    view = h.engine.pacing_view(h.engine.campaigns["pd"])
    assert (view.present, view.ready) == (1, 1)
    assert len(h.dials()) == 1  # was 4: one per ready agent of the queue


def test_answered_contacts_get_agents_only_within_the_share() -> None:
    h = harness(0.25)
    for d in h.dials():
        h.at(0.1).answer(d.leg_id)
    for r in h.of(h.log, c.OriginateAgent):
        h.answer(r.leg_id)
    assert on_campaign(h) == 1


def test_a_full_share_paces_on_every_agent() -> None:
    h = harness(1.0)
    view = h.engine.pacing_view(h.engine.campaigns["pd"])
    assert view.present == 4 and view.ready + len(view.in_flight) >= 4


def test_contacts_answering_beyond_the_share_are_not_given_more_agents() -> None:
    h = harness(1.0)
    dials = h.dials()
    assert len(dials) >= 2
    narrowed = dialler_settings(campaign("pd", mode=PREDICTIVE, agent_share=0.25), agents=4)
    h.send(ev.SettingsChanged(h.now, narrowed))  # the share lowered while the dials ring
    for d in dials:
        h.at(0.1).answer(d.leg_id)
    for r in h.of(h.log, c.OriginateAgent):
        h.answer(r.leg_id)
    assert on_campaign(h) == 1
