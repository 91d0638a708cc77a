"""The time a confirmation SMS promises (`expected_at`) follows the queue's opening hours: a
callback's wait passes only while the queue is open, and none is dialled while it is closed."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.hours import OpeningHours, TimeRange
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, settings

EIGHT_TO_FIVE = OpeningHours(timezone="UTC", weekly=tuple((TimeRange(8 * 3600, 17 * 3600),) for _ in range(7)))
MIDNIGHT = 950_400.0  # 1970-01-12 00:00 UTC
HOUR = 3600.0


def promised_at(start: float) -> float | None:
    """A web callback asked for at `start` while the only agent talks to another caller."""
    h = Harness(settings(hours=EIGHT_TO_FIVE, wrap_up=0.0), start=start)
    h.arrive("r0", DK_MOBILE_2)
    h.answer(Harness.one(h.ready("a1"), c.OriginateAgent).leg_id)
    out = h.send(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE, 0))
    told = [n for n in Harness.of(out, c.Notify) if n.kind == "callback_requested"]
    assert len(told) == 1
    expected = told[0].data.get("expected_at")
    assert expected is None or isinstance(expected, float)
    return expected


def test_a_callback_asked_for_just_before_closing_is_expected_after_the_next_opening() -> None:
    # before: "at about 17:02", when the queue is closed and nobody calls until 08:00
    expected = promised_at(MIDNIGHT + 16 * HOUR + 58 * 60)
    assert expected is not None
    assert MIDNIGHT + 32 * HOUR <= expected < MIDNIGHT + 33 * HOUR  # 08:00-09:00 the next day


def test_a_callback_asked_for_while_open_with_time_to_spare_is_expected_that_day() -> None:
    start = MIDNIGHT + 10 * HOUR
    expected = promised_at(start)
    assert expected is not None and start < expected < MIDNIGHT + 17 * HOUR


def test_a_callback_asked_for_at_night_is_expected_after_the_opening() -> None:
    h = Harness(settings(hours=EIGHT_TO_FIVE), start=MIDNIGHT + 2 * HOUR)
    h.ready("a1")
    out = h.send(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE, 0))
    expected = Harness.one(out, c.Notify).data.get("expected_at")
    assert isinstance(expected, float) and MIDNIGHT + 8 * HOUR <= expected < MIDNIGHT + 9 * HOUR
