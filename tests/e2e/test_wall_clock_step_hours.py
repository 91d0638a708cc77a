"""A queue's opening hours hold by the wall clock after it stepped back, on real Asterisk: the
service's own clock runs ahead while it catches up (app/telephony/steady_clock.py), but callers
phone by the wall clock, so the queue closes at once when the wall clock falls before its opening
and opens again when the wall clock reaches it (app/core/engine.py, `_follow_hours`). A caller
already waiting keeps waiting; one calling while it is closed hears so.

The step is the service's own (tests/steppable_wall.py), as in test_wall_clock_step.py."""

from __future__ import annotations

import time
import zoneinfo
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.telephony.steady_clock import SteadyClock
from tests.steppable_wall import SteppableWall

pytestmark = pytest.mark.e2e

HOURS = "4012"  # the queue "hstep": opened at the start of this minute, in a zone where it is 11:xx
BEFORE_OPENING = 20.0  # seconds of the wall clock between the step and the queue's 11:00
WAITING, TURNED_AWAY, LATER = "+4520000041", "+4520000042", "+4520000043"

WALL = SteppableWall()
OPENING: dict[str, object] = {}  # the zone and the opening's epoch, set up with the queue


def place_at(local_hour: int) -> str:
    """A place's zone in which it is now `local_hour`:xx with this minute (hours refuse the
    Etc/GMT±N zones, whose sign reads inverted: app/config/places.py)."""
    now = datetime.now(ZoneInfo("UTC"))
    for name in sorted(zoneinfo.available_timezones()):
        local = now.astimezone(ZoneInfo(name))
        if "/" in name and not name.startswith("Etc/") and (local.hour, local.minute) == (local_hour, now.minute):
            return name
    raise AssertionError(local_hour)


@pytest.fixture
def holdfast_clock() -> SteadyClock:
    WALL.step = 0.0
    return SteadyClock(WALL)


@pytest.fixture
def holdfast_extra_queues() -> tuple[dict[str, str], str]:
    zone = place_at(11)
    now = datetime.fromtimestamp(time.time(), ZoneInfo(zone))
    opens = now.replace(second=0, microsecond=0)  # 11:MM, this minute
    OPENING.update(zone=zone, epoch=opens.timestamp())
    days = "\n".join(f'      {d}: "{opens:%H:%M}-14:00"' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    queue = f"""  hstep:
    max_wait_after_close: 1h
    hours:
      timezone: {zone}
{days}
    callback:
      enabled: false
"""
    return {HOURS: "hstep"}, queue


async def test_the_queue_closes_and_opens_by_the_wall_clock_after_it_steps_back(holdfast, phonesim):
    waiting = await phonesim.call(HOURS, WAITING)
    first = await holdfast.wait_activity("arrived", caller=WAITING)
    await waiting.wait_audio_flowing()  # open by both clocks: queued, on hold

    past_opening = time.time() - float(OPENING["epoch"])  # type: ignore[arg-type]
    WALL.step = -(past_opening + BEFORE_OPENING)  # the service's wall clock now reads 20 s before the opening
    opening = time.time() + BEFORE_OPENING  # the opening, on the machine's clock
    closed = await holdfast.wait_activity("queue_closed", queue_name="hstep", timeout=5)
    assert holdfast.engine.clock_ahead > BEFORE_OPENING  # by the service's clock it is still open

    turned_away = await phonesim.call(HOURS, TURNED_AWAY)
    await holdfast.wait_activity("ended", outcome="closed", arrived_while_closed=True, timeout=15)
    await turned_away.wait_hangup()  # after the "closed" prompt
    assert holdfast.engine.position(first.request_id) == 1  # the one already waiting keeps waiting
    await waiting.wait_audio_received(min_packets=50)

    opened = await holdfast.wait_activity("queue_opened", queue_name="hstep", timeout=BEFORE_OPENING + 15)
    at = time.time()
    assert at >= opening - 0.5, f"opened {opening - at:.1f} s before 11:00 on the wall clock"
    # The service's clock catches up at 90 % pace, so the opening comes a tenth late by the wall.
    assert at - opening < BEFORE_OPENING / 0.9 - BEFORE_OPENING + 5
    assert opened.at > closed.at
    later = await phonesim.call(HOURS, LATER)
    second = await holdfast.wait_activity("arrived", caller=LATER)
    await later.wait_audio_flowing()
    assert holdfast.engine.position(second.request_id) == 2
    await waiting.hangup()
    await later.hangup()
    await holdfast.wait_activity("ended", request_id=second.request_id)
    await holdfast.assert_nothing_left_behind()
