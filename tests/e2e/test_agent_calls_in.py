"""An agent whose own phone calls into a queue (a test call, or calling in as any caller would:
extensions.conf lets an agent's phone dial an inbound number) is not offered calls while it lasts:
rung for their own call, their phone would ring as call waiting, and a ring out would pause them
`not_responding` for a call they could never take."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SUPPORT = "4000"


async def test_an_agent_calling_the_queue_is_not_rung_for_their_own_call_and_is_served_by_another(holdfast, phonesim):
    service = holdfast.service
    service.agent_action("1001", "ready")
    own = await phonesim.agent_dials("1001", SUPPORT)
    arrived = await holdfast.wait_activity("arrived", queue="support")
    # An agent free for the caller would have been rung in the step that recorded the arrival.
    assert not holdfast.activities.find("agent_ringing", request_id=arrived.request_id)
    await holdfast.wait_activity("agent_own_call", agent_id="1001", on_call=True)
    await own.wait_audio_flowing()  # on hold, music both ways
    assert holdfast.engine.agents["1001"].state == "ready"  # not paused: nothing was refused

    service.agent_action("1002", "ready")
    colleague = await phonesim.wait_incoming("agent:1002")
    connected = await holdfast.wait_activity("connected", request_id=arrived.request_id)
    assert connected.agent_id == "1002"
    await colleague.wait_audio_flowing()
    await own.wait_audio_flowing()
    await own.hangup()
    await colleague.wait_hangup()
    await holdfast.wait_activity("ended", request_id=arrived.request_id, outcome="served")
    await holdfast.wait_activity("agent_own_call", agent_id="1001", on_call=False)

    # Their own call over, they are offered the next caller as usual.
    caller = await phonesim.call(SUPPORT, "+4520000301")
    rung = await phonesim.wait_incoming("agent:1001")
    served = await holdfast.wait_activity("connected", agent_id="1001")
    await rung.wait_audio_flowing()
    await caller.wait_audio_flowing()
    await caller.hangup()
    await rung.wait_hangup()
    await holdfast.wait_activity("ended", request_id=served.request_id, outcome="served")
    assert not holdfast.activities.find("agent_paused", agent_id="1001")
    await holdfast.assert_nothing_left_behind()
