"""A caller who entered the app while the service could not record them is taken in at its restart.

The service is frozen (SIGSTOP: its ARI websocket stays open, so Asterisk still puts the caller into
the Stasis app and sends StasisStart into a socket nobody reads), then killed with -9: the caller's
arrival was never stored, the moment a crash between StasisStart and the commit leaves behind. The
shipped dialplan has answered the caller before Stasis, so they wait in silence. The next start
finds them in the app and must take them in (music, a place in the queue), not leave them there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from conftest import ServiceProcess
from phonesim import PhoneSim
from test_kill9_journeys import guarded

from app.sandbox import AsteriskInstance

pytestmark = pytest.mark.e2e

QUEUE = "4003"  # queue cb1: nobody serves it, so the caller stays on hold
CALLER = "+4520123491"


async def waiting_in_the_app(sut: AsteriskInstance, caller: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        for channel in sut.ari_get("/channels"):
            if channel["caller"]["number"] == caller and channel["dialplan"]["app_name"] == "Stasis":
                return channel
        assert time.monotonic() < deadline, f"{caller} not in the Stasis app within {timeout} s"
        await asyncio.sleep(0.1)


async def test_a_caller_who_arrived_while_the_service_was_frozen_is_taken_in_after_a_restart(
    service_process: ServiceProcess, phonesim: PhoneSim, sut_asterisk: AsteriskInstance
) -> None:
    service = service_process
    assert service.proc is not None
    os.kill(service.proc.pid, signal.SIGSTOP)
    try:
        call = await phonesim.call(QUEUE, CALLER)
        channel = await waiting_in_the_app(sut_asterisk, CALLER)
        await call.wait_answered()  # by the dialplan, with nobody to put them on hold
        assert channel["id"] not in sut_asterisk.ari_get("/bridges/holdfast-hold-cb1")["channels"]
    finally:
        service.kill9()
    assert not any(e.data.get("caller") == CALLER for e in await service.store_events.refresh())

    await service.start()
    await guarded(service, call.wait_audio_received(), "music on hold heard after the restart", 15)
    events = await service.wait_events(
        lambda ev: any(e.kind == "arrived" and e.data.get("caller") == CALLER for e in ev), "the caller's arrival"
    )
    arrived = next(e for e in events if e.kind == "arrived" and e.data.get("caller") == CALLER)
    assert arrived.request_id == channel["id"]  # the channel is the request, as for any caller
    hold = sut_asterisk.ari_get("/bridges/holdfast-hold-cb1")
    assert channel["id"] in hold["channels"]
    await call.hangup()
    await service.wait_events(
        lambda ev: any(e.kind == "ended" and e.request_id == channel["id"] for e in ev), "the caller's end"
    )


async def test_a_refused_call_whose_prompt_outlived_the_service_is_hung_up_after_a_restart(
    service_process: ServiceProcess, phonesim: PhoneSim, sut_asterisk: AsteriskInstance
) -> None:
    """A number no queue answers hears "not in service" and is hung up when the prompt ends. The
    service is killed while the prompt plays, so nobody is left to hang up: the next start finds
    the answered call in the app, knows nothing of it, and hangs it up instead of leaving the
    caller in silence until they give up."""
    service = service_process
    call = await phonesim.call("4999", "+4520123492")  # mapped to no queue
    await guarded(service, call.wait_audio_received(min_packets=10), "the refusal prompt heard", 10)
    service.kill9()
    channel = await waiting_in_the_app(sut_asterisk, "+4520123492")
    assert channel["state"] == "Up"

    await service.start()
    await guarded(service, call.wait_hangup(), "the call hung up after the restart", 15)
    assert not any(c["id"] == channel["id"] for c in sut_asterisk.ari_get("/channels"))
