"""The hundredth call on real Asterisk: after rounds of calls ended every way, the service holds no
more than after the first round.

`assert_nothing_left_behind` names the places a call must leave empty; this counts everything the
service object reaches (tests/object_graph.py), so a per-call leftover nobody thought to name shows
too, on the events real Asterisk sends (its own order of hang-up, Stasis end and destruction, the
music's and bridges' events, the endpoint poll running all along). The shell's version of this test
(tests/telephony/test_long_run_memory.py) runs 160 calls on the fake ARI; this one runs fewer, on
the real thing.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.object_graph import service_footprint

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
AGENT = "1001"


async def agent_ready(holdfast, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while holdfast.engine.agents[AGENT].state != "ready":
        if time.monotonic() > deadline:
            raise AssertionError(f"agent {AGENT} not ready again: {holdfast.engine.agents[AGENT].state}")
        await asyncio.sleep(0.05)


async def one_call(holdfast, phonesim, n: int) -> None:
    """Call n, ended one of three ways in turn: the agent hangs up, the caller hangs up, the caller
    gives up while the agent's phone rings."""
    number = f"+452030{n:04d}"
    kind = n % 3
    phonesim.set_behaviour(f"agent:{AGENT}", "ignore" if kind == 2 else "answer")
    caller = await phonesim.call(SUPPORT, number)
    arrived = await holdfast.wait_activity("arrived", caller=number)
    agent = await phonesim.wait_incoming(f"agent:{AGENT}")
    if kind == 2:
        await holdfast.wait_activity("agent_ringing", request_id=arrived.request_id)
        await caller.hangup()
        await agent.wait_hangup()
    else:
        await holdfast.wait_activity("connected", request_id=arrived.request_id)
        await agent.wait_answered()
        ender, other = (agent, caller) if kind == 0 else (caller, agent)
        await ender.hangup()
        await other.wait_hangup()
    await holdfast.wait_activity("ended", request_id=arrived.request_id)
    await agent_ready(holdfast)


async def calls(holdfast, phonesim, first: int, count: int) -> tuple[int, int]:
    for n in range(first, first + count):
        await one_call(holdfast, phonesim, n)
    await holdfast.assert_nothing_left_behind()
    await holdfast.service.wait_committed()
    return service_footprint(holdfast.service, holdfast.activities)


async def test_rounds_of_calls_leave_the_service_no_bigger_than_the_first(holdfast, phonesim):
    holdfast.service.agent_action(AGENT, "ready")
    rounds = [await calls(holdfast, phonesim, first, 9) for first in (0, 9, 18)]
    outcomes = [a.data["outcome"] for a in holdfast.activities.find("ended")]
    assert outcomes.count("served") == 18 and outcomes.count("abandoned") == 9, outcomes
    # A leftover per call is 9 elements or more a round, 18 over the last two; a tally keyed by
    # call, 9 keys a round. A kind first seen late (a race's error status) adds a key or two.
    assert max(h for h, _ in rounds[1:]) <= rounds[0][0] + 5, rounds
    assert max(t for _, t in rounds[1:]) <= rounds[0][1] + 3, rounds
