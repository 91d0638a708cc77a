"""A customer we dial who answers while the events websocket is away: their StasisStart went with
the gap, and the resync must tell the engine, as it does for an agent. Without it the engine went
on dialling them, hung up a customer who had answered at the ring timeout (no_answer) and called
them again later. With answering-machine detection the lost answer (or the lost result) is read
from where the channel is in our app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core.states import AttemptOutcome, RequestState
from app.telephony.executor import call_bridge_id
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLBACK_QUEUES, Shell, config_text, make_shell
from tests.telephony.test_service_callback import _promised, _whispered


@pytest.fixture
async def cb(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def test_a_callback_customer_who_answered_during_a_websocket_gap_is_connected(cb: Shell) -> None:
    caller = await _promised(cb)
    _, customer_channel = await _whispered(cb, caller)
    req = cb.engine.requests[caller.request_id]
    assert req.state is RequestState.DIALLING_CUSTOMER
    # While the websocket is down the customer picks up: Asterisk puts the channel in our app
    # (as it does: Stasis(app,customer,<leg>)) and sends its StasisStart to nobody.
    dialled = cb.fake.calls_to("POST", r"/channels")[-1]
    chan = cb.fake.channels[customer_channel]
    chan["state"] = "Up"
    chan["dialplan"]["app_data"] = f"{cb.fake.app_name},{dialled.param('appArgs')}"
    await cb.reconnect()

    await cb.activities.wait("connected", request_id=caller.request_id)
    await cb.fake.wait_for_call("POST", f"/bridges/{call_bridge_id(caller.request_id)}/addChannel")
    assert req.state is RequestState.CONNECTED
    assert req.attempts[-1].outcome is AttemptOutcome.ANSWERED
    assert not cb.fake.calls_to("DELETE", f"/channels/{customer_channel}")


async def test_a_customer_still_ringing_at_the_resync_is_left_to_ring(cb: Shell) -> None:
    """The other side: a channel that is not Up is not an answer."""
    caller = await _promised(cb)
    _, customer_channel = await _whispered(cb, caller)
    await cb.reconnect()
    req = cb.engine.requests[caller.request_id]
    assert req.state is RequestState.DIALLING_CUSTOMER and req.attempts[-1].outcome is None
    assert cb.service.legs.by_channel(customer_channel) is not None


AMD_QUEUES = CALLBACK_QUEUES.replace('caller_id: "+4570101010"', 'caller_id: "+4570101010"\n      amd: true')


@pytest.fixture
async def amd(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    """Callbacks with answering-machine detection: an answered customer goes to [holdfast-amd] first."""
    s = await make_shell(fake_ari, config_text(fake_ari, queues=AMD_QUEUES))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def _in_our_app(shell: Shell, channel_id: str, args: str) -> None:
    """The channel is answered and in our app as Stasis(<app>,<args>), unseen by the service."""
    chan = shell.fake.channels[channel_id]
    chan["state"] = "Up"
    chan["dialplan"]["app_data"] = f"{shell.fake.app_name},{args}"


async def test_a_customer_who_answered_in_the_gap_goes_to_answering_machine_detection(amd: Shell) -> None:
    """Detection asked for: the lost answer starts it, as the StasisStart would have; the engine
    hears of the answer from its result."""
    caller = await _promised(amd)
    _, customer_channel = await _whispered(amd, caller)
    _in_our_app(amd, customer_channel, amd.fake.calls_to("POST", r"/channels")[-1].param("appArgs") or "")
    await amd.reconnect()

    sent = await amd.fake.wait_for_call("POST", f"/channels/{customer_channel}/continue")
    assert sent.param("context") == "holdfast-amd"
    assert amd.engine.requests[caller.request_id].state is RequestState.DIALLING_CUSTOMER
    leg = amd.service.legs.by_channel(customer_channel)
    assert leg is not None
    await amd.push("StasisEnd", channel=amd.fake.channels[customer_channel])  # off to the dialplan
    await amd.push("StasisStart", channel=amd.fake.channels[customer_channel], args=["amd", "HUMAN", "HUMAN-500-500"])
    await amd.activities.wait("connected", request_id=caller.request_id)
    assert amd.engine.requests[caller.request_id].attempts[-1].outcome is AttemptOutcome.ANSWERED


async def test_a_detection_result_lost_in_the_gap_is_read_from_the_channel(amd: Shell) -> None:
    """Back from [holdfast-amd] while nobody listened: Stasis(<app>,amd,MACHINE,...) says voicemail."""
    caller = await _promised(amd)
    _, customer_channel = await _whispered(amd, caller)
    chan = amd.fake.channels[customer_channel]
    chan["state"] = "Up"
    await amd.push(
        "StasisStart",
        channel=chan,
        args=(amd.fake.calls_to("POST", r"/channels")[-1].param("appArgs") or "").split(","),
    )
    await amd.fake.wait_for_call("POST", f"/channels/{customer_channel}/continue")
    await amd.push("StasisEnd", channel=chan)
    _in_our_app(amd, customer_channel, "amd,MACHINE,MAXWORDLENGTH-5000")
    await amd.reconnect()

    req = amd.engine.requests[caller.request_id]
    await amd.activities.wait("attempt_outcome", request_id=caller.request_id)
    assert req.attempts[-1].outcome is AttemptOutcome.VOICEMAIL


async def test_an_adopted_customer_leg_still_goes_to_answering_machine_detection(amd: Shell) -> None:
    """A leg taken in again knows nothing of its dial: adopted at a resync (after a restart of the
    service, here a registry without it), it used to be told to the engine as answered at once,
    and a machine was put through to the agent. Its dial asked for detection: it goes there."""
    caller = await _promised(amd)
    _, customer_channel = await _whispered(amd, caller)
    lost = amd.service.legs.by_channel(customer_channel)
    assert lost is not None and lost.amd
    amd.service.legs.forget(lost)
    _in_our_app(amd, customer_channel, amd.fake.calls_to("POST", r"/channels")[-1].param("appArgs") or "")
    await amd.reconnect()

    sent = await amd.fake.wait_for_call("POST", f"/channels/{customer_channel}/continue")
    assert sent.param("context") == "holdfast-amd"
    adopted = amd.service.legs.by_channel(customer_channel)
    assert adopted is not None and adopted.adopted
    assert amd.engine.requests[caller.request_id].state is RequestState.DIALLING_CUSTOMER
    await amd.push("StasisEnd", channel=amd.fake.channels[customer_channel])
    await amd.push("StasisStart", channel=amd.fake.channels[customer_channel], args=["amd", "MACHINE", "LONGGREETING"])
    await amd.activities.wait("attempt_outcome", request_id=caller.request_id)
    assert amd.engine.requests[caller.request_id].attempts[-1].outcome is AttemptOutcome.VOICEMAIL


async def test_a_customer_leg_found_again_still_goes_to_answering_machine_detection(amd: Shell) -> None:
    """The same for a leg missing from the registry whose answer comes as its StasisStart."""
    caller = await _promised(amd)
    _, customer_channel = await _whispered(amd, caller)
    lost = amd.service.legs.by_channel(customer_channel)
    assert lost is not None
    amd.service.legs.forget(lost)
    chan = amd.fake.channels[customer_channel]
    chan["state"] = "Up"
    await amd.push("StasisStart", channel=chan, args=["customer", lost.leg_id])

    sent = await amd.fake.wait_for_call("POST", f"/channels/{customer_channel}/continue")
    assert sent.param("context") == "holdfast-amd"
    assert amd.engine.requests[caller.request_id].state is RequestState.DIALLING_CUSTOMER
