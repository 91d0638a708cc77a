"""An originate the service gave up (its POST /channels timed out, the looks after it found no
channel: the leg failed, the engine moved on) that Asterisk carries out later than its ring
timeout. The shell looked for such a channel only while that ring timeout ran after the give-up,
so one made later rang the agent's (or customer's) phone for nobody until answered (then hung up
at its StasisStart) or until its own timeout. No event tells of it before an answer: on Asterisk
22 the app hears only Dial and ChannelStateChange for it (no ChannelCreated), which our event
filter keeps back. It is looked for, more seldom, until the given-up channel is forgotten."""

from __future__ import annotations

import asyncio

from app.core import events as ev
from app.telephony.executor import call_bridge_id
from app.telephony.legs import Leg
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, config_text, make_shell

ONE_SECOND_RING = """
  support:
    display_name: Support
    ring_timeout: 1s
    wrap_up: 10s
    callback:
      enabled: false
  sales:
    display_name: Sales
    ring_timeout: 1s
    wrap_up: 10s
    callback:
      enabled: false
"""


async def test_a_given_up_originate_made_after_its_ring_timeout_is_hung_up_while_it_rings(fake_ari: FakeAri) -> None:
    text = config_text(fake_ari, queues=ONE_SECOND_RING)
    shell = await make_shell(fake_ari, text, ari_config={"request_timeout": 0.3})
    executor = shell.service.executor
    executor.resolve_delays = (0.0,)  # one look for the channel after the lost answer: given up at once
    executor.deferred_hangup_every = 0.05
    executor.late_look_every = 0.2
    try:
        await shell.start()
        fake_ari.delay("POST", r"^/channels$", 2.0)  # the channel is made 2 s on: after the 1 s ring
        shell.ready("1001")
        await shell.caller(CALLER)
        await shell.eventually(lambda: bool(fake_ari.calls_to("POST", r"^/channels$")), "the originate")
        originate = fake_ari.calls_to("POST", r"^/channels$")[0]
        channel_id = originate.param("channelId") or ""
        leg_id = (originate.param("appArgs") or "").split(",")[-1]
        await shell.eventually(lambda: bool(shell.fed_of(ev.LegFailed, leg_id=leg_id)), "LegFailed", 3.0)
        assert executor.given_up(channel_id)
        await shell.eventually(lambda: channel_id in fake_ari.channels, "the late channel", 4.0)
        assert channel_id not in executor.late_originates  # its ring timeout's watch had ended
        # No StasisStart: the phone only rings. Before, it rang on until its own timeout.
        await shell.eventually(lambda: channel_id not in fake_ari.channels, "the late channel hung up", 3.0)
        assert [c.status for c in fake_ari.calls_to("DELETE", f"/channels/{channel_id}")][-1] == 204
        assert not shell.plays(channel_id)
        # watched no longer once hung up: as soon as the executor has the DELETE's answer, which
        # comes a moment after the fake removed the channel
        await shell.eventually(lambda: not executor.later_originates, "no longer watched", 3.0)
        await shell.settle()
    finally:
        await shell.stop()


async def test_a_forgotten_given_up_channel_is_no_longer_looked_for(fake_ari: FakeAri) -> None:
    """The watch ends when the given-up channel is forgotten (GIVEN_UP_KEEP seconds, at most
    GIVEN_UP_MAX of them): nothing grows, and no list is read for nothing."""
    shell = await make_shell(fake_ari)
    executor = shell.service.executor
    try:
        await shell.start()
        lists = len(fake_ari.calls_to("GET", r"^/channels$"))  # the resync's, at the start
        now = asyncio.get_running_loop().time()
        executor._remember_given_up("kept")
        executor.given_up_keep = 0.0  # remembered no longer than the instant it was given up
        executor._remember_given_up("forgotten")
        executor.late_originates = {"kept": ("main", now - 0.01), "forgotten": ("main", now - 0.01)}
        await executor.hang_up_late_originates()
        assert executor.later_originates == {"kept": "main"}
        assert len(fake_ari.calls_to("GET", r"^/channels$")) == lists + 1  # not there: nothing hung up
        executor._given_up.clear()  # forgotten too (as if pushed out by newer ones)
        executor._next_late_look = 0.0
        await executor.hang_up_late_originates()
        assert not executor.later_originates and not executor.hangups_due
        assert len(fake_ari.calls_to("GET", r"^/channels$")) == lists + 1
    finally:
        await shell.stop()


