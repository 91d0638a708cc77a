"""A campaign's calling hours hold by the wall clock after it stepped back, on real Asterisk: the
service's own clock runs ahead while it catches up (app/telephony/steady_clock.py), and by it the
contact's hours have begun; by the wall clock they have not, and the agent is not rung with the
contact until they do (app/core/dialler.py, `_callable`).

The step is the service's own (tests/steppable_wall.py), as in test_wall_clock_step.py."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from test_dialler_rules import holdfast_extra_config, upload, zone_at  # the campaign "rules": 11:00-14:00

from app.telephony.steady_clock import SteadyClock
from tests.steppable_wall import SteppableWall

pytestmark = pytest.mark.e2e

__all__ = ["holdfast_extra_config"]  # a fixture: pytest takes it from this module's names

CONTACT = "+4520123478"
BEFORE_OPENING = 20.0  # seconds of the wall clock between the step and the contact's 11:00


WALL = SteppableWall()


@pytest.fixture
def holdfast_clock() -> SteadyClock:
    WALL.step = 0.0
    return SteadyClock(WALL)


async def test_a_contact_is_not_rung_before_their_hours_by_the_wall_clock_though_the_service_clock_is_past_them(
    holdfast, phonesim
):
    zone = zone_at(11)  # where it is 11:xx now: within 11:00-14:00 by the service's clock
    local = datetime.fromtimestamp(time.time(), ZoneInfo(zone))
    past_opening = local.minute * 60 + local.second + local.microsecond / 1e6
    WALL.step = -(past_opening + BEFORE_OPENING)  # the wall clock now reads 10:59:40 there
    opening = time.time() + BEFORE_OPENING  # the contact's 11:00, on the machine's clock
    await holdfast.wait_activity("clock_ahead", timeout=5)  # the engine knows its clock runs ahead

    phonesim.set_behaviour("agent:1001", "manual")
    await upload(holdfast, (CONTACT, "Later", zone))
    holdfast.service.agent_action("1001", "ready")
    waits = await holdfast.wait_activity("contact_waits_for_hours", timeout=10)
    # by the service's clock 11:00 has passed; it waits for 11:00 on the wall clock, plus the lead
    assert waits.data["until"] > holdfast.service.clock()
    agent = await phonesim.wait_incoming("agent:1001", timeout=BEFORE_OPENING + 30)
    rung = time.time()
    assert agent.caller_name == "Later"
    assert rung >= opening, f"rung {opening - rung:.1f} s before the contact's 11:00 on the wall clock"
    # The service's clock catches up at a tenth of real time, so the opening comes a tenth late by it.
    assert rung - opening < BEFORE_OPENING / 0.9 - BEFORE_OPENING + 5
    await agent.hangup()
