"""Dead call legs on real Asterisk: a phone that stops sending RTP without ever hanging up (the
carrier's media gateway fails, an agent's laptop loses its network, a softphone crashes).

asterisk-conf/pjsip.conf's rtp_timeout makes Asterisk hang such a leg up; here it is 3 s for these
tests only (the simulator's phones send RTP only while something plays on them, so the other tests
run with it off). A simulated phone first sends audio (music on hold played into its call), then
stops: no BYE, only silence. The simulator's own RTCP reports go on every 5 s and count as media
for Asterisk, so the cut comes within one report interval plus the timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
RTP_TIMEOUT = 3
# Asterisk counts whole seconds: the cut comes more than RTP_TIMEOUT - 1 s after the phone's last
# packet, and at most one RTCP report interval (5 s) plus the timeout and a second later; the rest
# is room for a loaded machine.
CUT_AFTER = RTP_TIMEOUT - 1
CUT_WITHIN = 5 + RTP_TIMEOUT + 1 + 6


async def stop_sending_audio(call) -> tuple[float, dict]:
    """The phone goes silent without hanging up. Returns when it stopped (time.monotonic()) and its
    RTP counters once it sends nothing more (two reads 0.3 s apart, 15 packets' worth, agree)."""
    stopped_at = time.monotonic()
    await call.stop_moh()
    before = await call.rtp_stats()
    while True:
        await asyncio.sleep(0.3)
        now = await call.rtp_stats()
        if now["txcount"] == before["txcount"]:
            return stopped_at, now
        before = now


def cut_no_audio(holdfast, side: str) -> float:
    """holdfast_legs_cut_no_audio_total{side} on the service's /metrics."""
    registry = holdfast.service.metrics.registry
    return registry.get_sample_value("holdfast_legs_cut_no_audio_total", {"side": side}) or 0.0


def sut_log_size(holdfast) -> int:
    return holdfast.sut.messages_path.stat().st_size


async def wait_sut_rtp_cut(holdfast, since: int, channel_prefix: str, timeout: float = 5.0) -> str:
    """Asterisk's notice (res_pjsip_sdp_rtp) that it hung up a channel named `channel_prefix`… for
    lack of RTP, logged after byte `since` of its messages log (its logger writes in a thread of
    its own: the line may come a moment after the hang-up)."""
    deadline = time.monotonic() + timeout
    while True:
        with holdfast.sut.messages_path.open(errors="replace") as log:
            log.seek(since)
            for line in log:
                if "for lack of audio RTP activity" in line and f"'{channel_prefix}" in line:
                    return line
        if time.monotonic() > deadline:
            raise AssertionError(f"the SUT logged no RTP timeout for {channel_prefix}… within {timeout}s")
        await asyncio.sleep(0.1)


async def test_silent_caller_on_hold_is_hung_up_abandoned_and_the_next_caller_served(
    sut_rtp_timeout: Callable[[int], None], holdfast, phonesim
):
    await asyncio.to_thread(sut_rtp_timeout, RTP_TIMEOUT)
    ghost = await phonesim.call(SUPPORT, "+4520000201")
    await holdfast.wait_activity("arrived", caller="+4520000201", position=1)
    ghost_request = holdfast.activities.find("arrived", caller="+4520000201")[0].request_id
    await ghost.wait_audio_flowing()  # its phone sends RTP while it waits (music on hold both ways)
    follower = await phonesim.call(SUPPORT, "+4520000202")
    await holdfast.wait_activity("arrived", caller="+4520000202", position=2)
    await follower.wait_audio_flowing()

    log_mark = sut_log_size(holdfast)
    silent_at, silent = await stop_sending_audio(ghost)
    ended = await holdfast.wait_activity("ended", timeout=CUT_WITHIN, outcome="abandoned")
    assert ended.request_id == ghost_request  # not served: gone, place freed
    assert ended.data["line"] == "no_audio"  # the line died: told apart from a caller giving up
    assert cut_no_audio(holdfast, "caller_waiting") == 1
    cut_after = time.monotonic() - silent_at
    print(f"[dead leg] caller cut {cut_after:.1f} s after its phone went silent")
    assert cut_after >= CUT_AFTER  # cut for its silence, not at once
    await ghost.wait_hangup(timeout=5)  # Asterisk sent the BYE the phone never did
    assert silent["rxcount"] > 0 and silent["txcount"] > 0  # it had talked before going silent
    await wait_sut_rtp_cut(holdfast, log_mark, "PJSIP/trunk-")  # Asterisk's RTP timeout, nothing else
    assert not follower.hung_up  # still sending: the timeout spares it
    assert holdfast.engine.callers_waiting("support") == 1  # the estimate no longer counts the ghost

    holdfast.service.agent_action("1001", "ready")
    agent = await phonesim.wait_incoming("agent:1001")
    connected = await holdfast.wait_activity("connected", agent_id="1001")
    assert connected.request_id != ghost_request  # the ghost is never rung to an agent
    assert not holdfast.activities.find("agent_ringing", request_id=ghost_request)
    await agent.wait_audio_flowing()
    await follower.wait_audio_flowing()
    await agent.hangup()
    await follower.wait_hangup()
    served = await holdfast.wait_activity("ended", outcome="served")
    assert served.data["hung_up_by"] == "agent"
    await holdfast.wait_activity("agent_state", agent_id="1001", state="ready", previous="wrap_up")
    await holdfast.assert_nothing_left_behind()


async def test_agent_phone_dead_mid_call_ends_the_call_and_pauses_the_agent_until_they_say_it_works(
    sut_rtp_timeout: Callable[[int], None], holdfast, phonesim
):
    """A softphone that still answers SIP but sends no audio would take the next customer too, and
    give them silence until the RTP timeout: the agent is paused `no_audio` after the wrap-up."""
    await asyncio.to_thread(sut_rtp_timeout, RTP_TIMEOUT)
    holdfast.service.agent_action("1002", "ready")
    caller = await phonesim.call(SUPPORT, "+4520000203")
    agent = await phonesim.wait_incoming("agent:1002")
    connected = await holdfast.wait_activity("connected", agent_id="1002")
    await agent.wait_audio_flowing()
    await caller.wait_audio_flowing()

    log_mark = sut_log_size(holdfast)
    silent_at, silent = await stop_sending_audio(agent)  # the softphone dies: no BYE, no audio
    await agent.wait_hangup(timeout=CUT_WITHIN)
    cut_after = time.monotonic() - silent_at
    print(f"[dead leg] agent cut {cut_after:.1f} s after its phone went silent")
    assert cut_after >= CUT_AFTER
    assert silent["txcount"] > 0
    await wait_sut_rtp_cut(holdfast, log_mark, "PJSIP/1002-")
    await caller.wait_hangup(timeout=5)  # the customer is not left listening to silence
    ended = await holdfast.wait_activity("ended", outcome="served")
    assert ended.request_id == connected.request_id
    assert ended.data["hung_up_by"] == "agent_no_audio"  # not the agent's doing
    assert (cut_no_audio(holdfast, "agent"), cut_no_audio(holdfast, "customer")) == (1, 0)
    await holdfast.wait_activity("agent_state", agent_id="1002", state="paused", previous="wrap_up", reason="no_audio")
    assert holdfast.engine.agents["1002"].request_id is None
    assert not holdfast.activities.find("agent_state", agent_id="1002", state="ready", previous="wrap_up")

    # The next caller waits rather than being put through to the dead phone: an agent free for
    # them would have been rung in the same engine step that recorded the arrival.
    follower = await phonesim.call(SUPPORT, "+4520000206")
    arrived = await holdfast.wait_activity("arrived", caller="+4520000206", position=1)
    assert not holdfast.activities.find("agent_ringing", request_id=arrived.request_id)
    await follower.wait_audio_flowing()  # music on hold meanwhile

    # The agent's phone works again and they say so: served as usual.
    holdfast.service.agent_action("1002", "ready")
    again = await phonesim.wait_incoming("agent:1002")
    served = await holdfast.wait_activity("connected", agent_id="1002", count=2)
    assert served.request_id == arrived.request_id
    await again.wait_audio_flowing()
    await follower.wait_audio_flowing()
    await again.hangup()
    await follower.wait_hangup()
    second = await holdfast.wait_activity("ended", outcome="served", count=2)
    assert second.data["hung_up_by"] == "agent"
    await holdfast.wait_activity("agent_state", agent_id="1002", state="ready", previous="wrap_up")
    await holdfast.assert_nothing_left_behind()


@pytest.mark.slow  # 10-19 s of it waits for the SUT's qualify of the phone registered again
async def test_agent_phone_gone_is_not_rung_again_when_it_is_back_until_the_agent_says_so(
    sut_rtp_timeout: Callable[[int], None], holdfast, phonesim, phonesim_asterisk
):
    """A phone truly gone also stops answering the SUT's OPTIONS (qualify, every 15 s in
    production: well before a 60 s rtp_timeout), so the agent is unreachable by the time the call
    is cut. Here its registration is dropped, which the SUT sees the same way (endpoint offline).
    The call cut for lack of audio pauses the agent `no_audio`: when the phone registers again
    (a laptop back on the network) they may not be at their desk, so they are rung only once
    they make themselves ready."""
    await asyncio.to_thread(sut_rtp_timeout, RTP_TIMEOUT)
    holdfast.service.agent_action("1003", "ready")
    first = await phonesim.call(SUPPORT, "+4520000204")
    agent = await phonesim.wait_incoming("agent:1003")
    await holdfast.wait_activity("connected", agent_id="1003")
    await agent.wait_audio_flowing()
    phonesim_asterisk.cli(phonesim.unregister_command("1003"))
    try:
        await holdfast.wait_activity("agent_reachability", agent_id="1003", reachable=False)
        await stop_sending_audio(agent)
        await agent.wait_hangup(timeout=CUT_WITHIN)
        await first.wait_hangup(timeout=5)
        ended = await holdfast.wait_activity("ended", outcome="served")
        assert ended.data["hung_up_by"] == "agent_no_audio"
        await holdfast.wait_activity(
            "agent_state", agent_id="1003", state="paused", previous="wrap_up", reason="no_audio"
        )
        second = await phonesim.call(SUPPORT, "+4520000205")
        waiting = await holdfast.wait_activity("arrived", caller="+4520000205", position=1)
    finally:
        phonesim_asterisk.cli(phonesim.register_command("1003"))
    # registering again and the SUT's first qualify of the new contact take up to ~15 s
    await holdfast.wait_activity("agent_reachability", timeout=30, agent_id="1003", reachable=True)
    # reachable again, still paused: an agent free for the caller would be rung in this same step
    assert not holdfast.activities.find("agent_ringing", request_id=waiting.request_id)
    holdfast.service.agent_action("1003", "ready")
    rung = await phonesim.wait_incoming("agent:1003")
    ringing = await holdfast.wait_activity("agent_ringing", agent_id="1003", count=2)
    assert ringing.request_id == waiting.request_id
    await holdfast.wait_activity("connected", agent_id="1003", count=2)
    await rung.wait_audio_flowing()
    await second.wait_audio_flowing()
    await rung.hangup()
    await second.wait_hangup()
    await holdfast.wait_activity("agent_state", agent_id="1003", state="ready", previous="wrap_up")
    await holdfast.assert_nothing_left_behind()
