"""A contact's dial that a frozen or overloaded Asterisk never reported (the engine's guard fired),
or reported as unanswered long past its ring time (Asterisk's clock ran on through a stall), is
not the contact's doing: interrupted, not counted toward max_attempts, dialled again after a
rest. Counted, a one-attempt list lost contacts to a stalled PBX, marked as not answering
(found by tests/e2e/test_dialler_frozen_random.py)."""

from __future__ import annotations

from app.core import events as ev
from app.core.dialler import AGENT_LEFT_RETRY
from app.core.engine_base import CUSTOMER_TIMEOUT_MARGIN, LATE_NO_ANSWER_MARGIN
from app.core.pacing import HoldfastPacer
from app.core.settings import CampaignMode, RetryIntervals
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import DONE, SCHEDULED, DiallerHarness, campaign, contact, dialler_settings

RING = 20.0


def _one_attempt(no_answer_retry: float = 3600.0) -> DiallerHarness:
    c = campaign(
        mode=CampaignMode.POWER, ring_time=RING, max_attempts=1, retry=RetryIntervals(no_answer=no_answer_retry)
    )
    return DiallerHarness(dialler_settings(c), [contact(1)])


def test_a_dial_never_reported_is_not_counted_and_is_dialled_again_after_a_rest() -> None:
    h = _one_attempt()
    (dial,) = h.dials(h.ready("a1"))
    h.run_until(h.now + RING + CUSTOMER_TIMEOUT_MARGIN)

    assert h.activities("attempt_outcome")[-1].data["outcome"] == "interrupted"
    (record,) = h.activities("dial_attempt")
    assert record.data["outcome"] == "interrupted" and not record.data["abandoned"]
    progress = h.progress(1)
    assert progress is not None and progress.state == SCHEDULED and progress.attempts == 0
    assert progress.next_due == h.now + AGENT_LEFT_RETRY  # its phone may have rung: not at once
    again = h.dials(h.run_until(h.now + AGENT_LEFT_RETRY + 1))
    assert len(again) == 1 and again[0].leg_id != dial.leg_id

    # the second dial, reported on time as unanswered, counts: the one attempt is used
    h.at(RING).send(ev.LegFailed(h.now, again[0].leg_id, AttemptOutcome.NO_ANSWER, 19))
    progress = h.progress(1)
    assert progress is not None and progress.state == DONE and progress.attempts == 1
    assert progress.last_outcome == "no_answer"


def test_the_rest_is_the_no_answer_interval_when_shorter() -> None:
    h = _one_attempt(no_answer_retry=5.0)
    h.dials(h.ready("a1"))
    h.run_until(h.now + RING + CUSTOMER_TIMEOUT_MARGIN)
    progress = h.progress(1)
    assert progress is not None and progress.next_due == h.now + 5.0


def test_a_no_answer_reported_long_past_the_ring_time_is_interrupted() -> None:
    h = _one_attempt()
    (dial,) = h.dials(h.ready("a1"))
    late = RING + LATE_NO_ANSWER_MARGIN + 1.0  # still under the guard (ring + 10 s)
    assert late < RING + CUSTOMER_TIMEOUT_MARGIN
    h.at(late).send(ev.LegFailed(h.now, dial.leg_id, AttemptOutcome.NO_ANSWER, 19))

    (reported,) = h.activities("dial_reported_late")
    assert reported.data["outcome"] == "no_answer"
    assert h.activities("attempt_outcome")[-1].data["outcome"] == "interrupted"
    progress = h.progress(1)
    assert progress is not None and progress.state == SCHEDULED and progress.attempts == 0


def test_a_no_answer_reported_at_the_ring_time_counts() -> None:
    h = _one_attempt()
    (dial,) = h.dials(h.ready("a1"))
    h.at(RING + 0.5).send(ev.LegFailed(h.now, dial.leg_id, AttemptOutcome.NO_ANSWER, 19))
    assert not h.activities("dial_reported_late")
    progress = h.progress(1)
    assert progress is not None and progress.state == DONE and progress.last_outcome == "no_answer"


def test_an_interrupted_dial_teaches_the_pacer_nothing() -> None:
    """Not an outcome of the list: the pacer's learnt shares of answers and no answers stay as they were."""
    c = campaign(mode=CampaignMode.PREDICTIVE, ring_time=RING, max_attempts=1)
    h = DiallerHarness(dialler_settings(c), [contact(1)])
    h.dials(h.ready("a1"))
    pacer = h.engine.pacers["spring"]
    assert isinstance(pacer, HoldfastPacer)
    before = {k: v.total for k, v in pacer.est.ends.items()}
    h.run_until(h.now + RING + CUSTOMER_TIMEOUT_MARGIN)
    assert h.activities("attempt_outcome")[-1].data["outcome"] == "interrupted"
    assert {k: v.total for k, v in pacer.est.ends.items()} == before
