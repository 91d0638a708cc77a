"""Preview with a review time on real Asterisk: the contact is dialled `review_time` after the
agent answers, or at once when the agent presses # ("dial now"); * skips the contact."""

from __future__ import annotations

import pytest
from test_dialler_preview import upload

pytestmark = pytest.mark.e2e

DORA, ED = "+4520123473", "+4520123474"


@pytest.fixture
def holdfast_extra_config() -> str:
    return """
campaigns:
  prev:
    mode: preview
    queue: sales
    ring_time: 15s
    review_time: 4s
"""


async def test_the_contact_is_dialled_review_time_after_the_agent_answers(holdfast, phonesim):
    await upload(holdfast, (DORA, "Dora", {}))
    holdfast.service.agent_action("1001", "ready")
    agent = await phonesim.wait_incoming("agent:1001")  # answers at once
    answered = await holdfast.wait_activity("agent_answered", agent_id="1001")
    await phonesim.wait_incoming(f"customer:{DORA}", timeout=15)
    started = await holdfast.wait_activity("attempt_started", number=DORA)
    assert 3.9 <= started.at - answered.at <= 5.0
    await agent.hangup()


async def test_hash_dials_now_and_star_skips(holdfast, phonesim):
    await upload(holdfast, (DORA, "Dora", {}), (ED, "Ed", {}))
    holdfast.service.agent_action("1002", "ready")
    agent = await phonesim.wait_incoming("agent:1002")
    assert agent.caller_name == "Dora"
    await holdfast.wait_activity("agent_answered", agent_id="1002")
    await agent.send_dtmf("*")  # skip Dora
    skipped = await holdfast.wait_activity("contact_skipped", agent_id="1002")
    await agent.wait_hangup()
    agent = await phonesim.wait_incoming("agent:1002")
    assert agent.caller_name == "Ed"
    answered = await holdfast.wait_activity("agent_answered", agent_id="1002", count=2)
    await agent.send_dtmf("#")  # dial now
    started = await holdfast.wait_activity("attempt_started", number=ED)
    assert started.at - answered.at < 3.5  # before the 4 s review time
    assert skipped.at < started.at and not holdfast.activities.find("attempt_started", number=DORA)
    await phonesim.wait_incoming(f"customer:{ED}", timeout=15)
    await agent.hangup()
