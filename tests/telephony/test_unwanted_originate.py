"""A leg the engine stops wanting while its originate (POST /channels) is still on its way: the
channel Asterisk makes must be hung up as soon as the shell can, not left ringing the agent's
phone until the originate's own timeout. Two ways: the caller hangs up before Asterisk answers
the POST (the engine's hang-up waits in the leg's lane behind the originate: already so), or the
POST's answer is lost and the leg given up before Asterisk carries the originate out."""

from __future__ import annotations

import asyncio

from app.core import events as ev
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, make_shell


async def test_a_caller_gone_while_the_agent_originate_is_pending_hangs_the_agent_channel_up(
    fake_ari: FakeAri,
) -> None:
    shell = await make_shell(fake_ari)
    try:
        await shell.start()
        fake_ari.delay("POST", r"^/channels$", 0.5)  # Asterisk slow to answer, within the REST timeout
        shell.ready("1001")
        caller = await shell.caller(CALLER)
        # The POST is recorded on arrival; its answer comes 0.5 s on.
        await shell.eventually(lambda: bool(fake_ari.calls_to("POST", r"^/channels$")), "the originate")
        originate = fake_ari.calls_to("POST", r"^/channels$")[-1]
        assert not originate.handled
        channel_id = originate.param("channelId")
        await shell.hangup_event(caller.channel)  # the caller gives up while the POST is pending
        await shell.eventually(lambda: caller.request_id not in shell.engine.requests, "the request to end")
        await fake_ari.wait_for_call("DELETE", f"/channels/{channel_id}", timeout=3.0)
        assert channel_id not in fake_ari.channels, "the agent's phone rings on for a call that is gone"
        await shell.settle()
    finally:
        await shell.stop()


async def test_a_late_originate_nobody_answers_is_hung_up_while_it_rings(fake_ari: FakeAri) -> None:
    """The POST's answer is lost (REST timeout) and the looks after it find no channel: the leg
    is failed and the engine moves on. Asterisk then carries the originate out after all: that
    channel rings the agent's phone for nothing. Its StasisStart (an answer) would get it hung up
    (test_late_originate.py), but nobody answering it must not leave it ringing until the
    originate's own timeout: the shell looks for it while that timeout runs and hangs it up."""
    # Room for the DELETE's answer on a loaded machine (a timed-out one would leave the look
    # going on, rightly: a 404 then cannot tell "hung up" from "not made yet")
    shell = await make_shell(fake_ari, ari_config={"request_timeout": 0.5})
    shell.service.executor.deferred_hangup_every = 0.05  # the look's period, quick for the test
    try:
        await shell.start()
        fake_ari.delay("POST", r"^/channels$", 1.5)  # Asterisk busy: the channel is made 1.5 s later
        shell.ready("1001")
        await shell.caller(CALLER)
        first = await shell.wait_first_originate("1001")
        await shell.eventually(lambda: bool(shell.fed_of(ev.LegFailed, leg_id=first.leg_id)), "LegFailed", 3.0)
        assert shell.service.executor.given_up(first.channel_id)
        await shell.eventually(lambda: first.channel_id in fake_ari.channels, "the late channel", 3.0)
        # No StasisStart: the phone only rings. It is hung up all the same, long before 15 s.
        await shell.eventually(lambda: first.channel_id not in fake_ari.channels, "the late channel hung up", 3.0)
        deletes = fake_ari.calls_to("DELETE", f"/channels/{first.channel_id}")
        assert [c.status for c in deletes][-1] == 204  # ours, not the fake's doing
        assert not shell.plays(first.channel_id)
        # watched no longer once hung up: as soon as the executor has the DELETE's answer, which
        # comes a moment after the fake removed the channel
        await shell.eventually(lambda: not shell.service.executor.late_originates, "no longer watched", 3.0)
        await shell.settle()
    finally:
        await shell.stop()


async def test_a_late_originate_is_watched_only_while_it_could_ring(fake_ari: FakeAri) -> None:
    """One DELETE a round while the originate's ring timeout runs, none after: a channel never
    made does not cost Asterisk a request a second for ever."""
    shell = await make_shell(fake_ari)
    try:
        await shell.start()
        executor = shell.service.executor
        now = asyncio.get_running_loop().time()
        executor.late_originates = {"rang-out": ("main", now - 0.01), "may-ring": ("main", now + 60)}
        await executor.hang_up_late_originates()
        assert list(executor.late_originates) == ["may-ring"]  # not made yet: looked for again next round
        assert not fake_ari.calls_to("DELETE", "/channels/rang-out")
        assert [c.status for c in fake_ari.calls_to("DELETE", "/channels/may-ring")] == [404]
    finally:
        await shell.stop()
