"""The machine's wall clock stepped back an hour while a caller waits, on real Asterisk: the
service's timers go on (app/telephony/steady_clock.py), and the caller keeps hearing the hold and
the announcements.

The step is the service's own: its clock reads a wall clock the test can put back (the machine's
clock is shared with both Asterisks and everything else here). Before the steady clock, the next
announcement came an hour late, and every other timer with it."""

from __future__ import annotations

import asyncio

import pytest

from app.telephony.steady_clock import SteadyClock
from tests.steppable_wall import SteppableWall

pytestmark = pytest.mark.e2e

ANN = "4006"  # the "ann" queue: position announced every 4 s, nobody serving it
CALLER = "+4520000031"
ANNOUNCE_EVERY = 4.0


WALL = SteppableWall()


@pytest.fixture
def holdfast_clock() -> SteadyClock:
    WALL.step = 0.0
    return SteadyClock(WALL)


async def test_announcements_and_hold_go_on_when_the_wall_clock_steps_back_an_hour(holdfast, phonesim):
    caller = await phonesim.call(ANN, CALLER)
    arrived = await holdfast.wait_activity("arrived", caller=CALLER)
    await holdfast.wait_activity("announced", request_id=arrived.request_id)
    stepped_at = asyncio.get_running_loop().time()
    WALL.step = -3600.0  # the next announcement is due in under 4 s, by the clock before the step

    # Heard: hold audio reaches the caller without a gap worth the name (4 s of packets in 6 s).
    await caller.wait_audio_received(timeout=6.0, min_packets=200)
    again = await holdfast.wait_activity("announced", request_id=arrived.request_id, count=2, timeout=15)
    took = asyncio.get_running_loop().time() - stepped_at
    assert took < ANNOUNCE_EVERY / 0.9 + 2, f"the next announcement came {took:.1f} s after the step"
    assert again.data["items"] == ["count=1"]
    await holdfast.wait_activity("announced", request_id=arrived.request_id, count=3, timeout=15)  # and on

    assert holdfast.engine.clock_ahead >= 3590  # the dialler knows its clock runs ahead
    ahead = holdfast.service.metrics.registry.get_sample_value("holdfast_clock_ahead_seconds")
    assert ahead is not None and 3580 < ahead <= 3600
    await caller.hangup()
    ended = await holdfast.wait_activity("ended", request_id=arrived.request_id)
    assert ended.data["outcome"] == "abandoned"
    await holdfast.assert_nothing_left_behind()
