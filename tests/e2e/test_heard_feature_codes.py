"""Feature codes on real Asterisk: an agent is offered calls only once the feature-code call has
ended (issue 12, 3): never a queue call as call waiting on top of the confirmation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
END_EVENTS = ("ChannelHangupRequest", "StasisEnd", "ChannelDestroyed")


def first_index(events: list[dict], channel_id: str, types: tuple[str, ...]) -> int:
    for i, event in enumerate(events):
        if event.get("type") in types and (event.get("channel") or {}).get("id") == channel_id:
            return i
    raise AssertionError(f"no {types} for {channel_id}")


async def test_ready_code_rings_the_agent_only_after_the_feature_call_ended(holdfast, phonesim):
    caller = await phonesim.call(SUPPORT, "+4520123481")
    await holdfast.wait_activity("arrived", caller="+4520123481")
    feature = await phonesim.agent_dials("1002", "*21")
    await feature.wait_answered()
    queue_call = await phonesim.wait_incoming("agent:1002", timeout=20)
    assert feature.hung_up, "the queue call rang the agent while the *21 call was still up (call waiting)"
    await holdfast.wait_activity("connected", agent_id="1002")
    # On the phone's side, in the order Asterisk reported them: the feature call ended, then the
    # queue call came in.
    events = phonesim.ari.events
    ended = first_index(events, feature.id, END_EVENTS)
    rung = first_index(events, queue_call.id, ("StasisStart",))
    assert ended < rung, [(e.get("type"), (e.get("channel") or {}).get("id")) for e in events[ended - 5 : rung + 5]]
    await queue_call.hangup()
    await caller.wait_hangup()
