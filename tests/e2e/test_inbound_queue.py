"""The inbound queue on real Asterisk: callers held with music, agents rung and bridged."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
CALLER = "+4520123456"


async def test_one_caller_one_ready_agent_bridged_with_audio_both_ways(holdfast, phonesim):
    holdfast.service.agent_action("1001", "ready")
    phonesim.set_behaviour("agent:1001", "answer")
    caller = await phonesim.call(SUPPORT, CALLER)
    await caller.wait_answered()
    agent = await phonesim.wait_incoming("agent:1001")
    await holdfast.wait_activity("connected", agent_id="1001")
    assert agent.caller_number.endswith("20123456")  # the agent sees who is calling
    await caller.wait_audio_flowing()
    await agent.wait_audio_flowing()
