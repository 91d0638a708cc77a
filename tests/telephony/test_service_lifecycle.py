"""Connection life of the shell: endpoints, resync after a websocket drop, replacement, stop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from app.core import events as ev
from app.core.request import Request
from app.core.states import RequestKind, RequestState
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri, endpoint_json
from tests.telephony.conftest import CALLER, Shell, make_shell


async def test_start_reads_endpoints_without_subscribing_to_them(shell: Shell) -> None:
    """Subscribed to, an endpoint brings five events per agent call (issue 13): they are read instead."""
    await shell.start(online=("1001",))
    assert shell.fake.calls_to("GET", r"/endpoints")
    assert not shell.fake.calls_to("POST", r"/applications/holdfast/subscription")
    assert shell.engine.agents["1001"].reachable is True
    assert shell.engine.agents["1002"].reachable is False
    assert shell.service.connected.is_set()


async def test_endpoint_offline_and_online_toggle_reachability(shell: Shell) -> None:
    await shell.start()
    agent = shell.engine.agents["1001"]
    assert agent.reachable is True

    await shell.endpoint_state("1001", "offline")
    await shell.activities.wait("agent_reachability", agent_id="1001", reachable=False)
    assert agent.reachable is False and shell.engine.agents["1002"].reachable is True

    await shell.endpoint_state("1001", "online")
    await shell.activities.wait("agent_reachability", agent_id="1001", reachable=True)
    assert agent.reachable is True


async def test_endpoints_are_polled_and_a_change_of_registration_is_fed(shell: Shell) -> None:
    shell.service.endpoint_poll = 0.02
    await shell.start()
    agent = shell.engine.agents["1001"]
    shell.fake.endpoints["PJSIP/1001"]["state"] = "offline"  # no event: Asterisk sends none now
    await shell.activities.wait("agent_reachability", agent_id="1001", reachable=False)
    assert agent.reachable is False and shell.engine.agents["1002"].reachable is True
    shell.fake.endpoints["PJSIP/1001"]["state"] = "online"
    await shell.activities.wait("agent_reachability", agent_id="1001", reachable=True)
    # an unchanged registration is read again and again but fed once per change
    reads = len(shell.fake.calls_to("GET", r"/endpoints"))
    await shell.fake.wait_for_call("GET", r"/endpoints", count=reads + 3)
    assert len(shell.fed_of(ev.AgentReachability, agent_id="1001", reachable=True)) == 2  # resync, change


async def test_an_endpoint_poll_that_fails_is_tried_again(shell: Shell) -> None:
    shell.service.endpoint_poll = 0.02
    await shell.start()
    shell.fake.fail("GET", r"/endpoints", status=500, message="boom", times=2)
    shell.fake.endpoints["PJSIP/1002"]["state"] = "offline"
    await shell.activities.wait("agent_reachability", agent_id="1002", reachable=False)
    assert shell.service.healthy


async def test_unreachable_ready_agent_is_not_rung(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    await shell.endpoint_state("1001", "offline")
    await shell.activities.wait("agent_reachability", agent_id="1001", reachable=False)
    caller = await shell.caller(CALLER)
    assert shell.engine.requests[caller.request_id].state is RequestState.WAITING
    assert not shell.fake.calls_to("POST", r"/channels")

    await shell.endpoint_state("1001", "online")  # back: the waiting caller is offered to them
    ring = await shell.wait_originate("1001")
    assert shell.engine.requests[caller.request_id].agent_leg == ring.leg_id


async def test_endpoint_of_someone_else_is_ignored(shell: Shell) -> None:
    await shell.start()
    await shell.push("EndpointStateChange", endpoint=endpoint_json("PJSIP", "trunk", "offline"))
    await shell.push("EndpointStateChange", endpoint=endpoint_json("PJSIP", "11001", "offline"))
    await shell.settle()
    assert not [e for e in shell.fed_of(ev.AgentReachability) if not e.reachable]  # type: ignore[attr-defined]
    assert shell.engine.agents["1001"].reachable is True


async def _reconnect(shell: Shell) -> None:
    """Reconnect, and the service reports itself connected again."""
    await shell.reconnect()
    assert shell.service.connected.is_set()


async def test_resync_after_drop_ends_vanished_legs_and_rebuilds(shell: Shell) -> None:
    await shell.start()
    gone = await shell.caller(CALLER)
    kept = await shell.caller("+4520999888")
    await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel", count=2)
    lists_before = len(shell.fake.calls_to("GET", r"/channels"))

    # While we are away: the first caller hangs up (the event is lost), Asterisk restarts its
    # bridges, and an agent's phone unregisters.
    shell.fake.remove_channel(gone.channel_id)
    shell.fake.bridges.clear()
    shell.fake.state.subscriptions.clear()
    shell.fake.endpoints["PJSIP/1002"]["state"] = "offline"
    await _reconnect(shell)

    assert len(shell.fake.calls_to("GET", r"/channels")) == lists_before + 1
    # The hang-up was lost with the gap: the shell reports the leg lost, the engine decides.
    await shell.activities.wait("ended", request_id=gone.request_id)
    assert gone.request_id not in shell.engine.requests
    assert shell.service.legs.by_channel(gone.channel_id) is None
    assert len(shell.fed_of(ev.LegLost, leg_id=gone.request_id, reason="channel_vanished")) == 1
    assert not shell.fed_of(ev.CallerHungUp, request_id=gone.request_id)

    assert shell.engine.requests[kept.request_id].state is RequestState.WAITING
    assert shell.engine.position(kept.request_id) == 1
    assert not shell.fed_of(ev.CallerHungUp, request_id=kept.request_id)

    for queue in ("support", "sales"):
        create = await shell.fake.wait_for_call("POST", f"/bridges/holdfast-hold-{queue}", count=2)
        assert create.param("type") == "holding" and create.status == 200
        assert shell.fake.bridges[f"holdfast-hold-{queue}"]["bridge_type"] == "holding"
    assert not shell.fake.state.subscriptions  # endpoints are read (ENDPOINT_POLL), not subscribed to
    assert shell.engine.agents["1002"].reachable is False
    assert shell.engine.agents["1001"].reachable is True


async def test_resync_keeps_existing_holding_bridge(shell: Shell) -> None:
    """After a plain reconnect the bridges still exist: the 409 is taken as "reuse it"."""
    await shell.start()
    caller = await shell.caller(CALLER)
    await _reconnect(shell)
    again = await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support", count=2)
    assert again.status == 409
    assert shell.engine.requests[caller.request_id].state is RequestState.WAITING


async def test_reconnect_is_counted_in_metrics(shell: Shell) -> None:
    await shell.start()
    await _reconnect(shell)
    assert shell.service.metrics.ari_reconnects._value.get() == 1


async def test_resync_reports_a_ringing_agent_leg_that_vanished_as_lost(shell: Shell) -> None:
    """Whether it counts as the agent's no-answer is the engine's call: the shell reports what it
    knows, that the channel is gone, and nothing more (no LegFailed with a made-up cause)."""
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    shell.fake.remove_channel(ring.channel_id)  # it ended while we were disconnected
    await _reconnect(shell)
    assert shell.fed_of(ev.LegLost, leg_id=ring.leg_id, reason="channel_vanished")
    assert not shell.fed_of(ev.LegFailed, leg_id=ring.leg_id)
    assert shell.service.legs.by_leg(ring.leg_id) is None
    assert shell.engine.requests[caller.request_id].agent_leg != ring.leg_id


async def test_application_replaced_marks_service(shell: Shell) -> None:
    await shell.start()
    assert shell.service.replaced is False
    await shell.push("ApplicationReplaced")
    await shell.eventually(lambda: shell.service.replaced, "replaced")
    await shell.fake.wait_ws_closed()  # the client stops reading: the app is someone else's now


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="asyncio.wait_for no longer swallows cancellation")
async def test_stop_right_after_an_event(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    await shell.caller(CALLER)
    await shell.wait_originate("1001")  # the ring timer is the engine's next deadline
    await shell.eventually(lambda: not shell.service._wake.is_set(), "the timer loop to settle")
    assert shell.engine.next_deadline() is not None
    shell.ready("1002")  # feed() sets the wake-up; stop() follows before the timer loop runs
    stop = asyncio.create_task(shell.service.stop())
    done, _ = await asyncio.wait({stop}, timeout=1.0)
    if not done:
        # clean up so the fixture can finish: a second cancel reaches the timer loop
        assert shell.service._timer_task is not None
        shell.service._timer_task.cancel()
        await asyncio.wait_for(stop, 2.0)
    shell._started = False
    assert done, "stop() did not return within 1 s"


async def test_a_caller_the_service_never_recorded_is_taken_in_at_start(shell: Shell) -> None:
    """The service stopped between a caller's StasisStart and the commit of their arrival: at the
    next start the caller still rings in our app, unanswered. They are answered and queued, not
    left ringing until they give up. Another app's channels are left alone."""
    app = shell.fake.app_name
    ringing = shell.fake.add_channel(caller_number=CALLER, state="Ring")
    ringing["dialplan"]["app_data"] = f"{app},inbound,4000"
    other_app = shell.fake.add_channel(caller_number="+4520000002", state="Ring")
    other_app["dialplan"]["app_data"] = "someoneelse,inbound,4000"
    await shell.start()

    await shell.fake.wait_for_call("POST", f"/channels/{ringing['id']}/answer")
    add = await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
    assert add.param("channel") == ringing["id"]
    request = shell.engine.requests[ringing["id"]]
    assert request.state is RequestState.WAITING and request.caller_number == CALLER
    await shell.settle()
    assert list(shell.engine.requests) == [ringing["id"]]
    assert not shell.fake.calls_to("POST", f"/channels/{other_app['id']}/answer")
    assert not shell.fake.calls_to("DELETE", f"/channels/{other_app['id']}")


