"""The hang-up after a prompt that ends the call (the callback confirmation, a refusal, a feature
code's answer) is a hang-up like any other: a refusal from Asterisk is retried, and one it keeps
refusing stops the service. Swallowed, a single 500 left the caller on an open, silent line after
"we will call you back"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLBACK_QUEUES, CALLER, Caller, Shell, config_text, make_shell


@pytest.fixture
async def cb(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES))
    s.service.executor.hangup_retries = (0.0, 0.0, None)
    await s.start()
    try:
        yield s
    finally:
        s.fake.clear_rules()
        await s.stop()


async def _confirmation_finished(shell: Shell, refusals: int | None) -> Caller:
    """A caller keys 1 for a callback and hears the confirmation to its end; Asterisk refuses
    the `refusals` first hang-ups of their channel (None: all) with 500."""
    caller = await shell.caller(CALLER)
    await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="1")
    await shell.activities.wait("callback_accepted", request_id=caller.request_id)
    play = await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/play")
    assert play.param("media") == shell.media("callback_confirmed")
    shell.fake.fail("DELETE", f"/channels/{caller.channel_id}", 500, times=refusals)
    await shell.finish_playback(play.param("playbackId") or "", caller.channel_id)
    return caller


async def test_a_refused_hang_up_after_the_callback_confirmation_is_retried(cb: Shell) -> None:
    caller = await _confirmation_finished(cb, refusals=1)  # Asterisk busy for a moment
    caller_channel = f"/channels/{caller.channel_id}"
    retry = await cb.fake.wait_for_call("DELETE", caller_channel, count=2)
    assert [c.status for c in cb.fake.calls_to("DELETE", caller_channel)] == [500, 204] and retry.status == 204
    assert caller.channel_id not in cb.fake.channels
    assert cb.service.healthy


async def test_a_hang_up_after_a_prompt_asterisk_keeps_refusing_stops_the_service(cb: Shell) -> None:
    """A line left open for ever is not served on: the service stops loudly (a restart reconciles)."""
    caller = await _confirmation_finished(cb, refusals=None)
    await cb.eventually(cb.service.fatal.is_set, "the service stopping")
    assert cb.service.fatal_reason == "hangup_failed_stopping"
    assert len(cb.fake.calls_to("DELETE", f"/channels/{caller.channel_id}")) == 3


async def test_a_refused_hang_up_after_a_refusal_prompt_is_retried(cb: Shell) -> None:
    """A one-shot call (a number we do not serve: "not in service"): the same, its own leg."""
    chan = await cb.arrive(CALLER, args=("inbound", "9999"))
    play = await cb.fake.wait_for_call("POST", f"/channels/{chan['id']}/play")
    assert play.param("media") == cb.media("not_in_service")
    cb.fake.fail("DELETE", f"/channels/{chan['id']}", 500, times=1)
    await cb.finish_playback(play.param("playbackId") or "", chan["id"])
    retry = await cb.fake.wait_for_call("DELETE", f"/channels/{chan['id']}", count=2)
    assert retry.status == 204 and chan["id"] not in cb.fake.channels
    assert cb.service.healthy
