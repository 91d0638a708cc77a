"""Ringing agents through the shell: originate, answer → mixing bridge, hang-ups, failed legs."""

from __future__ import annotations

import pytest

from app.core import events as ev
from app.core.states import AgentState, AttemptOutcome, RequestState
from app.telephony.executor import call_bridge_id
from tests.telephony.conftest import CALLER, Shell


async def test_ready_agent_is_rung_with_customer_caller_id(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")

    assert ring.call.param("endpoint") == "PJSIP/1001"
    assert ring.call.param("app") == "holdfast"
    assert ring.call.param("appArgs") == f"agent,{ring.leg_id}"
    assert ring.call.param("callerId") == f'"Support" <{CALLER}>'
    assert int(ring.call.param("timeout") or 0) == 15
    assert ring.channel_id in shell.fake.channels  # our own channel id, known before the answer
    assert shell.agent_state("1001") is AgentState.RINGING
    req = shell.engine.requests[caller.request_id]
    assert req.state is RequestState.RINGING_AGENT and req.agent_leg == ring.leg_id
    assert shell.service.legs.by_channel(ring.channel_id) is not None


async def test_a_call_bridge_asterisk_refused_to_prepare_is_made_when_the_agent_answers(shell: Shell) -> None:
    """The bridge is made while the agent's phone rings; if Asterisk refuses then (a 500 under
    load), the agent's answer must still bridge the call, not leave caller and agent apart."""
    await shell.start()
    shell.ready("1001")
    shell.fake.fail("POST", r"/bridges/holdfast-call-[^/]+$", status=500, message="allocation failed (test)")
    caller = await shell.caller(CALLER)
    bridge_id = call_bridge_id(caller.request_id)
    ring = await shell.wait_originate("1001")
    refused = await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}$")
    assert refused.status == 500 and bridge_id not in shell.fake.bridges

    await shell.answer(ring)
    connected = await shell.activities.wait("connected", request_id=caller.request_id)
    assert connected.agent_id == "1001"
    both = {caller.channel_id, ring.channel_id}
    await shell.eventually(
        lambda: set(shell.fake.bridges.get(bridge_id, {}).get("channels", ())) == both, "caller and agent bridged"
    )
    assert shell.service.healthy


async def test_answer_bridges_caller_and_agent_then_caller_hangup_ends_agent(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")

    await shell.answer(ring)
    bridge_id = call_bridge_id(caller.request_id)
    create = await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}")
    assert create.param("type") == "mixing"
    add = await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel")
    assert set((add.param("channel") or "").split(",")) == {caller.channel_id, ring.channel_id}
    assert add.status == 204
    assert set(shell.fake.bridges[bridge_id]["channels"]) == {caller.channel_id, ring.channel_id}
    assert caller.channel_id not in shell.fake.bridges["holdfast-hold-support"]["channels"]
    connected = await shell.activities.wait("connected", request_id=caller.request_id)
    assert connected.agent_id == "1001"
    assert shell.agent_state("1001") is AgentState.BUSY
    assert shell.engine.requests[caller.request_id].state is RequestState.CONNECTED

    agent_channel = dict(shell.fake.channels[ring.channel_id])
    await shell.hangup_event(caller.channel, "ChannelHangupRequest", cause=16)
    hangup = await shell.fake.wait_for_call("DELETE", f"/channels/{ring.channel_id}")
    assert hangup.status == 204
    ended = await shell.activities.wait("ended", request_id=caller.request_id)
    assert ended.data["outcome"] == "served" and ended.data["hung_up_by"] == "customer"
    assert shell.agent_state("1001") is AgentState.WRAP_UP
    await shell.fake.wait_for_call("DELETE", f"/bridges/{bridge_id}")
    assert bridge_id not in shell.fake.bridges

    # Asterisk then reports the agent channel leaving (twice): the engine hears of it at most
    # once, and as a leg it no longer expects, which changes nothing
    await shell.push("StasisEnd", channel=agent_channel)
    await shell.push("ChannelDestroyed", channel=agent_channel, cause=16, cause_txt="Normal Clearing")
    await shell.eventually(lambda: shell.service.legs.by_channel(ring.channel_id) is None, "the agent leg forgotten")
    assert len(shell.fed_of(ev.LegHungUp)) <= 1 and not shell.fed_of(ev.LegFailed)
    assert shell.agent_state("1001") is AgentState.WRAP_UP

    shell.tick(10)  # wrap-up is 10 s
    assert shell.agent_state("1001") is AgentState.READY


