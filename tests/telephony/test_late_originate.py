"""An originate Asterisk carries out late, after the REST timeout and after the executor's looks
for the channel found nothing: the leg was failed (the engine rang again) and forgotten. When the
agent (or customer) answers that channel its StasisStart (`agent,<leg>`) is no unknown caller: it
was answered with "not in service" and a prompt. It is hung up without a word now, and so is any
StasisStart that says it is a leg we originated but do not know."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from app.core import events as ev
from app.telephony.legs import channel_id_for_leg
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, make_shell


async def test_an_agent_answering_a_late_originate_is_hung_up_without_a_prompt(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari, ari_config={"request_timeout": 0.3})
    # The agent answers before the look for an unanswered late channel (test_unwanted_originate.py)
    # would hang it up: that look kept off here, or it races the answer.
    shell.service.executor.deferred_hangup_every = 3600.0
    try:
        await shell.start()
        fake_ari.delay("POST", r"^/channels$", 1.0)  # Asterisk busy: the channel is made 1 s later
        shell.ready("1001")
        with capture_logs() as logs:
            await shell.caller(CALLER)
            first = await shell.wait_first_originate("1001")
            await shell.eventually(lambda: bool(shell.fed_of(ev.LegFailed, leg_id=first.leg_id)), "LegFailed", 3.0)
            assert shell.service.executor.given_up(first.channel_id)
            await shell.eventually(lambda: first.channel_id in fake_ari.channels, "the late channel", 3.0)
            await shell.answer(first)
            await fake_ari.wait_for_call("DELETE", f"/channels/{first.channel_id}")
            await shell.settle()
        events = [entry.get("event") for entry in logs]
        assert "late_originate_hung_up" in events
        assert "no_queue_for_call" not in events
        assert not shell.plays(first.channel_id), "the agent heard a prompt on a call the service had given up"
        assert not fake_ari.calls_to("POST", f"/channels/{first.channel_id}/answer")
    finally:
        await shell.stop()


async def test_an_originated_leg_we_do_not_know_is_hung_up_not_refused(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari)
    try:
        await shell.start()
        leg_id = "gone-request:c7"
        customer = fake_ari.add_channel(channel_id_for_leg(leg_id), state="Up")
        stray = fake_ari.add_channel("stray-agent", state="Up")  # no such queue as "agent"
        with capture_logs() as logs:
            await shell.push("StasisStart", channel=customer, args=["customer", leg_id])
            await shell.push("StasisStart", channel=stray, args=["agent", "whatever"])
            await fake_ari.wait_for_call("DELETE", f"/channels/{customer['id']}")
            await fake_ari.wait_for_call("DELETE", "/channels/stray-agent")
            await shell.settle()
        events = [entry.get("event") for entry in logs]
        assert events.count("unknown_leg_hung_up") == 2
        assert "no_queue_for_call" not in events
        assert not shell.plays(customer["id"]) and not shell.plays("stray-agent")
        assert not shell.fed_of(ev.CallerArrived)
    finally:
        await shell.stop()


async def test_given_up_channels_are_remembered_for_a_while_and_a_bounded_number(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari)
    executor = shell.service.executor
    executor.given_up_max = 3
    for n in range(5):
        executor._remember_given_up(f"chan-{n}")
    assert [executor.given_up(f"chan-{n}") for n in range(5)] == [False, False, True, True, True]
    executor.given_up_keep = 0.05
    executor._remember_given_up("brief")
    assert executor.given_up("brief")
    await asyncio.sleep(0.1)
    assert not executor.given_up("brief")
    await shell.stop()


async def test_an_agent_whose_ring_asterisk_never_answered_is_not_paused_as_not_responding(fake_ari: FakeAri) -> None:
    """The originate ringing the agent gets no answer within the ARI timeout (a frozen Asterisk):
    the engine is told (RingUnconfirmed) before the leg is failed, so its end is no refusal; the
    agent (max_agent_refusals 1) stays free and is rung again for the caller."""
    shell = await make_shell(fake_ari, ari_config={"request_timeout": 0.3})
    shell.service.executor.deferred_hangup_every = 3600.0
    try:
        await shell.start()
        fake_ari.delay("POST", r"^/channels$", 1.0)
        shell.ready("1001")
        await shell.caller(CALLER)
        first = await shell.wait_first_originate("1001")
        await shell.eventually(lambda: bool(shell.fed_of(ev.LegFailed, leg_id=first.leg_id)), "LegFailed", 3.0)
        [told] = shell.fed_of(ev.RingUnconfirmed, leg_id=first.leg_id)
        assert shell.fed.index(told) < shell.fed.index(shell.fed_of(ev.LegFailed, leg_id=first.leg_id)[0])
        agent = shell.service.engine.agents["1001"]
        assert agent.refusals == 0 and agent.pause_reason is None
        again = await shell.wait_originate("1001", count=2)  # rung again for the caller
        assert again.leg_id != first.leg_id
    finally:
        await shell.stop()
