"""Opening hours: weekdays, date exceptions, time zone, closing sweep and callbacks overnight."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from app.core import commands as c
from app.core import events as ev
from app.core import hours
from app.core.settings import OpeningHours, TimeRange
from app.core.states import Outcome, RequestKind
from tests.core.harness import Harness, callback_settings, settings

CPH = ZoneInfo("Europe/Copenhagen")
NINE_TO_FIVE = TimeRange(9 * 3600, 17 * 3600)
WEEKDAYS = OpeningHours(
    timezone="Europe/Copenhagen",
    weekly=tuple((NINE_TO_FIVE,) if d < 5 else () for d in range(7)),
    exceptions=(("2026-12-24", ()), ("2026-12-27", (TimeRange(10 * 3600, 12 * 3600),))),
)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CPH).timestamp()


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        ("2026-12-21 08:59:59", False),  # Monday before opening
        ("2026-12-21 09:00:00", True),
        ("2026-12-21 16:59:59", True),
        ("2026-12-21 17:00:00", False),
        ("2026-12-24 12:00:00", False),  # Thursday, closed by exception
        ("2026-12-26 12:00:00", False),  # Saturday
        ("2026-12-27 11:00:00", True),  # Sunday, opened by exception
        ("2026-12-27 12:00:00", False),
        ("2026-03-30 09:30:00", True),  # Monday after the DST change: local time still counts
    ],
)
def test_is_open_uses_weekday_exceptions_and_local_time(when: str, is_open: bool) -> None:
    assert hours.is_open(WEEKDAYS, at(when)) is is_open


def test_no_hours_means_always_open() -> None:
    assert hours.is_open(None, 0.0) and hours.next_change(None, 0.0) is None


def test_next_change_finds_opening_after_exception_day() -> None:
    assert hours.next_change(WEEKDAYS, at("2026-12-23 18:00:00")) == at("2026-12-25 09:00:00")
    assert hours.next_change(WEEKDAYS, at("2026-12-21 10:00:00")) == at("2026-12-21 17:00:00")


def test_time_zone_is_the_queues_own() -> None:
    utc = OpeningHours(timezone="UTC", weekly=tuple((NINE_TO_FIVE,) for _ in range(7)))
    # 09:30 in Copenhagen (winter, UTC+1) is 08:30 UTC: closed in a UTC queue
    assert hours.is_open(WEEKDAYS, at("2026-12-21 09:30:00"))
    assert not hours.is_open(utc, at("2026-12-21 09:30:00"))


def _hours_harness(start: str, **queue_fields: object) -> Harness:
    return Harness(settings(hours=WEEKDAYS, **queue_fields), start=at(start))


def test_caller_arriving_while_closed_hears_closed_and_ends() -> None:
    h = _hours_harness("2026-12-21 07:00:00")
    out = h.arrive("r1")
    prompt = Harness.one(out, c.PlayPrompt)
    assert prompt.items[0].name == "closed" and prompt.hangup_after
    assert not Harness.of(out, c.JoinHolding)
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.CLOSED
    assert "r1" not in h.engine.requests


def test_callers_stay_queued_after_closing_for_max_wait_after_close_then_end_closed() -> None:
    h = _hours_harness("2026-12-21 16:50:00")
    h.arrive("r1")
    h.run_until(at("2026-12-21 17:59:59"))
    assert "r1" in h.engine.requests  # default max_wait_after_close is one hour
    out = h.run_until(at("2026-12-21 18:00:00"))
    assert Harness.one(out, c.Notify).kind == "closed"
    assert Harness.one(out, c.PlayPrompt).hangup_after
    ended = h.activities("ended", "r1")[0]
    assert ended.data["outcome"] == Outcome.CLOSED and ended.at == at("2026-12-21 18:00:00")


def test_max_wait_after_close_is_configurable() -> None:
    h = _hours_harness("2026-12-21 16:50:00", max_wait_after_close=600.0)
    h.arrive("r1")
    h.run_until(at("2026-12-21 17:10:00"))
    assert h.activities("ended", "r1")[0].at == at("2026-12-21 17:10:00")


def test_callers_are_still_dispatched_after_closing() -> None:
    h = _hours_harness("2026-12-21 16:50:00")
    h.arrive("r1")
    h.run_until(at("2026-12-21 17:05:00"))
    out = h.ready("a1")
    assert Harness.one(out, c.OriginateAgent).request_id == "r1"


def test_callbacks_stay_queued_overnight_and_are_dispatched_at_opening() -> None:
    h = _hours_harness("2026-12-21 16:50:00", callback=callback_settings(allow_other_number=False))
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.run_until(at("2026-12-21 17:00:01"))
    h.ready("a1")
    h.run_until(at("2026-12-22 08:59:59"))
    assert not Harness.of(h.log, c.OriginateAgent)
    assert h.engine.requests["r1"].kind is RequestKind.CALLBACK  # not swept with the callers
    out = h.run_until(at("2026-12-22 09:00:00"))
    assert Harness.one(out, c.OriginateAgent).request_id == "r1"


def test_callback_expires_after_max_age_with_activity_and_notify() -> None:
    cb = callback_settings(allow_other_number=False, max_age=3600.0 * 20)
    h = _hours_harness("2026-12-23 16:00:00", callback=cb)  # closed the next day (exception)
    h.arrive("r1")
    requested = h.now
    h.dtmf("r1", "1")
    out = h.run_until(requested + 3600.0 * 20)
    assert Harness.one(out, c.Notify).kind == "callback_expired"
    ended = h.activities("ended", "r1")[0]
    assert ended.data["outcome"] == Outcome.EXPIRED and ended.at == requested + 3600.0 * 20


def test_default_max_age_is_72_hours() -> None:
    h = _hours_harness("2026-12-23 16:00:00", callback=callback_settings(allow_other_number=False))
    h.arrive("r1")
    h.dtmf("r1", "1")
    requested = h.now
    h.run_until(requested + 72 * 3600 - 1)
    assert "r1" in h.engine.requests
    h.run_until(requested + 72 * 3600)
    assert "r1" not in h.engine.requests


# --- a wall clock stepped back: the shell's clock runs ahead of it (events.ClockAhead) for a while,
# and opening hours follow the wall clock, which callers and customers go by.
HOUR = 3600.0


def test_a_clock_ahead_keeps_the_queue_open_until_closing_time_on_the_wall_clock() -> None:
    h = _hours_harness("2026-12-21 16:00:00")
    h.at(600).send(ev.ClockAhead(h.now, HOUR))  # the wall clock was put back an hour at 16:10
    h.run_until(at("2026-12-21 17:30:00"))  # 16:30 on the wall clock
    assert h.engine.is_open("support") and not h.activities("queue_closed")
    out = h.arrive("r1")
    assert Harness.one(out, c.JoinHolding) and "r1" in h.engine.requests  # queued, not told "closed"
    h.run_until(at("2026-12-21 18:00:00"))  # 17:00 on the wall clock
    assert not h.engine.is_open("support")
    assert [a.at for a in h.activities("queue_closed")] == [at("2026-12-21 18:00:00")]


def test_a_clock_ahead_holds_callbacks_until_opening_time_on_the_wall_clock() -> None:
    h = _hours_harness("2026-12-21 16:50:00", callback=callback_settings(allow_other_number=False))
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.run_until(at("2026-12-22 07:00:00"))
    h.send(ev.ClockAhead(h.now, HOUR))  # the night's step back: 07:00 here is 06:00 on the wall
    h.ready("a1")
    h.run_until(at("2026-12-22 09:59:59"))  # 08:59:59 on the wall clock: nobody is called before 09:00
    assert not Harness.of(h.log, c.OriginateAgent) and not h.activities("queue_opened")
    out = h.run_until(at("2026-12-22 10:00:00"))
    assert Harness.one(out, c.OriginateAgent).request_id == "r1"


def test_the_lead_falling_past_opening_time_opens_the_queue_at_once() -> None:
    h = _hours_harness("2026-12-22 08:00:00", callback=callback_settings(allow_other_number=False))
    h.send(ev.ClockAhead(h.now, 2 * HOUR))  # 06:00 on the wall clock
    h.run_until(at("2026-12-22 09:30:00"))
    assert not h.engine.is_open("support")
    h.send(ev.ClockAhead(h.now, 0.25 * HOUR))  # caught up to 09:15: open since 09:00
    assert h.engine.is_open("support") and [a.at for a in h.activities("queue_opened")] == [h.now]
    h.send(ev.ClockAhead(h.now, 2 * HOUR))  # stepped back again: 07:30, closed once more
    assert not h.engine.is_open("support") and [a.at for a in h.activities("queue_closed")] == [h.now]
    h.run_until(at("2026-12-22 11:00:00"))  # 09:00 on the wall clock: open again, by the timer
    assert [a.at for a in h.activities("queue_opened")][-1] == at("2026-12-22 11:00:00")


def test_a_restart_while_the_clock_runs_ahead_reads_the_hours_on_the_wall_clock() -> None:
    h = _hours_harness("2026-12-21 17:30:00")  # 16:30 on the wall clock, told before anything else
    h.send(ev.ClockAhead(h.now, HOUR))
    assert h.engine.is_open("support")
    out = h.arrive("r1")
    assert Harness.one(out, c.JoinHolding)


@settings_h(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(0, 6 * HOUR), st.one_of(st.none(), st.floats(0, 3 * HOUR))), min_size=1, max_size=12
    )
)
def test_open_or_closed_is_the_wall_clocks_answer_whatever_the_leads(steps: list[tuple[float, float | None]]) -> None:
    h = _hours_harness("2026-12-21 06:00:00")
    lead = 0.0
    for wait, told in steps:
        h.run_until(h.now + wait)
        if told is not None:
            h.send(ev.ClockAhead(h.now, told))
            lead = told
        assert h.engine.is_open("support") is hours.is_open(WEEKDAYS, h.now - lead)