async def test_agent_hangup_ends_caller(shell: Shell) -> None:
    await shell.start()
    caller, ring = await shell.connected_call()
    agent_channel = dict(shell.fake.channels[ring.channel_id])
    await shell.hangup_event(agent_channel, "StasisEnd")
    await shell.fake.wait_for_call("DELETE", f"/channels/{caller.channel_id}")
    ended = await shell.activities.wait("ended", request_id=caller.request_id)
    assert ended.data["hung_up_by"] == "agent"
    assert len(shell.fed_of(ev.LegHungUp, leg_id=ring.leg_id)) == 1


async def test_refused_originate_is_a_failed_leg(shell: Shell) -> None:
    await shell.start()
    shell.fake.fail("POST", r"/channels", status=500, message="Allocation failed")
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    await shell.fake.wait_for_call("POST", r"/channels")

    no_answer = await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
    assert no_answer.agent_id == "1001"
    failed = shell.fed_of(ev.LegFailed)
    assert len(failed) == 1 and failed[0].outcome is AttemptOutcome.FAILED  # type: ignore[attr-defined]
    agent = shell.engine.agents["1001"]
    assert agent.state is AgentState.PAUSED and agent.pause_reason == "not_responding"
    req = shell.engine.requests[caller.request_id]
    assert req.state is RequestState.WAITING and shell.engine.position(caller.request_id) == 1
    assert req.agent_leg is None
    assert len(shell.service.legs) == 1  # only the caller's leg is left


async def test_refused_originate_moves_on_to_next_agent(shell: Shell) -> None:
    await shell.start()
    shell.fake.fail("POST", r"/channels", status=400, message="Endpoint must be specified")
    shell.ready("1001")
    shell.ready("1002")
    caller = await shell.caller(CALLER)
    first = await shell.fake.wait_for_call("POST", r"/channels")
    second = await shell.fake.wait_for_call("POST", r"/channels", count=2)
    assert first.status == 400 and second.status == 200
    assert {first.param("endpoint"), second.param("endpoint")} == {"PJSIP/1001", "PJSIP/1002"}
    assert shell.engine.requests[caller.request_id].state is RequestState.RINGING_AGENT


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [(17, AttemptOutcome.BUSY), (19, AttemptOutcome.NO_ANSWER), (21, AttemptOutcome.FAILED)],
)
async def test_agent_leg_destroyed_unanswered_is_failed(shell: Shell, cause: int, outcome: AttemptOutcome) -> None:
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    agent_channel = dict(shell.fake.channels[ring.channel_id])
    await shell.hangup_event(agent_channel, "ChannelDestroyed", cause=cause, cause_txt="whatever")

    no_answer = await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
    assert no_answer.data["cause"] == cause
    failed = shell.fed_of(ev.LegFailed, leg_id=ring.leg_id)
    assert len(failed) == 1
    assert failed[0].outcome is outcome and failed[0].cause == cause  # type: ignore[attr-defined]
    assert shell.engine.agents["1001"].pause_reason == "not_responding"
    assert shell.engine.requests[caller.request_id].state is RequestState.WAITING
    assert shell.service.legs.by_channel(ring.channel_id) is None