async def test_an_answered_caller_never_recorded_is_taken_in_and_finished_calls_are_hung_up(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    """With the shipped dialplan the caller is answered before Stasis, so one whose arrival was
    never stored waits answered, in silence. Taken in at the next start (held, no second answer)
    only if the store never had their request. The other answered channels in our app that the
    service does not know have nothing left to wait for and are hung up: a caller whose request
    ended (the end is stored, the hang-up was never made), a refused call's prompt, a feature
    code's call. Another app's channel is left alone."""
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    ended = Request("ended-1", "support", RequestKind.INBOUND, 0, 1.0, 1.0, (0, 1.0, 1), "+4520000003")
    ended.state = RequestState.ENDED
    await store.save_requests([ended])
    shell = await make_shell(fake_ari, store=store)
    app = shell.fake.app_name
    silent = shell.fake.add_channel(caller_number=CALLER, state="Up")
    silent["dialplan"]["app_data"] = f"{app},inbound,4000"
    after_end = shell.fake.add_channel("ended-1", caller_number="+4520000003", state="Up")
    after_end["dialplan"]["app_data"] = f"{app},inbound,4000"
    feature = shell.fake.add_channel(caller_number="1001", state="Up")
    feature["dialplan"]["app_data"] = f"{app},feature,*1"
    refused = shell.fake.add_channel(caller_number="+4520000004", state="Up")
    refused["dialplan"]["app_data"] = f"{app},inbound,9999"
    other_app = shell.fake.add_channel(caller_number="+4520000005", state="Up")
    other_app["dialplan"]["app_data"] = "someoneelse,inbound,4000"
    try:
        await shell.start()
        add = await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
        assert add.param("channel") == silent["id"]
        assert shell.engine.requests[silent["id"]].state is RequestState.WAITING
        stored = await store.load_request(silent["id"])
        assert stored is not None and stored.caller_number == CALLER
        for finished in (after_end, feature, refused):
            await shell.fake.wait_for_call("DELETE", f"/channels/{finished['id']}")
        await shell.settle()
        assert list(shell.engine.requests) == [silent["id"]]
        for channel in (silent, after_end, feature, refused, other_app):
            assert not shell.fake.calls_to("POST", f"/channels/{channel['id']}/answer")
        for kept in (silent, other_app):
            assert not shell.fake.calls_to("DELETE", f"/channels/{kept['id']}")
    finally:
        await shell.stop()
        await store.close()
