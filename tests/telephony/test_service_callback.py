"""A callback through the shell: keyed in on hold, confirmed and hung up, agent first, then customer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core import events as ev
from app.core.commands import PromptItem
from app.core.states import AgentState, AttemptOutcome, RequestKind, RequestState
from app.telephony.executor import call_bridge_id
from tests.ari.fake_ari import FakeAri, channel_json
from tests.telephony.conftest import CALLBACK_QUEUES, CALLER, AgentCall, Caller, Shell, config_text, make_shell


@pytest.fixture
async def cb(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def _promised(shell: Shell) -> Caller:
    """A caller keys 1, hears the confirmation and is hung up: a callback waits in their place."""
    caller = await shell.caller(CALLER)
    await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="1")
    accepted = await shell.activities.wait("callback_accepted", request_id=caller.request_id)
    assert accepted.data["number"] == CALLER and accepted.data["automatic"] is False
    play = await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/play")
    assert play.param("media") == shell.media("callback_confirmed")
    await shell.finish_playback(play.param("playbackId") or "", caller.channel_id)
    await shell.fake.wait_for_call("DELETE", f"/channels/{caller.channel_id}")
    await shell.push("StasisEnd", channel=caller.channel)
    await shell.eventually(lambda: shell.service.legs.by_channel(caller.channel_id) is None, "the caller's leg gone")
    req = shell.engine.requests[caller.request_id]
    assert req.kind is RequestKind.CALLBACK and req.state is RequestState.WAITING
    return caller


async def _whispered(shell: Shell, caller: Caller) -> tuple[AgentCall, str]:
    """Agent 1001 is rung for the callback, answers and hears the whisper; returns the customer leg's originate."""
    shell.ready("1001")
    ring = await shell.wait_originate("1001")
    assert ring.call.param("callerId") == f'"Callback" <{CALLER}>'
    await shell.answer(ring)
    whisper = await shell.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play")
    assert whisper.param("media") == shell.media_items(PromptItem("callback_whisper"), PromptItem("number", CALLER))
    assert shell.engine.requests[caller.request_id].state is RequestState.WHISPER
    await shell.finish_playback(whisper.param("playbackId") or "", ring.channel_id)
    dial = await shell.fake.wait_for_call("POST", r"/channels", count=2)
    return ring, dial.param("channelId") or ""


async def test_callback_keyed_in_connects_agent_then_customer(cb: Shell) -> None:
    caller = await _promised(cb)
    ring, customer_channel = await _whispered(cb, caller)

    dial = cb.fake.calls_to("POST", r"/channels")[-1]
    assert dial.param("endpoint") == f"PJSIP/{CALLER}@trunk"
    assert dial.param("callerId") == "+4570101010"
    assert int(dial.param("timeout") or 0) == 20
    kind, leg_id = (dial.param("appArgs") or "").split(",")
    assert kind == "customer"
    assert cb.fed_of(ev.PromptFinished, leg_id=ring.leg_id)
    assert cb.engine.requests[caller.request_id].state is RequestState.DIALLING_CUSTOMER

    customer = cb.fake.channels[customer_channel]
    customer["state"] = "Up"
    await cb.push("StasisStart", channel=customer, args=["customer", leg_id])
    bridge_id = call_bridge_id(caller.request_id)
    add = await cb.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel")
    assert set((add.param("channel") or "").split(",")) == {customer_channel, ring.channel_id}
    outcome = await cb.activities.wait("attempt_outcome", request_id=caller.request_id)
    assert outcome.data["outcome"] == "answered"
    await cb.activities.wait("connected", request_id=caller.request_id)

    # the customer hangs up: the agent is hung up and wraps up
    await cb.hangup_event(customer, "StasisEnd")
    await cb.fake.wait_for_call("DELETE", f"/channels/{ring.channel_id}")
    ended = await cb.activities.wait("ended", request_id=caller.request_id)
    assert ended.data["outcome"] == "served"
    assert cb.agent_state("1001") is AgentState.WRAP_UP


async def test_busy_customer_hangs_up_agent_and_quarantines(cb: Shell) -> None:
    caller = await _promised(cb)
    ring, customer_channel = await _whispered(cb, caller)
    customer = dict(cb.fake.channels[customer_channel])
    await cb.hangup_event(customer, "ChannelDestroyed", cause=17, cause_txt="User busy")

    outcome = await cb.activities.wait("attempt_outcome", request_id=caller.request_id)
    assert outcome.data["outcome"] == AttemptOutcome.BUSY.value and outcome.data["cause"] == 17
    # Issue 12: the agent heard ringback, then hears why before their leg is hung up (was: at once).
    ringback = await cb.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play", count=2)
    assert ringback.param("media") == "tone:ring"
    told = await cb.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play", count=3)
    assert told.param("media") == cb.media("callback_customer_unreachable")
    await cb.finish_playback(told.param("playbackId") or "", ring.channel_id)
    await cb.fake.wait_for_call("DELETE", f"/channels/{ring.channel_id}")
    req = cb.engine.requests[caller.request_id]
    assert req.state is RequestState.QUARANTINE
    assert cb.agent_state("1001") is AgentState.READY


