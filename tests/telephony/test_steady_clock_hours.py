"""After an NTP step back, queue hours are read at the service's clock less the lead the engine
was told (steady_clock.lead_to_tell). Told in tenths, the lead lagged the true one by minutes, and
a callback was dialled at 17:04 by the wall clock, the queue closing at 17:00."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core import commands as c
from app.core import events as ev
from app.core import hours
from app.core.settings import OpeningHours, TimeRange
from app.telephony.steady_clock import SteadyClock, lead_to_tell
from tests.core.harness import DK_MOBILE, Harness, settings

H = 3600
EIGHT_TO_FIVE = OpeningHours(timezone="UTC", weekly=tuple((TimeRange(8 * H, 17 * H),) for _ in range(7)))


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_after_a_step_back_of_an_hour_no_callback_is_dialled_after_closing_time() -> None:
    true = {"t": utc("2026-06-10T15:00:00")}
    offset = {"o": 3600.0}  # the wall clock runs an hour fast
    clock = SteadyClock(lambda: true["t"] + offset["o"], lambda: true["t"])
    h = Harness(settings(hours=EIGHT_TO_FIVE), start=clock())

    def step() -> None:
        h.now = clock()
        lead = lead_to_tell(clock.ahead, h.engine.clock_ahead)  # as Service._tell_clock_lead, every second
        if lead is not None:
            h.send(ev.ClockAhead(h.now, lead))
        d = h.engine.next_deadline()
        if d is not None and d <= h.now:
            h.send(ev.Tick(h.now))

    h.tick()
    true["t"] = utc("2026-06-10T16:04:59")
    step()  # 17:04:59 by the fast wall clock: the queue closed at (wall) 17:00
    true["t"] = utc("2026-06-10T16:05:00")
    offset["o"] = 0.0  # NTP corrects it: the wall clock steps back an hour
    step()
    while true["t"] < utc("2026-06-10T17:04:00"):
        true["t"] += 1.0
        step()
    wall = true["t"]
    assert not hours.is_open(EIGHT_TO_FIVE, wall)  # 17:04 by the wall clock: closed
    h.ready("a1")
    out = h.send(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE, 0))
    dialled = Harness.of(out, c.OriginateAgent)
    assert not dialled, (
        f"callback dialled at {datetime.fromtimestamp(wall, UTC):%H:%M} wall time (closes 17:00); "
        f"engine lead {h.engine.clock_ahead}, true lead {clock.ahead:.0f}"
    )
