"""A command whose answer is lost because Asterisk stalls (an overloaded or swapping Asterisk: every
REST call times out, and is carried out when it resumes) is not a refusal. Seen on real Asterisk
(tests/e2e/test_asterisk_frozen.py): a caller arriving as Asterisk froze had their JoinHolding time
out and was hung up as "command_failed" after the stall, though Asterisk had put them on hold.
Now the executor waits for Asterisk to answer again, looks whether the command took effect, and
sends it again if it did not; only then is a leg dropped."""

from __future__ import annotations

from structlog.testing import capture_logs

from app.core import events as ev
from app.telephony.executor import HOLDING_PREFIX, call_bridge_id
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, make_shell

STALL = 1.0  # seconds Asterisk holds the request before carrying it out: past the 0.3 s request timeout


async def test_a_caller_whose_hold_is_carried_out_late_stays_on_hold(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari, ari_config={"request_timeout": 0.3})
    shell.service.executor.settle_delays = (0.1, 0.2, 0.4, 0.8)
    try:
        await shell.start()
        holding = HOLDING_PREFIX + "support"
        fake_ari.delay("POST", rf"^/bridges/{holding}/addChannel$", STALL)
        with capture_logs() as logs:
            caller = await shell.caller(CALLER)
            await shell.eventually(
                lambda: caller.channel_id in fake_ari.bridges.get(holding, {}).get("channels", ()),
                "the caller in the holding bridge",
                5.0,
            )
            await shell.eventually(
                lambda: any(e.get("event") == "command_settled_late" for e in logs), "the command settled", 5.0
            )
            await shell.settle()
        assert not shell.fed_of(ev.LegLost), "the caller was reported lost"
        assert not fake_ari.calls_to("DELETE", f"/channels/{caller.channel_id}"), "the caller was hung up"
        assert shell.engine.requests[caller.request_id].state == "waiting"
        assert shell.service.legs.by_channel(caller.channel_id) is not None
    finally:
        await shell.stop()


async def test_caller_and_agent_bridged_late_stay_connected(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari, ari_config={"request_timeout": 0.3})
    shell.service.executor.settle_delays = (0.1, 0.2, 0.4, 0.8)
    try:
        await shell.start()
        shell.ready("1001")
        caller = await shell.caller(CALLER)
        ring = await shell.wait_originate("1001")
        bridge_id = call_bridge_id(caller.request_id)
        fake_ari.delay("POST", rf"^/bridges/{bridge_id}/addChannel$", STALL)
        with capture_logs() as logs:
            await shell.answer(ring)
            await shell.activities.wait("connected", request_id=caller.request_id)
            await shell.eventually(
                lambda: any(e.get("event") == "command_settled_late" for e in logs), "the command settled", 5.0
            )
            await shell.settle()
        assert set(fake_ari.bridges[bridge_id]["channels"]) == {caller.channel_id, ring.channel_id}
        assert not shell.fed_of(ev.LegLost), "a leg of the call was reported lost"
        assert not fake_ari.calls_to("DELETE", f"/channels/{caller.channel_id}"), "the caller was hung up"
        assert not fake_ari.calls_to("DELETE", f"/channels/{ring.channel_id}"), "the agent was hung up"
        assert not fake_ari.calls_to("DELETE", f"/bridges/{bridge_id}"), "the call bridge was destroyed"
        assert shell.engine.requests[caller.request_id].state == "connected"
    finally:
        await shell.stop()


async def test_a_channel_gone_when_asterisk_answers_again_is_dropped_as_before(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari, ari_config={"request_timeout": 0.3})
    shell.service.executor.settle_delays = (0.1, 0.2, 0.4, 0.8)
    try:
        await shell.start()
        holding = HOLDING_PREFIX + "support"
        fake_ari.fail("POST", rf"^/bridges/{holding}/addChannel$", status=422, after=STALL)
        caller = await shell.caller(CALLER)
        await shell.eventually(lambda: bool(fake_ari.calls_to("POST", f"/bridges/{holding}/addChannel")), "the add")
        fake_ari.remove_channel(caller.channel_id)  # hung up during the stall; its end event lost
        await shell.eventually(lambda: caller.request_id not in shell.engine.requests, "the request ended", 5.0)
        assert shell.fed_of(ev.LegLost)
    finally:
        await shell.stop()