async def test_inbound_end_reported_three_ways_reaches_engine_once(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller(CALLER)
    channel = dict(caller.channel)
    await shell.hangup_event(channel, "ChannelHangupRequest", cause=16)
    await shell.push("StasisEnd", channel=channel)
    await shell.push("ChannelDestroyed", channel=channel, cause=16)
    await shell.activities.wait("ended", request_id=caller.request_id, outcome="abandoned")
    await shell.eventually(lambda: shell.service.legs.by_channel(caller.channel_id) is None, "the leg forgotten")
    # the three events share one ordered lane: when a later event is handled, the earlier ones were
    await shell.push("ChannelDtmfReceived", channel=channel, digit="9")
    await shell.eventually(lambda: shell.fake.events_sent >= 4, "events delivered")
    assert len(shell.fed_of(ev.CallerHungUp, request_id=caller.request_id)) == 1


async def test_agent_leg_end_reported_twice_reaches_engine_once(shell: Shell) -> None:
    """An answered agent leg: StasisEnd then ChannelDestroyed; the engine hears of it once."""
    await shell.start()
    caller, ring = await shell.connected_call()
    agent_channel = dict(shell.fake.channels[ring.channel_id])

    # Hold the leg's clean-up (bridge destroy) so the second event arrives while the first is
    # still being handled: only the `ended` flag can stop it then.
    shell.fake.delay("DELETE", r"/bridges/.*", 0.2)
    await shell.hangup_event(agent_channel, "StasisEnd")
    await shell.push("ChannelDestroyed", channel=agent_channel, cause=16)
    await shell.activities.wait("ended", request_id=caller.request_id)
    await shell.eventually(lambda: shell.service.legs.by_channel(ring.channel_id) is None, "the agent leg forgotten")
    assert len(shell.fed_of(ev.LegHungUp, leg_id=ring.leg_id)) == 1
    assert not shell.fed_of(ev.LegFailed)


async def test_unanswered_agent_leg_end_reported_twice_reaches_engine_once(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    agent_channel = dict(shell.fake.channels[ring.channel_id])
    await shell.hangup_event(agent_channel, "ChannelHangupRequest", cause=19)
    await shell.push("ChannelDestroyed", channel=agent_channel, cause=19)
    await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
    await shell.eventually(lambda: shell.service.legs.by_channel(ring.channel_id) is None, "the agent leg forgotten")
    failed = shell.fed_of(ev.LegFailed, leg_id=ring.leg_id)
    assert len(failed) == 1 and failed[0].cause == 19  # type: ignore[attr-defined]


async def test_caller_hangup_while_agent_rings_cancels_the_ring(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    await shell.hangup_event(caller.channel, "ChannelHangupRequest", cause=16)
    await shell.fake.wait_for_call("DELETE", f"/channels/{ring.channel_id}")
    ended = await shell.activities.wait("ended", request_id=caller.request_id)
    assert ended.data["outcome"] == "abandoned"
    assert shell.agent_state("1001") is AgentState.READY


async def test_ring_timeout_hangs_up_agent_and_pauses_them(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    shell.tick(15)  # ring_timeout
    await shell.fake.wait_for_call("DELETE", f"/channels/{ring.channel_id}")
    assert shell.engine.agents["1001"].pause_reason == "not_responding"
    assert shell.engine.requests[caller.request_id].state is RequestState.WAITING


async def test_an_agent_answering_as_the_ring_times_out_is_not_left_paused(shell: Shell) -> None:
    """The agent picks up just as the ring timeout hangs their phone up: Asterisk answered before
    the DELETE reached it, so the StasisStart of the answer comes after the engine gave the leg up.
    The agent heard the call drop, but did answer: ready again, and rung again for the caller."""
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    shell.fake.delay("DELETE", f"/channels/{ring.channel_id}", 0.5)  # on its way while the answer comes
    shell.tick(15)  # ring_timeout
    await shell.activities.wait("agent_paused", agent_id="1001", reason="not_responding")
    assert ring.channel_id in shell.fake.channels  # the hang-up has not reached Asterisk yet
    await shell.answer(ring)
    late = await shell.activities.wait("agent_answered_late", agent_id="1001")
    assert late.data["leg"] == ring.leg_id
    again = await shell.wait_originate("1001", count=2)  # ready, so rung again for the caller
    assert again.leg_id != ring.leg_id
    assert shell.engine.requests[caller.request_id].agent_leg == again.leg_id
    await shell.eventually(lambda: ring.channel_id not in shell.fake.channels, "the late-answered leg hung up", 3.0)


async def test_an_agents_own_call_into_a_queue_keeps_them_unoffered_until_its_leg_is_gone(shell: Shell) -> None:
    """The agent's own phone (PJSIP/1001-…) calls the queue: 1001 is not rung for it. However its
    leg goes (here forgotten as a resync forgets a finished leg whose end never came, not through
    an end event), the endpoint poll tells the engine from the live legs: never offered nothing
    for good."""
    shell.service.endpoint_poll = 0.02
    await shell.start()
    shell.ready("1001")
    chan = shell.fake.add_channel(name="PJSIP/1001-0000002a", caller_number="1001", state="Up")
    await shell.push("StasisStart", channel=chan, args=["inbound", "4000"])
    await shell.activities.wait("agent_own_call", agent_id="1001", on_call=True)
    arrived = await shell.activities.wait("arrived", caller="1001")
    assert not shell.activities.find("agent_ringing", request_id=arrived.request_id)
    leg = shell.service.legs.by_channel(chan["id"])
    assert leg is not None and leg.own_call_of == "1001"
    shell.service.legs.mark_ended(leg)
    shell.service.legs.forget(leg)
    await shell.activities.wait("agent_own_call", agent_id="1001", on_call=False)
    assert shell.engine.agents["1001"].own_call is False  # offered calls again (here: rung at once)


async def test_a_call_from_a_phone_that_is_no_agents_is_an_ordinary_caller(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    chan = shell.fake.add_channel(name="PJSIP/trunk-0000002b", caller_number=CALLER)
    await shell.push("StasisStart", channel=chan, args=["inbound", "4000"])
    ring = await shell.wait_originate("1001")
    assert ring.agent_id == "1001"
    assert not shell.activities.find("agent_own_call")
