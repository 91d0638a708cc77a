"""Opening hours at the edges of the calendar: the clocks going forward or back over a boundary
(Europe/Copenhagen), a close sweep due at the instant the queue reopens after lunch, and a callback
expected only after it would have expired (closed for Easter)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.core import commands as c
from app.core import events as ev
from app.core import hours
from app.core.settings import OpeningHours, TimeRange
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, settings

CPH = ZoneInfo("Europe/Copenhagen")


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def H(h: int, m: int = 0) -> int:
    return h * 3600 + m * 60


# A late-night line: Saturday 20:00-24:00, Sunday 00:00-02:30 (Saturday night), weekdays 08:00-16:00.
NIGHT = OpeningHours(
    timezone="Europe/Copenhagen",
    weekly=tuple(
        (TimeRange(H(8), H(16)),) if d < 5 else ((TimeRange(H(20), H(24)),) if d == 5 else (TimeRange(0, H(2, 30)),))
        for d in range(7)
    ),
)


def test_a_close_at_a_time_the_clocks_skip_comes_at_the_jump() -> None:
    # 2026-03-29 01:59 CET = 00:59 UTC; clocks jump 02:00 CET -> 03:00 CEST at 01:00 UTC.
    now = utc("2026-03-29T00:59:00")
    assert hours.is_open(NIGHT, now)
    assert not hours.is_open(NIGHT, utc("2026-03-29T01:00:00"))  # 03:00 CEST: past 02:30, closed
    # next_change must be the instant is_open first flips (01:00 UTC), not 01:30 UTC (03:30 CEST)
    assert hours.next_change(NIGHT, now) == utc("2026-03-29T01:00:00")


def test_after_the_clocks_skip_a_close_a_caller_hears_closed() -> None:
    h = Harness(settings(hours=NIGHT), start=utc("2026-03-29T00:50:00"))
    h.tick()
    h.run_until(utc("2026-03-29T01:10:00"))  # 03:10 CEST: hours say closed
    assert not hours.is_open(NIGHT, h.now)
    out = h.arrive("r1")
    prompts = h.prompts(out)
    assert "closed" in prompts, f"caller at 03:10 CEST (after 02:30 closing) was queued: {prompts}"


def test_a_close_in_the_hour_the_clocks_repeat_is_found_on_its_second_pass() -> None:
    # 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00 UTC. Restart at 02:10 CET (01:10 UTC), open until 02:30.
    start = utc("2026-10-25T01:10:00")
    assert hours.is_open(NIGHT, start)
    closes = hours.next_change(NIGHT, start)
    # 02:30 CET is 01:30 UTC; is_open is False there
    assert not hours.is_open(NIGHT, utc("2026-10-25T01:30:00"))
    assert closes == utc("2026-10-25T01:30:00"), f"next change {datetime.fromtimestamp(closes, CPH)}"


def test_a_start_in_the_repeated_hour_still_closes_the_queue_that_night() -> None:
    h = Harness(settings(hours=NIGHT), start=utc("2026-10-25T01:10:00"))
    h.tick()
    h.run_until(utc("2026-10-25T11:00:00"))  # Sunday 12:00 CET: hours say closed
    assert not hours.is_open(NIGHT, h.now)
    out = h.arrive("r1")
    assert "closed" in h.prompts(out), f"Sunday noon caller queued: {h.prompts(out)}"


LUNCH = OpeningHours(
    timezone="UTC",
    weekly=tuple((TimeRange(H(8), H(12)), TimeRange(H(13), H(17))) for _ in range(7)),
)


def test_a_caller_holding_through_a_one_hour_lunch_is_served_not_swept_as_the_queue_reopens() -> None:
    # max_wait_after_close defaults to 1 h; the break is 1 h: the sweep and the reopening coincide.
    h = Harness(settings(hours=LUNCH), start=utc("2026-06-10T11:50:00"))
    h.arrive("r1")  # no agent logged in: holds
    h.run_until(utc("2026-06-10T13:00:00"))
    ended = h.activities("ended", "r1")
    assert not ended, f"caller swept at the reopening instant: {[a.data for a in ended]} at {ended[0].at} = 13:00 UTC"
    assert "r1" in h.engine.requests


# Weekdays 08-17 UTC, Danish Easter 2026 closed: Thu 2 Apr, Fri 3 Apr, Mon 6 Apr.
EASTER = OpeningHours(
    timezone="UTC",
    weekly=tuple((TimeRange(H(8), H(17)),) if d < 5 else () for d in range(7)),
    exceptions=(("2026-04-02", ()), ("2026-04-03", ()), ("2026-04-06", ())),
)


def test_no_time_is_promised_that_comes_after_the_callback_expires() -> None:
    h = Harness(settings(hours=EASTER, wrap_up=0.0), start=utc("2026-04-01T16:59:00"))  # Wednesday
    h.arrive("r0", DK_MOBILE_2)
    h.answer(Harness.one(h.ready("a1"), c.OriginateAgent).leg_id)  # the only agent is busy
    out = h.send(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE, 0))
    told = [n for n in Harness.of(out, c.Notify) if n.kind == "callback_requested"]
    expected = told[0].data.get("expected_at")
    expires = h.now + 72 * 3600
    assert expected is None, (
        f"SMS promises {datetime.fromtimestamp(expected, UTC)} but the callback expires "
        f"{datetime.fromtimestamp(expires, UTC)}"
    )
