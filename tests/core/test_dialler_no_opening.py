"""Calling hours with no opening ahead for a contact (every day closed, or a number whose zones are
never open together) leave the contact waiting, looked at again a day later: they must not
finish it for good ("done", outside_hours), which burned a whole list the moment it was loaded."""

from __future__ import annotations

from app.core.dialler import NO_OPENING_RECHECK
from app.core.settings import OpeningHours, TimeRange
from tests.core.dialler_harness import DONE, SCHEDULED, DiallerHarness, campaign, contact, dialler_settings

CLOSED = OpeningHours(weekly=((),) * 7)


def test_hours_closed_every_day_leave_the_list_waiting() -> None:
    h = DiallerHarness(dialler_settings(campaign(calling_hours=CLOSED, window=4)), [contact(i) for i in range(1, 11)])
    start = h.now
    h.ready("a1")
    h.run_until(h.now + 120)
    states = [h.progress(i) for i in range(1, 11)]
    assert all(p is not None and p.state == SCHEDULED for p in states), states  # was: all done, outside_hours
    due = [p.next_due or 0.0 for p in states if p is not None]
    assert all(start + NO_OPENING_RECHECK <= d <= h.now + NO_OPENING_RECHECK for d in due)
    assert not h.dials() and not h.activities("contact_not_dialled")
    waits = h.activities("contact_waits_for_hours")
    assert waits and not any(w.data["opening"] for w in waits)


def test_a_day_later_still_closed_they_wait_again_and_nothing_is_dialled() -> None:
    h = DiallerHarness(dialler_settings(campaign(calling_hours=CLOSED)), [contact(1)])
    h.ready("a1")
    first = h.progress(1)
    assert first is not None and first.next_due is not None
    h.run_until(first.next_due + 60)
    again = h.progress(1)
    assert again is not None and again.state == SCHEDULED and again.next_due is not None
    assert again.next_due > first.next_due
    assert not h.dials()


def test_a_number_whose_zones_never_share_an_hour_waits_instead_of_being_done() -> None:
    """A Russian mobile number spans Kaliningrad to Kamchatka: 09:00-10:00 is never open in all of
    its zones at once (the number is called only when the hours hold in every one)."""
    hour = (TimeRange(9 * 3600, 10 * 3600),)
    h = DiallerHarness(
        dialler_settings(campaign(calling_hours=OpeningHours(weekly=(hour,) * 7))),
        [contact(1, number="+79161234567")],
    )
    h.ready("a1")
    p = h.progress(1)
    assert p is not None and p.state != DONE
    assert (p.state, p.last_outcome) == (SCHEDULED, None)
    assert [w.data["opening"] for w in h.activities("contact_waits_for_hours")] == [False]
