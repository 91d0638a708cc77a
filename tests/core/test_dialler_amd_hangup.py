"""A contact who answers and hangs up while answering-machine detection is still listening heard
silence: the dialler counts a live answer, abandoned (72 h before the number is dialled again,
and against the campaign's cap), not a failed dial it redials at the next retry."""

from __future__ import annotations

from app.core import events as ev
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
