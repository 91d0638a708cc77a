"""The inbound queue on real Asterisk: callers held with music, agents rung and bridged."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
CALLER = "+4520123456"


async def queue_view(holdfast, name: str = "support") -> list[dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{holdfast.http_url}/api/queues") as resp:
        assert resp.status == 200
        body = await resp.json()
    return next(q for q in body["queues"] if q["name"] == name)["waiting"]


async def test_one_caller_one_ready_agent_bridged_with_audio_both_ways(holdfast, phonesim):
    holdfast.service.agent_action("1001", "ready")
    caller = await phonesim.call(SUPPORT, CALLER)
    await caller.wait_answered()
    agent = await phonesim.wait_incoming("agent:1001")
    await holdfast.wait_activity("connected", agent_id="1001")
    assert agent.caller_number.endswith("20123456")  # the agent sees who is calling
    await caller.wait_audio_flowing()
    await agent.wait_audio_flowing()
    assert holdfast.engine.agents["1001"].state == "busy"


async def test_three_callers_one_agent_served_in_arrival_order(holdfast, phonesim):
    numbers = ["+4520000001", "+4520000002", "+4520000003"]
    callers = []
    for i, number in enumerate(numbers):
        callers.append(await phonesim.call(SUPPORT, number))
        await holdfast.wait_activity("arrived", caller=number, position=i + 1)
    holdfast.service.agent_action("1002", "ready")
    served = []
    for _ in numbers:
        agent = await phonesim.wait_incoming("agent:1002", timeout=20)
        connected = await holdfast.activities.wait("connected", count=len(served) + 1, agent_id="1002")
        served.append(connected.request_id)
        await agent.wait_answered()
        await agent.hangup()  # the agent ends the call; wrap-up is 1 s, then the next caller
    arrived = [holdfast.activities.find("arrived", caller=n)[0].request_id for n in numbers]
    assert served == arrived
    for caller in callers:
        await caller.wait_hangup()


async def test_agent_not_answering_is_paused_and_the_next_agent_rung(holdfast, phonesim):
    phonesim.set_behaviour("agent:1003", "ignore")
    holdfast.service.agent_action("1003", "ready")  # idle longest: rung first
    holdfast.service.agent_action("1004", "ready")
    caller = await phonesim.call(SUPPORT, CALLER)
    ignored = await phonesim.wait_incoming("agent:1003")
    await phonesim.wait_incoming("agent:1004", timeout=15)
    connected = await holdfast.wait_activity("connected", timeout=15)
    assert connected.agent_id == "1004"
    await ignored.wait_hangup()
    agent = holdfast.engine.agents["1003"]
    assert (agent.state, agent.pause_reason) == ("paused", "not_responding")
    assert holdfast.activities.find("agent_no_answer", agent_id="1003")
    await caller.hangup()


async def test_caller_abandoning_while_waiting_moves_the_others_up(holdfast, phonesim):
    numbers = ["+4520000011", "+4520000012", "+4520000013"]
    calls = {}
    for i, number in enumerate(numbers):
        calls[number] = await phonesim.call(SUPPORT, number)
        await holdfast.wait_activity("arrived", caller=number, position=i + 1)
    await calls[numbers[1]].hangup()
    ended = await holdfast.wait_activity("ended", outcome="abandoned")
    assert ended.request_id == holdfast.activities.find("arrived", caller=numbers[1])[0].request_id
    waiting = await queue_view(holdfast)
    assert [(w["number"], w["position"]) for w in waiting] == [(numbers[0], 1), (numbers[2], 2)]


async def test_agent_hanging_up_first_ends_the_caller_and_wraps_up(holdfast, phonesim):
    holdfast.service.agent_action("1005", "ready")
    caller = await phonesim.call(SUPPORT, CALLER)
    agent = await phonesim.wait_incoming("agent:1005")
    await holdfast.wait_activity("connected", agent_id="1005")
    await agent.wait_answered()
    await agent.hangup()
    await caller.wait_hangup()
    ended = await holdfast.wait_activity("ended", outcome="served")
    assert ended.data["hung_up_by"] == "agent"
    await holdfast.wait_activity("agent_state", agent_id="1005", state="ready", previous="wrap_up")


async def test_unregistered_agent_is_not_offered_calls(holdfast, phonesim, phonesim_asterisk):
    holdfast.service.agent_action("1001", "ready")  # idle longest, but its phone goes away
    holdfast.service.agent_action("1002", "ready")
    phonesim_asterisk.cli(phonesim.unregister_command("1001"))
    try:
        await holdfast.wait_activity("agent_reachability", agent_id="1001", reachable=False)
        caller = await phonesim.call(SUPPORT, CALLER)
        await phonesim.wait_incoming("agent:1002")
        connected = await holdfast.wait_activity("connected")
        assert connected.agent_id == "1002"
        assert not holdfast.activities.find("agent_ringing", agent_id="1001")
        await caller.hangup()
    finally:
        phonesim_asterisk.cli(phonesim.register_command("1001"))
    await holdfast.wait_activity("agent_reachability", agent_id="1001", reachable=True)


async def test_fifty_callers_on_hold_all_served_by_five_agents(holdfast, phonesim):
    agents = ["1001", "1002", "1003", "1004", "1005"]
    callers = [await phonesim.call(SUPPORT, f"+45200001{i:02d}") for i in range(50)]
    await holdfast.activities.wait("arrived", count=50, timeout=60)
    assert holdfast.engine.callers_waiting("support") == 50
    for caller in callers[:3]:
        await caller.wait_audio_flowing()  # music on hold reaches the waiting callers

    async def work(agent_id: str) -> int:
        handled = 0
        while len(holdfast.activities.find("connected")) < 50:
            try:
                call = await phonesim.wait_incoming(f"agent:{agent_id}", timeout=5)
            except TimeoutError:
                continue
            await call.wait_answered()
            # bridged to its caller; 50 callers each on their own music load the 2 cores: what is
            # asserted is that audio flows, not how fast, so the wait is generous
            await call.wait_audio_flowing(timeout=15)
            await call.hangup()
            handled += 1
        return handled

    for agent_id in agents:
        holdfast.service.agent_action(agent_id, "ready")
    handled = await asyncio.wait_for(asyncio.gather(*(work(a) for a in agents)), 180)
    assert sum(handled) == 50
    await holdfast.activities.wait("ended", count=50, outcome="served", timeout=30)
    assert not holdfast.activities.find("ended", outcome="abandoned")
    for caller in callers:
        await caller.wait_hangup()
    await holdfast.assert_nothing_left_behind()


async def test_feature_codes_from_the_agents_phone_change_the_agent_state(holdfast, phonesim):
    agent = holdfast.engine.agents["1003"]
    seen: dict[str, int] = {}
    for code, state in (("*21", "ready"), ("*22", "paused"), ("*23", "logged_off"), ("*21", "ready")):
        call = await phonesim.agent_dials("1003", code)
        await call.wait_answered()
        seen[state] = seen.get(state, 0) + 1
        await holdfast.activities.wait("agent_state", agent_id="1003", state=state, count=seen[state])
        assert agent.state == state
        await call.wait_hangup(15)  # after the short confirmation prompt


async def test_position_and_estimated_wait_are_announced(holdfast, phonesim):
    first = await phonesim.call("4006", "+4520000021")
    await holdfast.wait_activity("arrived", caller="+4520000021")
    second = await phonesim.call("4006", "+4520000022")
    arrived = await holdfast.wait_activity("arrived", caller="+4520000022")
    announced = await holdfast.wait_activity("announced", request_id=arrived.request_id)
    assert "count=2" in announced.data["items"]  # second in the queue
    # Nobody serves "ann": there is no estimate, and no made-up one is said (issue 12: was 1440 minutes).
    assert not any(item.startswith("minutes=") for item in announced.data["items"])
    await holdfast.wait_activity("announced", request_id=arrived.request_id, count=2)  # repeated
    deadline = asyncio.get_running_loop().time() + 20
    while "number:2" not in holdfast.service.prompts_played:  # Asterisk finished playing it
        assert asyncio.get_running_loop().time() < deadline, list(holdfast.service.prompts_played)
        await asyncio.sleep(0.1)
    assert any(uri.endswith("/position") for uri in holdfast.service.prompts_played)
    await first.hangup()
    await second.hangup()
