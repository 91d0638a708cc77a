"""Preview: the agent hangs up while the contact's phone rings. The contact's phone is not hung up
at once (a ring of a moment is a nuisance call): it rings on until MIN_RING_TIME from the dial,
then that dial ends as the agent's. It has its `dial_attempt` record (outcome agent_no_answer: not
counted against the contact, as for a callback), and the phone that just rang is not rung again at
once: the contact is due again AGENT_LEFT_RETRY later (sooner if the campaign retries a no-answer
sooner). A contact who answers meanwhile has nobody to speak to: the information message, an
abandoned call, quarantined as any abandoned call."""

from __future__ import annotations

from app.core import commands as c
from app.core.contacts import SCHEDULED
from app.core.dialler import AGENT_LEFT_RETRY, DIAL_ACTIVITY
from app.core.settings import ABANDON_QUARANTINE, MIN_RING_TIME, RetryIntervals
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def dial_then_agent_leaves(h: DiallerHarness) -> tuple[c.OriginateCustomer, float]:
    """The agent hangs up 8 s into the contact's ring; returns the dial and when it was placed."""
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    (dial,) = h.dials(h.answer(ring.leg_id))
    dialled_at = h.now
    h.at(8).leg_hung_up(ring.leg_id)
    return dial, dialled_at


def dial_then_agent_hangs_up(h: DiallerHarness) -> c.OriginateCustomer:
    """…and the contact's phone rings on until MIN_RING_TIME, then is hung up."""
    dial, dialled_at = dial_then_agent_leaves(h)
    h.run_until(dialled_at + MIN_RING_TIME)
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


def test_the_contacts_phone_rings_on_until_the_minimum_ring_time() -> None:
    h = DiallerHarness(dialler_settings(campaign(), agents=1), [contact(1)])
    dial, dialled_at = dial_then_agent_leaves(h)
    out = h.run_until(dialled_at + MIN_RING_TIME - 0.1)
    assert [x for x in h.log if isinstance(x, c.Hangup) and x.leg_id == dial.leg_id] == []
    assert h.of(out, c.Hangup) == []
    h.run_until(dialled_at + MIN_RING_TIME)
    assert [x for x in h.log if isinstance(x, c.Hangup) and x.leg_id == dial.leg_id] == [
        c.Hangup(dial.leg_id, "agent_gone")
    ]


def test_an_agent_leaving_after_the_minimum_ring_hangs_the_contact_up_at_once() -> None:
    h = DiallerHarness(dialler_settings(campaign(), agents=1), [contact(1)])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    (dial,) = h.dials(h.answer(ring.leg_id))
    out = h.at(MIN_RING_TIME + 1).leg_hung_up(ring.leg_id)
    assert c.Hangup(dial.leg_id, "agent_gone") in out
    assert h.state[("spring", 1)].attempts == 0


def test_the_agent_who_left_is_free_while_the_contacts_phone_rings_on() -> None:
    h = DiallerHarness(dialler_settings(campaign(), agents=1), [contact(1), contact(2, "+4520000002")])
    dial, _ = dial_then_agent_leaves(h)
    ring = h.one(h.ready("a1"), c.OriginateAgent)  # the next contact's preview, while the first rings on
    assert ring.request_id != dial.request_id


def test_a_contact_answering_after_the_agent_left_hears_the_information_message() -> None:
    h = DiallerHarness(dialler_settings(campaign(information_number="33445566"), agents=1), [contact(1)])
    dial, _ = dial_then_agent_leaves(h)
    out = h.at(2).answer(dial.leg_id)
    (play,) = h.of(out, c.PlayPrompt)
    assert (play.leg_id, play.items, play.hangup_after) == (
        dial.leg_id,
        (c.PromptItem("dialler_information", "33445566"),),
        True,
    )
    (abandoned,) = h.activities("dialler_abandoned", dial.request_id)
    assert abandoned.data["why"] == "agent_left_before_answer"
    (record,) = [a for a in h.log if isinstance(a, c.Activity) and a.kind == DIAL_ACTIVITY]
    assert record.data["outcome"] == "abandoned"
    # quarantined as any abandoned call: not dialled again before ABANDON_QUARANTINE
    assert h.state[("spring", 1)].next_due >= h.now + ABANDON_QUARANTINE


def test_a_contact_busy_after_the_agent_left_is_a_busy_attempt() -> None:
    h = DiallerHarness(dialler_settings(campaign(), agents=1), [contact(1)])
    dial, _ = dial_then_agent_leaves(h)
    h.at(1).fail(dial.leg_id, AttemptOutcome.BUSY)
    (record,) = [a for a in h.log if isinstance(a, c.Activity) and a.kind == DIAL_ACTIVITY]
    assert record.data["outcome"] == "busy"
    assert h.state[("spring", 1)].attempts == 1