async def test_customer_stasis_start_before_originate_answer(cb: Shell) -> None:
    """StasisStart for our originate may come before the HTTP response: the leg is known already."""
    caller = await _promised(cb)
    cb.fake.delay("POST", r"/channels", 0.3, times=1)
    cb.ready("1001")
    call = await cb.fake.wait_for_call("POST", r"/channels")  # recorded before the delay
    channel_id = call.param("channelId") or ""
    _, leg_id = (call.param("appArgs") or "").split(",")
    early = channel_json(channel_id, name="PJSIP/1001-000000aa")
    await cb.push("StasisStart", channel=early, args=["agent", leg_id])
    await cb.activities.wait("agent_answered", request_id=caller.request_id)
    assert cb.fed_of(ev.LegAnswered, leg_id=leg_id)
    assert not cb.fake.calls_to("POST", f"/channels/{channel_id}/answer"), "an answered leg is not refused"


async def test_a_customer_leg_missing_from_the_registry_is_taken_in_when_they_answer(cb: Shell) -> None:
    """The engine dials the customer; the shell's registry has lost the leg (seen once after a
    reconnect on real Asterisk, cause not found). Their answer used to be hung up as a stranger's
    call ("unknown_leg_hung_up") and the one-attempt callback missed: the leg the engine still
    dials is taken in again and the call connected."""
    caller = await _promised(cb)
    ring, customer_channel = await _whispered(cb, caller)
    kind, leg_id = (cb.fake.calls_to("POST", r"/channels")[-1].param("appArgs") or "").split(",")
    lost = cb.service.legs.by_leg(leg_id)
    assert lost is not None
    cb.service.legs.forget(lost)

    customer = cb.fake.channels[customer_channel]
    customer["state"] = "Up"
    await cb.push("StasisStart", channel=customer, args=[kind, leg_id])
    await cb.activities.wait("connected", request_id=caller.request_id)
    assert not cb.fake.calls_to("DELETE", f"/channels/{customer_channel}")
    found = cb.service.legs.by_channel(customer_channel)
    assert found is not None and found.leg_id == leg_id and found.answered
    add = await cb.fake.wait_for_call("POST", f"/bridges/{call_bridge_id(caller.request_id)}/addChannel")
    assert set((add.param("channel") or "").split(",")) == {customer_channel, ring.channel_id}


async def test_an_originated_call_the_engine_does_not_wait_on_is_still_hung_up(cb: Shell) -> None:
    """A stray: a leg id of ours the engine has finished with (or never had) is hung up silently."""
    channel = channel_json("5b0c7e52-stray", state="Up")
    cb.fake.channels[channel["id"]] = channel
    await cb.push("StasisStart", channel=channel, args=["customer", "nobody:c1"])
    await cb.fake.wait_for_call("DELETE", f"/channels/{channel['id']}")
    assert not cb.activities.find("connected")


@pytest.mark.parametrize(("state", "answered"), [("Up", True), ("Ringing", False)])
async def test_a_customer_leg_ending_answered_before_its_stasis_start_is_reported_answered(
    cb: Shell, state: str, answered: bool
) -> None:
    """The phone answered and hung up at once (after a stall Asterisk reports the hang-up before
    the StasisStart): its channel was up when it ended, so the engine hears a person who answered
    (the dialler counts a live answer abandoned, tests/core/test_dialler_amd_hangup.py), not a
    failed dial. A channel that ended ringing stays a dial that failed."""
    caller = await _promised(cb)
    _, customer_channel = await _whispered(cb, caller)
    _, leg_id = (cb.fake.calls_to("POST", r"/channels")[-1].param("appArgs") or "").split(",")
    customer = cb.fake.channels[customer_channel]
    customer["state"] = state
    await cb.push("ChannelHangupRequest", channel=customer, cause=16)
    await cb.eventually(lambda: bool(cb.fed_of(ev.LegFailed, leg_id=leg_id)), "the leg's end fed")
    (failed,) = cb.fed_of(ev.LegFailed, leg_id=leg_id)
    assert failed.answered is answered and failed.cause == 16
