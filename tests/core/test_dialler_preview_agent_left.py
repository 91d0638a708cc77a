"""Preview: the agent hangs up while the contact's phone rings. That dial was placed, so it has its
`dial_attempt` record (outcome agent_no_answer: not counted against the contact, as for a
callback), and the phone that just rang is not rung again at once: the contact is due again
AGENT_LEFT_RETRY later (sooner if the campaign retries a no-answer sooner)."""

from __future__ import annotations

from app.core import commands as c
from app.core.contacts import SCHEDULED
from app.core.dialler import AGENT_LEFT_RETRY, DIAL_ACTIVITY
from app.core.settings import RetryIntervals
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def dial_then_agent_hangs_up(h: DiallerHarness) -> c.OriginateCustomer:
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    (dial,) = h.dials(h.answer(ring.leg_id))
    h.at(8).leg_hung_up(ring.leg_id)
    assert c.Hangup(dial.leg_id, "agent_gone") in h.log
    return dial


def test_the_dial_the_agent_left_has_its_dial_attempt_record() -> None:
    h = DiallerHarness(dialler_settings(campaign(), agents=1), [contact(1)])
    dial = dial_then_agent_hangs_up(h)
    (record,) = [a for a in h.log if isinstance(a, c.Activity) and a.kind == DIAL_ACTIVITY]
    assert (record.request_id, record.data["outcome"], record.data["number"]) == (
        dial.request_id,
        "agent_no_answer",
        dial.number,
    )


def test_the_contact_is_not_rung_again_at_once_nor_charged_an_attempt() -> None:
    h = DiallerHarness(dialler_settings(campaign(), agents=1), [contact(1)])
    dial_then_agent_hangs_up(h)
    left_at = h.now
    state = h.state[("spring", 1)]
    assert (state.state, state.attempts, state.next_due) == (SCHEDULED, 0, left_at + AGENT_LEFT_RETRY)
    h.ready("a1")
    assert h.of(h.run_until(left_at + AGENT_LEFT_RETRY - 1), c.OriginateAgent) == []
    assert len(h.of(h.run_until(left_at + AGENT_LEFT_RETRY + 1), c.OriginateAgent)) == 1


def test_a_campaign_retrying_no_answer_sooner_rings_it_sooner() -> None:
    retry = RetryIntervals(busy=60, no_answer=30, machine=60, failed=60)
    h = DiallerHarness(dialler_settings(campaign(retry=retry), agents=1), [contact(1)])
    dial_then_agent_hangs_up(h)
    assert h.state[("spring", 1)].next_due == h.now + 30
