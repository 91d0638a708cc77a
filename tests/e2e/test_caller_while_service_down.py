"""A caller who dials in while the service is down (killed, a supervisor about to start it again):
Stasis() fails at once while no websocket of the service is connected, and the dialplan used to
hang the call up: a caller lost in the seconds of a restart, without the service ever hearing of
them (also seen when the service's websocket reconnected after an Asterisk stall,
test_asterisk_frozen_random). Now the dialplan ([holdfast-stasis] in asterisk-conf/extensions.conf)
keeps the answered caller on music on hold and hands them over as soon as the service is back.
"""

from __future__ import annotations

import pytest
from conftest import ServiceProcess
from test_heard_hold_audio import longest_silence, rtp_samples

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
CALLER = "+4520100090"


async def test_a_caller_arriving_while_the_service_is_down_hears_music_and_is_served_once_it_is_back(
    service_process: ServiceProcess, phonesim
) -> None:
    service = service_process
    service.kill9()
    caller = await phonesim.call(SUPPORT, CALLER)
    await caller.wait_answered(timeout=10)  # by the dialplan, service or not
    heard = (await rtp_samples([caller], 4.0))[caller.id]
    assert not caller.hung_up, "the caller was hung up while the service was down"
    rate = (heard[-1][1] - heard[0][1]) / (heard[-1][0] - heard[0][0])
    assert rate > 40, f"{rate:.0f} RTP packets/s while waiting for the service: not the music"
    assert longest_silence(heard) < 1.0, "gaps in the music while waiting for the service"
    stored = await service.store_events.refresh()
    assert not [e for e in stored if e.data.get("caller") == CALLER], "the caller known before the restart"

    await service.start()
    events = await service.wait_events(
        lambda ev: any(e.kind == "arrived" and e.data.get("caller") == CALLER for e in ev), "the caller taken in"
    )
    request_id = next(e.request_id for e in events if e.kind == "arrived" and e.data.get("caller") == CALLER)
    await caller.wait_audio_received(timeout=10)  # the queue's music now
    status, body = await service.api("POST", "/api/agents/1001/ready")
    assert status == 200, body
    agent = await phonesim.wait_incoming("agent:1001", timeout=20)
    await service.wait_events(
        lambda ev: any(e.kind == "connected" and e.request_id == request_id for e in ev), "the caller connected"
    )
    await caller.wait_audio_flowing(timeout=10)
    await agent.wait_audio_flowing(timeout=10)
    await caller.hangup()
    events = await service.wait_events(
        lambda ev: any(e.kind == "ended" and e.request_id == request_id for e in ev), "the call ended"
    )
    ended = [e for e in events if e.kind == "ended" and e.request_id == request_id]
    assert [e.data.get("outcome") for e in ended] == ["served"]
    assert sum(1 for e in events if e.kind == "arrived" and e.data.get("caller") == CALLER) == 1


async def test_a_feature_code_dialled_while_the_service_is_down_is_carried_out_once_it_is_back(
    service_process: ServiceProcess, phonesim
) -> None:
    """An agent dialling *21 (ready) during a restart used to get a call that failed at once, and
    stayed logged off without knowing. Now they hear music until the service takes the code, then
    its confirmation; the proof is the next caller ringing their phone."""
    service = service_process
    service.kill9()
    feature = await phonesim.agent_dials("1001", "*21")
    await feature.wait_answered(timeout=10)  # by the dialplan, service or not
    heard = (await rtp_samples([feature], 3.0))[feature.id]
    assert not feature.hung_up, "the feature code call failed while the service was down"
    rate = (heard[-1][1] - heard[0][1]) / (heard[-1][0] - heard[0][0])
    assert rate > 40, f"{rate:.0f} RTP packets/s while waiting for the service: not the music"

    await service.start()
    await feature.wait_hangup(timeout=20)  # the confirmation played, the call ended by the service
    caller = await phonesim.call(SUPPORT, CALLER)
    agent = await phonesim.wait_incoming("agent:1001", timeout=20)  # ready: by the code alone
    await service.wait_events(lambda ev: any(e.kind == "connected" for e in ev), "the caller connected")
    await agent.wait_audio_flowing(timeout=10)
    await caller.hangup()
    await agent.wait_hangup(timeout=10)
