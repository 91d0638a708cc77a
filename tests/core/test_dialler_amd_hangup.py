"""A contact who answers and hangs up while answering-machine detection is still listening heard
silence: the dialler counts a live answer, abandoned (72 h before the number is dialled again,
and against the campaign's cap), not a failed dial it redials at the next retry."""

from __future__ import annotations

from app.core import events as ev
from app.core.commands import Command, Hangup
from app.core.engine_base import CUSTOMER_TIMEOUT_MARGIN
from app.core.settings import CampaignMode, RetryIntervals
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import SCHEDULED, DiallerHarness, campaign, contact, dialler_settings

HOUR = 3600.0


def test_a_contact_gone_while_detection_listened_is_an_abandoned_live_answer() -> None:
    c = campaign(mode=CampaignMode.PREDICTIVE, amd=True, max_attempts=3, retry=RetryIntervals(failed=30.0))
    h = DiallerHarness(dialler_settings(c), [contact(1)])
    (dial,) = h.dials(h.ready("a1"))
    h.at(6).send(ev.LegFailed(h.now, dial.leg_id, AttemptOutcome.FAILED, 16, answered=True))

    (abandoned,) = h.activities("dialler_abandoned")
    assert abandoned.data["why"] == "hung_up_during_detection"
    progress = h.progress(1)
    assert progress is not None and progress.state == SCHEDULED and progress.last_outcome == "abandoned"
    assert progress.next_due is not None and progress.next_due - h.now >= 72 * HOUR  # not redialled in 30 s
    pacer = h.engine.pacers["spring"]
    assert (pacer.day.lives, pacer.day.abandoned) == (1, 1)


def test_a_failed_dial_that_never_answered_is_still_retried() -> None:
    c = campaign(mode=CampaignMode.PREDICTIVE, amd=True, max_attempts=3, retry=RetryIntervals(failed=30.0))
    h = DiallerHarness(dialler_settings(c), [contact(1)])
    (dial,) = h.dials(h.ready("a1"))
    h.at(6).send(ev.LegFailed(h.now, dial.leg_id, AttemptOutcome.FAILED, 16))
    assert h.activities("dialler_abandoned") == []
    progress = h.progress(1)
    assert progress is not None and progress.next_due == h.now + 30.0


def test_a_late_answer_under_long_detection_is_not_hung_up_as_no_answer() -> None:
    """The engine's guard on a dial waits out the ring time, its margin and the longest detection:
    a person answering near the end of the ring, whose greeting AMD() listens to for 30 s, is
    connected, not hung up on as no answer before the verdict arrives."""
    c = campaign(mode=CampaignMode.POWER, amd=True, ring_time=25.0, amd_analysis_time=30.0)
    h = DiallerHarness(dialler_settings(c), [contact(1)])
    (dial,) = h.dials(h.ready("a1"))
    dialled_at = h.now
    out = h.run_until(dialled_at + 24.0 + 29.0)  # answered at 24 s, verdict 29 s later
    assert [x for x in out if getattr(x, "leg_id", None) == dial.leg_id] == []
    h.answer(dial.leg_id)
    (answered,) = h.activities("contact_answered")
    assert answered.request_id == dial.request_id
    assert h.activities("attempt_outcome")[-1].data["outcome"] == "answered"


def test_without_detection_the_guard_is_the_ring_time_and_its_margin() -> None:
    c = campaign(mode=CampaignMode.POWER, amd=False, ring_time=25.0, amd_analysis_time=30.0)
    h = DiallerHarness(dialler_settings(c), [contact(1)])
    (dial,) = h.dials(h.ready("a1"))
    out = h.run_until(h.now + 25.0 + CUSTOMER_TIMEOUT_MARGIN)
    assert ev_hangup(out, dial.leg_id) == "ring_timeout"
    # the dial Asterisk never reported is not counted against the contact, as a callback's is not
    # (tests/core/test_dialler_interrupted_dial.py, tests/core/test_callback_attempts.py)
    assert h.activities("attempt_outcome")[-1].data["outcome"] == "interrupted"


def ev_hangup(out: list[Command], leg: str) -> str | None:
    reasons = [x.reason for x in out if isinstance(x, Hangup) and x.leg_id == leg]
    return reasons[0] if reasons else None
