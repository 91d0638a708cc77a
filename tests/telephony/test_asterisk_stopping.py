"""While Asterisk shuts down, the shell tells the engine (TelephonyDown) and nothing new is dialled
until the resync after its return (TelephonyUp); legs that end in between went with Asterisk."""

from __future__ import annotations

from app.core import events as ev
from app.core.states import RequestState
from tests.telephony.conftest import CALLER, Shell

SHUTDOWN = {"soft": True, "cause": 4}  # AST_SOFTHANGUP_SHUTDOWN, as Asterisk reports it at its stop


async def test_no_agent_is_rung_while_asterisk_stops_and_the_caller_is_served_after_its_return(
    shell: Shell,
) -> None:
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    originates = len(shell.fake.calls_to("POST", r"/channels"))
    # Asterisk begins to stop: the agent's ringing leg is hung up by the shutdown.
    await shell.push("ChannelHangupRequest", channel=dict(shell.fake.channels[ring.channel_id]), **SHUTDOWN)
    await shell.settle()
    assert shell.fed_of(ev.TelephonyDown, reason="asterisk_shutdown")
    assert shell.fed_of(ev.LegLost, leg_id=ring.leg_id, reason="asterisk_shutdown")
    assert shell.engine.requests[caller.request_id].state is RequestState.WAITING
    assert not shell.engine.telephony_up
    # was: the agent rung again at once, on an Asterisk that refuses it (then paused as not responding)
    assert len(shell.fake.calls_to("POST", r"/channels")) == originates

    await shell.reconnect()  # the same Asterisk back (a websocket gap): reconciled, then dispatched
    assert shell.engine.telephony_up
    assert shell.fed_of(ev.TelephonyUp)
    again = await shell.wait_originate("1001", count=originates + 1)
    assert again.leg_id != ring.leg_id


async def test_a_leg_ending_during_the_shutdown_is_lost_not_hung_up(shell: Shell) -> None:
    """Asterisk's stop ends its channels in any order: after the first shutdown hang-up, a plain
    end (here a ChannelDestroyed with an ordinary cause) is Asterisk's doing, not the person's."""
    await shell.start()
    shell.ready("1001")
    first = await shell.caller(CALLER)
    await shell.wait_originate("1001")
    second = await shell.caller("+4520123457")
    await shell.push("ChannelHangupRequest", channel=first.channel, **SHUTDOWN)
    await shell.hangup_event(second.channel, kind="ChannelDestroyed", cause=16, cause_txt="Normal Clearing")
    await shell.settle()
    assert shell.fed_of(ev.LegLost, leg_id=second.request_id, reason="asterisk_shutdown")
    assert not shell.fed_of(ev.CallerHungUp, request_id=second.request_id)  # was: counted as abandoned


async def test_the_events_connection_dropping_holds_dispatch_until_the_resync(shell: Shell) -> None:
    await shell.start()
    await shell.fake.drop_websockets()
    await shell.eventually(lambda: bool(shell.fed_of(ev.TelephonyDown, reason="ari_disconnected")), "down")
    await shell.eventually(lambda: shell.engine.telephony_up, "the resync to bring telephony up")
    assert shell.service.connected.is_set()
