"""Issue 12 on real Asterisk: what an agent hears on a callback, and auto-answer headers.

- While the customer's phone rings the agent hears ringback (RTP at the packet rate of a 20 ms
  stream), and the customer once they answer; before, the agent received nothing at all.
- A busy customer: the agent hears why (a prompt: RTP keeps coming), then their call ends; the
  agent is free again at once.
- A waiting caller hears an estimated wait only while an agent serves the queue.
- An agent set to auto-answer gets Call-Info / Alert-Info on the INVITE (read on the phone's side).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from app.telephony.executor import call_bridge_id

pytestmark = pytest.mark.e2e

SUPPORT, CB1, ANN = "4000", "4003", "4006"
ANNA = "+4520123456"
BO = "+4520654321"
CARL = "+4520111222"
AGENT = "1004"


async def arrive(holdfast, phonesim, number: str, caller: str):
    """A caller dials in; returns (call, request id) once the service has queued and answered them."""
    before = len(holdfast.activities.find("arrived"))
    call = await phonesim.call(number, caller)
    arrived = await holdfast.activities.wait("arrived", count=before + 1)
    await call.wait_answered()
    return call, arrived.request_id


async def take_callback(holdfast, phonesim, number: str, caller: str) -> str:
    """Dial in, hear the offer, press 1 then 1 (this number); returns the request id."""
    call, request_id = await arrive(holdfast, phonesim, number, caller)
    await holdfast.wait_activity("offered", request_id=request_id)
    await call.send_dtmf("1")
    await holdfast.wait_activity("callback_key", request_id=request_id)
    await call.send_dtmf("1")
    await holdfast.wait_activity("callback_accepted", request_id=request_id)
    await call.wait_hangup()  # after the confirmation prompt
    return request_id


async def received_per_second(call, seconds: float) -> float:
    """RTP packets the phone received per second over a window (a rate needs a window of time)."""
    first, t0 = await call.rtp_stats(), time.monotonic()
    await asyncio.sleep(seconds)
    last, t1 = await call.rtp_stats(), time.monotonic()
    return (last["rxcount"] - first["rxcount"]) / (t1 - t0)


async def wait_received(call, packets: int, timeout: float) -> int:
    """Until the phone received `packets` more RTP packets; fails if its call ends first."""
    deadline = time.monotonic() + timeout
    first = (await call.rtp_stats())["rxcount"]
    while True:
        got = (await call.rtp_stats())["rxcount"] - first  # a 404 here means the call already ended
        if got >= packets:
            return got
        assert not call.hung_up, f"the call ended after only {got} packets"
        assert time.monotonic() < deadline, f"only {got} packets in {timeout}s"
        await asyncio.sleep(0.1)


def playbacks_of(holdfast, request_id: str, media: str) -> list[str]:
    """Playbacks the service started and Asterisk has not yet reported finished."""
    return [
        pid
        for pid, task in holdfast.service.legs.playbacks.items()
        if task.leg_id.startswith(f"{request_id}:") and media in task.media
    ]


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_agent_hears_ringback_while_the_customer_rings_then_the_customer(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{ANNA}", "manual")  # it rings until the test answers it
    anna = await take_callback(holdfast, phonesim, CB1, ANNA)
    holdfast.service.agent_action(AGENT, "ready")
    agent = await phonesim.wait_incoming(f"agent:{AGENT}")
    customer = await phonesim.wait_incoming(f"customer:{ANNA}", timeout=15)
    await holdfast.wait_activity("attempt_started", request_id=anna)
    await wait_until(lambda: playbacks_of(holdfast, anna, "tone:ring"), 5, "the ringback to start")
    (ringback,) = playbacks_of(holdfast, anna, "tone:ring")

    rate = await received_per_second(agent, 2.0)  # cb1 lets the customer ring 5 s
    assert 40 <= rate <= 60, rate  # was 0: silence until the customer answered
    assert not customer.answered

    await customer.answer()  # and plays music, so the agent has something to hear
    await holdfast.wait_activity("connected", request_id=anna)
    # Asterisk reports the ringback finished (stopped), and both phones are in the call's bridge.
    await wait_until(lambda: ringback not in holdfast.service.legs.playbacks, 5, "the ringback to stop")
    await customer.wait_audio_flowing()
    await agent.wait_audio_flowing()
    bridge = holdfast.sut.ari_get(f"/bridges/{call_bridge_id(anna)}")
    assert len(bridge["channels"]) == 2
    await customer.hangup()
    await holdfast.wait_activity("ended", request_id=anna, outcome="served")


async def test_customer_busy_agent_hears_why_then_the_call_ends(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{ANNA}", "busy")
    anna = await take_callback(holdfast, phonesim, CB1, ANNA)  # one attempt: this is the last
    holdfast.service.agent_action(AGENT, "ready")
    agent = await phonesim.wait_incoming(f"agent:{AGENT}")
    outcome = await holdfast.wait_activity("attempt_outcome", request_id=anna, timeout=20)
    assert outcome.data["outcome"] == "busy"
    assert holdfast.engine.agents[AGENT].state == "ready"  # free at once, not after the prompt

    await wait_received(agent, 50, timeout=5)  # a second of the prompt; was: hung up at once
    await agent.wait_hangup(timeout=15)  # then the agent's call ends
    await holdfast.wait_activity("ended", request_id=anna, outcome="missed")
    final = [m for m in holdfast.service.prompts_played if m.endswith("callback_customer_unreachable_final")]
    assert len(final) == 1, holdfast.service.prompts_played


async def read_header(phonesim, call, header: str) -> str:
    """A SIP header of the INVITE that brought `call` to the phone ("" when absent)."""
    try:
        answer = await phonesim.ari.get(f"/channels/{call.id}/variable", variable=f"PJSIP_HEADER(read,{header})")
    except Exception as error:  # phonesim's AriError: Asterisk cannot "read" a header that is absent
        if getattr(error, "status", None) in (404, 500) and "Unable to read" in str(error):
            return ""
        raise
    return str(answer.get("value") or "")


async def test_auto_answer_agent_gets_call_info_and_alert_info(holdfast, phonesim):
    text = holdfast.config_path.read_text()
    entry = '  "1005":\n    name: Agent 1005\n'
    assert entry in text
    holdfast.config_path.write_text(text.replace(entry, entry + "    auto_answer: true\n"))
    assert holdfast.service.reload() is None
    for name in ("1004", "1005"):
        phonesim.set_behaviour(f"agent:{name}", "manual")  # ringing: the headers are read then
        holdfast.service.agent_action(name, "ready")

    await arrive(holdfast, phonesim, SUPPORT, BO)
    await arrive(holdfast, phonesim, SUPPORT, CARL)
    auto = await phonesim.wait_incoming("agent:1005")
    plain = await phonesim.wait_incoming("agent:1004")

    assert await read_header(phonesim, auto, "Call-Info") == "<sip:holdfast>;answer-after=0"
    assert await read_header(phonesim, auto, "Alert-Info") == "<http://holdfast>;info=alert-autoanswer;delay=0"
    assert await read_header(phonesim, plain, "Call-Info") == ""
    assert await read_header(phonesim, plain, "Alert-Info") == ""


async def test_estimated_wait_is_announced_while_an_agent_serves_the_queue(holdfast, phonesim):
    phonesim.set_behaviour(f"agent:{AGENT}", "manual")  # rung for the first caller: busy, but serving
    holdfast.service.agent_action(AGENT, "ready")
    first, _ = await arrive(holdfast, phonesim, ANN, BO)
    await phonesim.wait_incoming(f"agent:{AGENT}")
    second, rid = await arrive(holdfast, phonesim, ANN, CARL)
    announced = await holdfast.wait_activity("announced", request_id=rid)
    minutes = [int(item.split("=")[1]) for item in announced.data["items"] if item.startswith("minutes=")]
    assert len(minutes) == 1 and 1 <= minutes[0] < 60, announced.data  # a real figure, not 1440
    await first.hangup()
    await second.hangup()
