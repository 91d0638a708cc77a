"""A call_back disposition is a promise to the contact: it is dialled even when the answered call
that made it was the contact's last allowed attempt. The promise travels with the contact's
stored last outcome, so it outlives the contact being claimed, given back and reloaded (a restart
releases claimed contacts to the list as they are stored)."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.settings import OpeningHours, TimeRange
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import CLAIMED, DONE, SCHEDULED, DiallerHarness, campaign, contact, dialler_settings


def rings(h: DiallerHarness) -> list[c.OriginateAgent]:
    return h.of(h.log, c.OriginateAgent)


def answered_on_last_attempt(max_attempts: int, **campaign_fields: object) -> DiallerHarness:
    """A preview call on the contact's last allowed attempt, answered and ended, agent in wrap-up."""
    core = dialler_settings(campaign(max_attempts=max_attempts, **campaign_fields), wrap_up=30.0)
    h = DiallerHarness(core, [contact(1, attempts=max_attempts - 1)])
    h.ready("a1")
    h.answer(rings(h)[-1].leg_id)
    h.answer(h.dials()[-1].leg_id)
    h.at(60).leg_hung_up(h.dials()[-1].leg_id)
    return h


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_call_back_promised_on_the_last_attempt_is_dialled(max_attempts: int) -> None:
    """Was: the contact came due and was finished as attempts_used: nobody called back."""
    h = answered_on_last_attempt(max_attempts)
    later = h.now + 3600
    h.send(ev.ContactDisposed(h.now, "a1", "call_back", call_back_at=later, reserve=False))
    p = h.progress(1)
    assert p is not None and (p.state, p.attempts, p.last_outcome) == (SCHEDULED, max_attempts, "call_back")
    h.run_until(later + 120)
    assert len(rings(h)) == 2, f"promised call back never made: {h.progress(1)}"
    assert not h.activities("contact_not_dialled")


def test_the_promise_is_kept_in_the_store_while_claimed_and_after_a_reload() -> None:
    """The claim rewrites the row's last outcome: written as None, the promise was gone for good
    once the claimed contact went back to the list (hours closed, a restart)."""
    day = (TimeRange(9 * 3600, 17 * 3600),)  # START is 22:26 in Copenhagen: closed
    camp = campaign(max_attempts=1, calling_hours=OpeningHours(weekly=(day,) * 7), timezone="Europe/Copenhagen")
    # a promise as a previous run stored it: the answered call used the only attempt
    h = DiallerHarness(dialler_settings(camp), [contact(1, attempts=1, last_outcome="call_back")])
    h.tick()  # loaded into the window; no agent yet, so not looked at
    claimed = h.progress(1)
    assert claimed is not None and (claimed.state, claimed.last_outcome) == (CLAIMED, "call_back")
    h.ready("a1")
    p = h.progress(1)
    assert p is not None and (p.state, p.last_outcome) == (SCHEDULED, "call_back")  # waits for 09:00
    h.run_until(p.next_due or 0.0)
    assert [r.caller_id_number for r in rings(h)] == [contact(1).number]


def test_the_call_back_dial_counts_and_ends_the_promise() -> None:
    """The promise buys one dial, not a new budget: unanswered, the contact is done."""
    h = answered_on_last_attempt(1, retry=campaign().retry)
    later = h.now + 3600
    h.send(ev.ContactDisposed(h.now, "a1", "call_back", call_back_at=later, reserve=False))
    h.run_until(later)
    h.answer(rings(h)[-1].leg_id)
    h.fail(h.dials()[-1].leg_id, AttemptOutcome.NO_ANSWER)
    p = h.progress(1)
    assert p is not None and (p.state, p.attempts, p.last_outcome) == (DONE, 2, "no_answer")
    h.run_until(h.now + 86400)
    assert len(h.dials()) == 2


def test_a_skipped_call_back_is_still_owed() -> None:
    """Given back without a dial (the agent skipped the card): the promise goes back with it."""
    h = answered_on_last_attempt(1)
    later = h.now + 3600
    h.send(ev.ContactDisposed(h.now, "a1", "call_back", call_back_at=later, reserve=False))
    h.run_until(later)
    h.send(ev.ContactSkipped(h.now, "a1"))
    p = h.progress(1)
    assert p is not None and (p.state, p.last_outcome) == (SCHEDULED, "call_back")
