"""A hang-up Asterisk did not answer (a REST timeout) is tried again while Asterisk is connected,
not only at the next resync: a timeout does not drop the events websocket, so that resync may
never come, and the agent's line stayed open on a finished call while the engine offered them the
next one. One that keeps failing stops the service loudly (a restart reconciles)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import AgentCall, Shell, make_shell


@pytest.fixture
async def slow(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    """A shell whose REST calls time out after 0.2 s, failed hang-ups tried twice at once."""
    s = await make_shell(fake_ari, ari_config={"request_timeout": 0.2})
    s.service.executor.hangup_retries = (0.0, None)
    s.service.executor.deferred_hangup_every = 0.05
    await s.start()
    try:
        yield s
    finally:
        s.fake.clear_rules()
        await s.stop()


async def _agent_hang_up_put_off(shell: Shell, unanswered: int | None) -> AgentCall:
    """A connected call whose caller hangs up; Asterisk does not answer the `unanswered` first
    hang-ups of the agent's channel (None: none of them), so the service puts it off."""
    caller, ring = await shell.connected_call()
    shell.fake.fail("DELETE", f"/channels/{ring.channel_id}", 500, times=unanswered, after=0.5)
    await shell.hangup_event(caller.channel, "StasisEnd")
    pending = shell.service.executor.pending_hangups
    await shell.eventually(lambda: ring.channel_id in pending, "the agent's hang-up put off")
    return ring


async def test_a_hang_up_put_off_is_done_without_a_reconnect(slow: Shell) -> None:
    resyncs = slow.service.resyncs
    ring = await _agent_hang_up_put_off(slow, unanswered=3)  # two at once, one more later
    await slow.eventually(lambda: ring.channel_id not in slow.fake.channels, "the agent's line closed", timeout=3.0)
    # the fake closes the line before the executor has the DELETE's answer: wait for that too
    executor = slow.service.executor
    await slow.eventually(lambda: not executor.pending_hangups, "the hang-up no longer put off", timeout=3.0)
    assert slow.fake.calls_to("DELETE", f"/channels/{ring.channel_id}")[-1].status == 204
    assert slow.service.resyncs == resyncs and slow.service.healthy


async def test_a_hang_up_put_off_that_keeps_failing_stops_the_service(slow: Shell) -> None:
    slow.service.executor.deferred_hangup_give_up = 0.5
    ring = await _agent_hang_up_put_off(slow, unanswered=None)
    await slow.eventually(slow.service.fatal.is_set, "the service stopping", timeout=3.0)
    assert slow.service.fatal_reason == "deferred_hangup_failed_stopping" and not slow.service.healthy
    assert ring.channel_id in slow.fake.channels
