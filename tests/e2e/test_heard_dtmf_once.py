"""One key pressed is handled once, whoever's phone placed the call (issue 12, 2)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

CB = "4002"  # queue "cb": pressing 1 asks for a callback


async def test_one_digit_from_an_agents_phone_is_handled_once(holdfast, phonesim):
    seen: list[dict] = []
    events = holdfast.service.ari.events
    received = events._on_event

    def record(event) -> None:  # what Asterisk sent, before any de-duplication
        if event.type == "ChannelDtmfReceived":
            seen.append(event.raw)
        received(event)

    events._on_event = record
    call = await phonesim.agent_dials("1001", CB)  # the agent's own endpoint is subscribed to
    arrived = await holdfast.wait_activity("arrived", queue="cb")
    await call.wait_audio_flowing()  # on hold (an agent's number is not offered a callback)
    await call.send_dtmf("1")  # one key: the caller id "1001" cannot be called back
    await holdfast.wait_activity("callback_refused", request_id=arrived.request_id)
    await call.hangup()
    await holdfast.wait_activity("ended", request_id=arrived.request_id)  # after the digit's events, same lane
    refused = holdfast.activities.find("callback_refused", request_id=arrived.request_id)
    assert len(refused) == 1, f"handled {len(refused)} times; Asterisk sent {len(seen)} DTMF events: {seen}"
    assert len(holdfast.activities.find("callback_key", request_id=arrived.request_id)) == 0
