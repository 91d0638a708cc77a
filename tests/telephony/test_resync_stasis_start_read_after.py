"""A channel that enters our app while the resync after a reconnect runs: Asterisk lists it (GET
/channels) and also sends its StasisStart on the new websocket, which is read only after the
resync. The resync acts on the channel (an answer taken, a customer sent to answering-machine
detection, a caller taken in); the StasisStart read after must not do it a second time. It did: a
second `continue` for the customer (refused with 409: the channel had left Stasis) was taken for
"no AMD", and the agent was connected to a channel detection still listened to; a caller taken in
got a LegAnswered of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from app.core import events as ev
from app.core.states import AttemptOutcome, RequestState
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri, RecordedCall
from tests.telephony.conftest import CALLER, Shell, config_text, make_shell
from tests.telephony.test_resync_answered_in_gap import AMD_QUEUES
from tests.telephony.test_service_callback import _promised, _whispered


@pytest.fixture
async def amd(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, config_text(fake_ari, queues=AMD_QUEUES))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def _during_next_resync(shell: Shell, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` once, when the next resync sets the event filter (before it reads the
    channels): what it does reaches Asterisk's list and the new websocket at the same moment."""
    resyncs = shell.service.resyncs
    done: list[bool] = []

    async def hook(call: RecordedCall) -> None:
        if "eventFilter" in call.path and shell.service.resyncs == resyncs and not done:
            done.append(True)
            await action()

    shell.fake.on_request.append(hook)


async def test_a_customer_answering_during_the_resync_is_sent_to_detection_once(amd: Shell) -> None:
    caller = await _promised(amd)
    _, customer = await _whispered(amd, caller)
    app_args = amd.fake.calls_to("POST", r"^/channels$")[-1].param("appArgs") or ""

    async def answers() -> None:
        chan = amd.fake.channels[customer]
        chan["state"] = "Up"
        chan["dialplan"]["app_data"] = f"{amd.fake.app_name},{app_args}"
        await amd.fake.push_event("StasisStart", channel=chan, args=app_args.split(","))

    async def left_stasis(call: RecordedCall) -> None:
        if call.method == "POST" and call.path.endswith(f"{customer}/continue"):
            # Asterisk refuses any further continue: the channel has left Stasis for the dialplan
            amd.fake.fail("POST", rf"/channels/{customer}/continue", 409, "Channel not in Stasis application")

    _during_next_resync(amd, answers)
    amd.fake.on_request.append(left_stasis)
    await amd.reconnect()
    await amd.settle()

    req = amd.engine.requests[caller.request_id]
    assert len(amd.fake.calls_to("POST", f"/channels/{customer}/continue")) == 1
    assert req.state is RequestState.DIALLING_CUSTOMER, "connected before detection's result"
    assert not amd.fed_of(ev.LegAnswered, leg_id=req.customer_leg)
    # detection's result still connects them
    await amd.push("StasisEnd", channel=amd.fake.channels[customer])
    await amd.push("StasisStart", channel=amd.fake.channels[customer], args=["amd", "HUMAN", "HUMAN-500-500"])
    await amd.activities.wait("connected", request_id=caller.request_id)
    assert req.attempts[-1].outcome is AttemptOutcome.ANSWERED


async def test_an_agent_answering_during_the_resync_is_answered_once(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari)
    try:
        await shell.start()
        shell.ready("1001")
        caller = await shell.caller(CALLER)
        ring = await shell.wait_originate("1001")

        async def answers() -> None:
            chan = shell.fake.channels[ring.channel_id]
            chan["state"] = "Up"
            chan["dialplan"]["app_data"] = f"{shell.fake.app_name},agent,{ring.leg_id}"
            await shell.fake.push_event("StasisStart", channel=chan, args=["agent", ring.leg_id])

        _during_next_resync(shell, answers)
        with capture_logs() as logs:
            await shell.reconnect()
            await shell.settle()
        await shell.activities.wait("connected", request_id=caller.request_id)
        assert len(shell.fed_of(ev.LegAnswered, leg_id=ring.leg_id)) == 1
        assert [entry for entry in logs if entry.get("event") == "stasis_start_seen_before"]
    finally:
        await shell.stop()


async def test_a_caller_arriving_during_the_resync_is_taken_in_once(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    shell = await make_shell(fake_ari, store=store)
    arrived: dict[str, dict[str, Any]] = {}

    async def arrives() -> None:
        chan = shell.fake.add_channel(caller_number=CALLER, state="Up")
        chan["dialplan"]["app_data"] = f"{shell.fake.app_name},inbound,4000"
        arrived["chan"] = chan
        await shell.fake.push_event("StasisStart", channel=chan, args=["inbound", "4000"])

    try:
        await shell.start()
        _during_next_resync(shell, arrives)
        with capture_logs() as logs:
            await shell.reconnect()
            await shell.settle()
        chan_id = arrived["chan"]["id"]
        assert len(shell.fed_of(ev.CallerArrived, request_id=chan_id)) == 1
        assert not shell.fed_of(ev.LegAnswered, leg_id=chan_id)
        assert not [entry for entry in logs if entry.get("event") == "event_refused"]
        assert shell.engine.requests[chan_id].state is RequestState.WAITING
    finally:
        await shell.stop()
        await store.close()


async def test_a_continue_asterisk_does_not_answer_is_not_taken_for_no_detection(fake_ari: FakeAri) -> None:
    """The continue timed out: Asterisk may have carried it out and detection may be running. The
    customer is not connected as "no AMD"; detection's result decides."""
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=AMD_QUEUES), ari_config={"request_timeout": 0.3})
    try:
        await shell.start()
        caller = await _promised(shell)
        _, customer = await _whispered(shell, caller)
        shell.fake.delay("POST", rf"/channels/{customer}/continue", 1.0, apply_first=True)
        chan = shell.fake.channels[customer]
        chan["state"] = "Up"
        app_args = shell.fake.calls_to("POST", r"^/channels$")[-1].param("appArgs") or ""
        with capture_logs() as logs:
            await shell.push("StasisStart", channel=chan, args=app_args.split(","))
            await shell.eventually(
                lambda: any(entry.get("event") == "amd_continue_unanswered" for entry in logs), "the continue's timeout"
            )
        req = shell.engine.requests[caller.request_id]
        assert req.state is RequestState.DIALLING_CUSTOMER
        assert not shell.fed_of(ev.LegAnswered, leg_id=req.customer_leg)
        await shell.push("StasisStart", channel=chan, args=["amd", "MACHINE", "MAXWORDLENGTH-5000"])
        await shell.activities.wait("attempt_outcome", request_id=caller.request_id)
        assert req.attempts[-1].outcome is AttemptOutcome.VOICEMAIL
    finally:
        await shell.stop()
