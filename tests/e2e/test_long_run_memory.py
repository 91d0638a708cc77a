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

import aiohttp
import pytest

from tests.object_graph import held

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
AGENT = "1001"


async def agent_ready(holdfast, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while holdfast.engine.agents[AGENT].state != "ready":
        if time.monotonic() > deadline:
            raise AssertionError(f"agent {AGENT} not ready again: {holdfast.engine.agents[AGENT].state}")
        await asyncio.sleep(0.05)


async def one_call(holdfast, phonesim, n: int) -> str:
    """Call n, ended one of three ways in turn: the agent hangs up, the caller hangs up, the caller
    gives up while the agent's phone rings. Returns the outcome the service logged."""
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
    ended = await holdfast.wait_activity("ended", request_id=arrived.request_id)
    await agent_ready(holdfast)
    return str(ended.data["outcome"])


async def calls(holdfast, phonesim, first: int, count: int) -> int:
    for n in range(first, first + count):
        await one_call(holdfast, phonesim, n)
    await holdfast.assert_nothing_left_behind()
    await holdfast.service.wait_committed()
    service = holdfast.service
    duplicates = service.ari.dispatcher.duplicates if service.ari.dispatcher is not None else None
    # Left out, as in the shell's test: the test's activity log, the duplicate filter's bounded
    # memory, the event loop's queues and aiohttp's connection pools.
    return held(
        service,
        skip=(holdfast.activities, duplicates._recent if duplicates is not None else None),
        skip_types=(asyncio.AbstractEventLoop, aiohttp.BaseConnector),
    )


async def test_rounds_of_calls_leave_the_service_no_bigger_than_the_first(holdfast, phonesim):
    holdfast.service.agent_action(AGENT, "ready")
    rounds = [await calls(holdfast, phonesim, first, 9) for first in (0, 9, 18)]
    outcomes = [a.data["outcome"] for a in holdfast.activities.find("ended")]
    assert outcomes.count("served") == 18 and outcomes.count("abandoned") == 9, outcomes
    # A leftover per call is 9 elements or more a round, 18 over the last two.
    assert max(rounds[1:]) <= rounds[0] + 5, rounds
