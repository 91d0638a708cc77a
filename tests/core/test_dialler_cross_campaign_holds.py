"""Contact-first dials hold the ready agents they count on across campaigns: an agent one
campaign's dial counts on is not offered to another campaign's dial or preview, nor counted ready
by another campaign's pacing. Else, at lines_per_agent 1, two contacts ring for one agent and the
second to answer hears the information message (abandoned, 72 h quarantine)."""

from __future__ import annotations

from app.core import commands as c
from app.core.settings import CampaignMode
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

POWER = CampaignMode.POWER
PREVIEW = CampaignMode.PREVIEW
PREDICTIVE = CampaignMode.PREDICTIVE
OTHER = "+4520000099"


def test_two_power_campaigns_place_one_dial_for_one_ready_agent() -> None:
    core = dialler_settings(campaign("p1", mode=POWER), campaign("p2", mode=POWER), agents=1)
    h = DiallerHarness(core, [contact(1, campaign_id="p1"), contact(2, campaign_id="p2", number=OTHER)])
    h.ready("a1")
    h.tick(1.0)  # any later dispatch: was a second dial, p2's, for the same agent
    assert len(h.dials()) == 1


def test_no_contact_is_abandoned_when_both_campaigns_dials_answer() -> None:
    core = dialler_settings(campaign("p1", mode=POWER), campaign("p2", mode=POWER), agents=1)
    h = DiallerHarness(core, [contact(1, campaign_id="p1"), contact(2, campaign_id="p2", number=OTHER)])
    h.ready("a1")
    h.tick(1.0)
    for d in h.dials():
        h.answer(d.leg_id)
    h.at(0.2).answer(h.one(h.log, c.OriginateAgent).leg_id)
    h.run_until(h.now + 5)
    assert not h.activities("dialler_abandoned")


def test_the_other_campaign_dials_once_the_dial_holding_the_agent_ends() -> None:
    core = dialler_settings(campaign("p1", mode=POWER), campaign("p2", mode=POWER), agents=1)
    h = DiallerHarness(core, [contact(1, campaign_id="p1"), contact(2, campaign_id="p2", number=OTHER)])
    (first,) = h.dials(h.ready("a1"))
    (second,) = h.dials(h.at(10).fail(first.leg_id, AttemptOutcome.NO_ANSWER))
    assert second.number == OTHER  # parity: p2's turn now


def test_a_preview_campaign_does_not_ring_the_agent_a_power_dial_holds() -> None:
    core = dialler_settings(campaign("pw", mode=POWER), campaign("pv", mode=PREVIEW), agents=1)
    h = DiallerHarness(core, [contact(1, campaign_id="pw"), contact(2, campaign_id="pv", number=OTHER)])
    h.ready("a1")
    h.tick(1.0)
    assert h.of(h.log, c.OriginateAgent) == []


def test_a_predictive_campaign_does_not_pace_on_the_agent_a_power_dial_holds() -> None:
    core = dialler_settings(campaign("pw", mode=POWER), campaign("pd", mode=PREDICTIVE), agents=1)
    contacts = [contact(1, campaign_id="pw")]
    contacts += [contact(i, campaign_id="pd", number=f"+45200001{i:02d}") for i in range(2, 8)]
    h = DiallerHarness(core, contacts)
    h.ready("a1")
    h.tick(1.0)
    assert len(h.dials()) == 1
    assert h.engine.pacing_view(h.engine.campaigns["pd"]).ready == 0


def test_a_power_campaign_does_not_dial_for_the_agent_a_predictive_dial_counts_on() -> None:
    core = dialler_settings(campaign("pd", mode=PREDICTIVE), campaign("pw", mode=POWER), agents=1)
    contacts = [contact(1, campaign_id="pd"), contact(2, campaign_id="pw", number=OTHER)]
    h = DiallerHarness(core, contacts)
    h.ready("a1")
    h.tick(1.0)
    assert [d.number for d in h.dials()] == [contact(1).number]
