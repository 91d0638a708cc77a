"""Two queues' callbacks to one customer on real Asterisk: they ring the customer one after the other.

Before 5e71dd7 a customer who asked two queues to call back (the web form twice, or 1 pressed in
each queue) was dialled by both callbacks at once: their phone, busy with the first call, refused
the second, the second agent heard busy, and that busy counted as one of the customer's attempts
(quarantine, or the callback given up). Now the second queue's callback waits, keeping its place,
while the first is in service (EngineBase.callback_in_service_to; the core's own test is
tests/core/test_engine_state_machine.py). Here: what the customer's phone and both agents see.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from phonesim import PhoneSim

from app.telephony.executor import call_bridge_id

pytestmark = pytest.mark.e2e

CUSTOMER = "+4520555444"
# Both queues give 3 attempts: a busy attempt would be quarantined and retried, not end the callback,
# so only the attempts' count and outcomes tell it happened.
FIRST_QUEUE, SECOND_QUEUE = "cb", "cbr"
AGENTS = ("1001", "1002")  # every e2e agent serves both queues: one ready for each callback


class SingleLinePhone:
    """The customer's phone, as a real one with one line: a call that comes while another is up is
    refused busy (cause 17). Records every call the SUT sent to it, and whether the line was in use."""

    def __init__(self, sim: PhoneSim, number: str) -> None:
        self.sim = sim
        self.number = number
        self.address = f"customer:{number}"
        self.calls: list[tuple[str, bool]] = []  # (channel id, the line was in use when it came)
        # Runs before the simulator's own listener, so the behaviour it applies to the new call is ours.
        sim.ari.listeners.insert(0, self._on_event)

    def _line_in_use(self) -> bool:
        return any(
            c.address == self.address and c.direction == "incoming" and not c.going for c in self.sim.calls.values()
        )

    def _on_event(self, ev: dict[str, Any]) -> None:
        channel = ev.get("channel") or {}
        if ev.get("type") != "StasisStart" or channel.get("id") in self.sim.calls:
            return
        if (ev.get("args") or [])[:2] != ["customer", self.number]:
            return
        busy = self._line_in_use()
        self.calls.append((channel["id"], busy))
        self.sim.set_behaviour(self.address, "busy" if busy else "answer")


async def new_callback(holdfast: Any, queue: str, number: str) -> str:
    """A callback asked for on the web form; returns its request id."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{holdfast.http_url}/api/callbacks", json={"queue": queue, "number": number}) as resp,
    ):
        body = await resp.json()
        assert resp.status == 201, body
        return str(body["request_id"])


def describe(holdfast: Any, *request_ids: str) -> str:
    mine = [a for a in holdfast.activities.items if a.request_id in request_ids]
    return "activities: " + "; ".join(f"{a.at:.2f} {a.request_id} {a.kind} {a.agent_id or ''} {a.data}" for a in mine)


@pytest.mark.slow  # ~20 s: two whole callbacks, each with its whisper; `make test` is at its time budget
async def test_a_customer_with_callbacks_in_two_queues_is_rung_by_one_at_a_time(holdfast, phonesim):
    phone = SingleLinePhone(phonesim, CUSTOMER)
    for agent_id in AGENTS:
        holdfast.service.agent_action(agent_id, "ready")
        await holdfast.wait_activity("agent_state", agent_id=agent_id, state="ready")
    first = await new_callback(holdfast, FIRST_QUEUE, CUSTOMER)
    second = await new_callback(holdfast, SECOND_QUEUE, CUSTOMER)

    # The first queue's callback: its agent is rung, then the customer, who answers and hears them.
    ringing = await holdfast.wait_activity("agent_ringing", request_id=first)
    first_agent = await phonesim.wait_incoming(f"agent:{ringing.agent_id}")
    await holdfast.wait_activity("attempt_started", request_id=first, timeout=20)
    # The engine dispatches on every event, synchronously: had the second callback been let through
    # (as it was before the fix, at once, by the other ready agent), it would have rung an agent by now.
    assert not holdfast.activities.find("agent_ringing", request_id=second), describe(holdfast, first, second)
    first_customer = await phonesim.wait_incoming(phone.address, timeout=20)
    await holdfast.wait_activity("connected", request_id=first)
    await first_customer.wait_audio_flowing()
    await first_agent.wait_audio_flowing()

    # While the first call is up, the second callback keeps its place and the other agent stays free.
    other = next(a for a in AGENTS if a != ringing.agent_id)
    assert holdfast.engine.agents[other].state == "ready"
    assert holdfast.engine.requests[second].state == "waiting", describe(holdfast, first, second)
    assert not holdfast.activities.find("agent_ringing", request_id=second), describe(holdfast, first, second)
    assert phone.calls == [(first_customer.id, False)], f"rung while on a call: {phone.calls}"

    await first_customer.hangup()
    await holdfast.wait_activity("ended", request_id=first, outcome="served")

    # Then the second queue's callback is made, and the customer hears its agent.
    ringing = await holdfast.wait_activity("agent_ringing", request_id=second)
    second_agent = await phonesim.wait_incoming(f"agent:{ringing.agent_id}", timeout=15)
    second_customer = await phonesim.wait_incoming(phone.address, timeout=20)
    await holdfast.wait_activity("connected", request_id=second)
    await second_customer.wait_audio_flowing()
    await second_agent.wait_audio_flowing()
    bridge = holdfast.sut.ari_get(f"/bridges/{call_bridge_id(second)}")
    assert len(bridge["channels"]) == 2  # the customer and the agent, in the call's bridge
    await second_customer.hangup()
    await holdfast.wait_activity("ended", request_id=second, outcome="served")

    # The customer's phone was never rung while on a call, and each callback took one attempt.
    info = describe(holdfast, first, second)
    assert phone.calls == [(first_customer.id, False), (second_customer.id, False)], f"{phone.calls}; {info}"
    for request_id in (first, second):
        assert [a.data["attempt"] for a in holdfast.activities.find("attempt_started", request_id=request_id)] == [1]
        outcomes = holdfast.activities.find("attempt_outcome", request_id=request_id)
        assert [o.data["outcome"] for o in outcomes] == ["answered"], info
    assert not holdfast.activities.find("quarantine", request_id=first), info
    assert not holdfast.activities.find("quarantine", request_id=second), info
    await holdfast.service.wait_committed()
    for request_id in (first, second):
        stored = await holdfast.store.load_request(request_id)
        assert stored is not None and stored.outcome == "served", info
        assert [a.outcome.value for a in stored.attempts if a.outcome is not None] == ["answered"], info
        assert len(stored.attempts) == 1, info
    await holdfast.assert_nothing_left_behind()
