"""A websocket reconnect while an originate is on its way (its POST not answered yet): the channel
list the resync reads may not have the channel, which Asterisk makes a moment later. That leg
cannot be judged by the list: reported lost ("channel_vanished"), the agent was rung a second time
at once, and their answer to the first call was refused as an unknown call ("not in service")."""

from __future__ import annotations

from app.core import events as ev
from tests.telephony.conftest import CALLER, Shell


async def test_an_agent_rung_while_the_websocket_reconnects_is_rung_once(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    shell.fake.delay("POST", r"/channels", 1.2)  # Asterisk slow to answer (and make) the originate
    caller = await shell.caller(CALLER)
    await shell.eventually(lambda: bool(shell.fake.calls_to("POST", r"/channels")), "the originate sent")
    first = shell.fake.calls_to("POST", r"/channels")[0]
    kind, leg_id = (first.param("appArgs") or "").split(",")
    channel_id = first.param("channelId") or ""

    await shell.reconnect()
    assert not first.handled, "the resync did not run while the originate was on its way"
    assert not shell.fed_of(ev.LegLost, leg_id=leg_id), "the ringing leg was reported lost"
    assert shell.engine.requests[caller.request_id].agent_leg == leg_id
    leg = shell.service.legs.by_leg(leg_id)
    assert leg is not None and not leg.ended

    await shell.fake.wait_for_call("POST", r"/channels", timeout=3.0)  # now Asterisk has the channel
    chan = shell.fake.channels[channel_id]
    chan["state"] = "Up"
    await shell.push("StasisStart", channel=chan, args=[kind, leg_id])  # the agent answers
    await shell.activities.wait("connected", request_id=caller.request_id)
    rings = [c for c in shell.fake.calls_to("POST", r"/channels") if c.param("endpoint") == "PJSIP/1001"]
    assert [c.param("channelId") for c in rings] == [channel_id]
    assert not shell.plays(channel_id) or all(
        c.param("media") != shell.media("not_in_service") for c in shell.plays(channel_id)
    )