async def test_an_originate_settled_late_does_not_take_over_the_bridge_of_a_later_agent(fake_ari: FakeAri) -> None:
    """Asterisk stalls: agent 1001's originate is settled (its answer lost, the channel found) only
    after the ring timed out, 1001 picked up all the same (agent_answered_late), was rung again for
    the caller and bridged. The late settling then prepared the request's call bridge for the first
    leg, making it the bridge's owner, and that leg's hang-up destroyed the bridge under the call in
    progress: caller and agent heard nothing (seen once on real Asterisk, test_asterisk_frozen).
    The bridge of a call in progress is left to it."""
    shell = await make_shell(fake_ari)
    try:
        await shell.start()
        caller, second = await shell.connected_call()
        executor = shell.service.executor
        bridge_id = call_bridge_id(caller.request_id)
        members = list(executor.call_bridges[bridge_id])
        late = Leg(f"{caller.request_id}:a0", "late-channel", "agent", caller.request_id, answered=True, server="main")
        shell.service.legs.add(late)
        creates = len(fake_ari.calls_to("POST", r"/bridges.*"))
        await executor._prepare_call_bridge(late)  # what _OriginateAgent does once the late originate settles
        assert executor.call_bridges[bridge_id] == members and late.bridge_id is None
        assert len(fake_ari.calls_to("POST", r"/bridges.*")) == creates
        shell.service.legs.mark_ended(late)
        await executor.release_call_bridge(late)  # its hang-up: the call's bridge stays
        assert not fake_ari.calls_to("DELETE", f"/bridges/{bridge_id}")
        assert set(fake_ari.bridges[bridge_id]["channels"]) == {caller.channel_id, second.channel_id}
    finally:
        await shell.stop()


async def test_an_originate_asterisk_answers_nothing_about_is_settled_once_it_answers(fake_ari: FakeAri) -> None:
    """Asterisk frozen: the originate's POST and the looks after it all go unanswered, and it never
    made the channel. The leg was kept as "originate_answer_lost", its ring timeout's hang-up found
    no channel (404), and no event would ever end it: the leg stayed in the shell for good (seen on
    real Asterisk, test_asterisk_frozen_random). It is looked at until Asterisk answers, then given
    up as any originate found without a channel."""
    text = config_text(fake_ari, queues=ONE_SECOND_RING)
    shell = await make_shell(fake_ari, text, ari_config={"request_timeout": 0.3})
    executor = shell.service.executor
    executor.unanswered_look_every = 0.05
    try:
        await shell.start()
        fake_ari.fail("POST", r"^/channels$", after=1.0)  # not carried out, and no answer in time
        fake_ari.fail("GET", r"^/channels/[^/]+$", after=1.0, times=len(executor.resolve_delays) + 2)
        shell.ready("1001")
        caller = await shell.caller(CALLER)
        await shell.eventually(lambda: bool(fake_ari.calls_to("POST", r"^/channels$")), "the originate")
        originate = fake_ari.calls_to("POST", r"^/channels$")[0]
        channel_id = originate.param("channelId") or ""
        leg_id = (originate.param("appArgs") or "").split(",")[-1]
        await shell.eventually(lambda: bool(shell.fed_of(ev.RingUnconfirmed, leg_id=leg_id)), "no answer to it")
        shell.tick(1.5)  # the ring timeout, while the looks go unanswered: its hang-up waits behind them
        await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
        await shell.eventually(lambda: shell.service.legs.by_leg(leg_id) is None, "the leg settled", 6.0)
        looks = fake_ari.calls_to("GET", f"/channels/{channel_id}")
        assert len(looks) > len(executor.resolve_delays) + 2 and looks[-1].status == 404
        assert executor.given_up(channel_id)  # hung up silently should Asterisk still make it
        assert len(shell.fed_of(ev.LegFailed, leg_id=leg_id)) == 1
        assert shell.engine.agents["1001"].state.value != "paused"  # an unconfirmed ring: no refusal
    finally:
        await shell.stop()


async def test_an_agent_ring_asterisk_took_only_after_a_stall_is_no_refusal(fake_ari: FakeAri) -> None:
    """Asterisk stalled as it took the originate and answered it only after the ring had run out:
    the agent's phone rang for a moment at most, so the agent paused `not_responding` for it is
    ready again (seen on real Asterisk in test_asterisk_frozen_random: an agent left paused)."""
    shell = await make_shell(fake_ari)
    executor = shell.service.executor
    executor.slow_originate = 0.2
    try:
        await shell.start()
        fake_ari.delay("POST", r"^/channels$", 0.6)  # made, and answered, 0.6 s on
        shell.ready("1001")
        caller = await shell.caller(CALLER)
        await shell.eventually(lambda: bool(fake_ari.calls_to("POST", r"^/channels$")), "the originate")
        leg_id = (fake_ari.calls_to("POST", r"^/channels$")[0].param("appArgs") or "").split(",")[-1]
        shell.tick(16)  # the ring runs out while Asterisk has not answered the originate yet
        await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
        assert shell.engine.agents["1001"].pause_reason == "not_responding"
        taken_back = await shell.activities.wait("agent_ring_unconfirmed", leg=leg_id, timeout=3.0)
        assert taken_back.agent_id == "1001"
        assert shell.engine.agents["1001"].state.value != "paused"
    finally:
        await shell.stop()


async def test_an_agent_ring_asterisk_takes_at_once_still_counts(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari)
    try:
        await shell.start()
        shell.ready("1001")
        caller = await shell.caller(CALLER)
        await shell.wait_originate("1001")
        shell.tick(16)
        await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
        await shell.settle()
        assert not shell.fed_of(ev.RingUnconfirmed)
        assert shell.engine.agents["1001"].pause_reason == "not_responding"
    finally:
        await shell.stop()
