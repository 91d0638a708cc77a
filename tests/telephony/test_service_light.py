"""What a call costs on the ARI side (issue 13): the app's event filter, and the REST calls on the
way from an agent's answer to the bridge, and at the end of a call."""

from __future__ import annotations

from pathlib import Path

from app.ari.events import (
    ApplicationReplaced,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    EndpointStateChange,
    PlaybackFinished,
    RecordingFailed,
    StasisEnd,
    StasisStart,
)
from app.core import commands as c
from app.core import events as ev
from app.core.states import RequestState
from app.telephony.executor import call_bridge_id
from app.telephony.resync import EVENTS_USED
from tests.ari.fake_ari import RecordedCall
from tests.telephony.conftest import CALLER, Caller, Shell, config_text
from tests.telephony.test_service_store import failing_store, stored_shell  # noqa: F401 (fixtures)

# ---- the event filter --------------------------------------------------------------------------


async def test_app_asks_asterisk_for_the_events_it_uses_only(shell: Shell) -> None:
    await shell.start()
    put = await shell.fake.wait_for_call("PUT", r"/applications/holdfast/eventFilter")
    assert put.status == 200
    assert shell.fake.state.events_allowed == list(EVENTS_USED)
    assert shell.fake.state.events_disallowed == []
    # What the service is built around is in the list; the chatter of a call is not.
    for needed in ("StasisStart", "StasisEnd", "ChannelHangupRequest", "ChannelDestroyed", "ApplicationReplaced"):
        assert needed in EVENTS_USED
    for chatter in ("ChannelVarset", "ChannelDialplan", "ChannelStateChange", "ChannelEnteredBridge", "Dial"):
        assert not shell.fake.event_allowed(chatter)
    # set before the first read of channels: events of the resync's own calls are filtered already
    order = [c.path for c in shell.fake.calls]
    assert order.index("/applications/holdfast/eventFilter") < order.index("/channels")


async def test_filter_is_set_again_after_asterisk_restarts(shell: Shell) -> None:
    await shell.start()
    shell.fake.restart_asterisk()  # a fresh Asterisk knows no filter
    assert shell.fake.event_allowed("ChannelVarset")
    await shell.reconnect()
    assert len(shell.fake.calls_to("PUT", r"/applications/holdfast/eventFilter")) == 2
    assert shell.fake.state.events_allowed == list(EVENTS_USED)


async def test_an_asterisk_without_event_filters_is_served_all_the_same(shell: Shell) -> None:
    shell.fake.fail("PUT", r"/applications/holdfast/eventFilter", status=404, message="Resource not found")
    await shell.start()
    assert shell.service.healthy and shell.service.connected.is_set()
    assert shell.fake.event_allowed("ChannelVarset")  # everything comes, and is handled by type
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    await shell.push("ChannelVarset", channel=caller.channel, variable="X", value="1")
    await shell.wait_originate("1001")


async def test_event_types_the_service_handles_are_all_let_through() -> None:
    """A type handled in _handle_ari_event but left out of the filter would never arrive."""
    handled = (StasisStart, StasisEnd, ChannelDtmfReceived, ChannelHangupRequest, ChannelDestroyed)
    for kind in (*handled, PlaybackFinished, EndpointStateChange, RecordingFailed, ApplicationReplaced):
        assert kind.__name__ in EVENTS_USED


# ---- the way to the bridge --------------------------------------------------------------------


def _calls_since(shell: Shell, mark: int) -> list[RecordedCall]:
    return [c for c in shell.fake.calls[mark:] if c.method != "GET"]


async def _ringing(shell: Shell) -> tuple[Caller, str, str]:
    """A caller on hold and agent 1001 rung for them; (caller, agent channel, agent leg)."""
    await shell.start()
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
    ring = await shell.wait_originate("1001")
    return caller, ring.channel_id, ring.leg_id


async def test_call_bridge_is_made_while_the_agent_rings(shell: Shell) -> None:
    caller, _, _ = await _ringing(shell)
    bridge_id = call_bridge_id(caller.request_id)
    create = await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}")
    assert create.param("type") == "mixing"
    assert shell.fake.bridges[bridge_id]["channels"] == []


async def test_agent_answer_costs_one_rest_call_to_bridge(shell: Shell) -> None:
    caller, agent_channel, leg_id = await _ringing(shell)
    bridge_id = call_bridge_id(caller.request_id)
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}")
    mark = len(shell.fake.calls)

    chan = shell.fake.channels[agent_channel]
    chan["state"] = "Up"
    await shell.push("StasisStart", channel=chan, args=["agent", leg_id])
    add = await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel")
    await shell.activities.wait("connected", request_id=caller.request_id)
    await shell.settle()
    await shell.service.executor.drain(0.5)

    assert [(c.method, c.path) for c in _calls_since(shell, mark)] == [("POST", f"/bridges/{bridge_id}/addChannel")]
    assert add.param("channel") == f"{caller.channel_id},{agent_channel}"
    # adding moved the caller out of the holding bridge: no removeChannel needed
    assert set(shell.fake.bridges[bridge_id]["channels"]) == {caller.channel_id, agent_channel}
    assert caller.channel_id not in shell.fake.bridges["holdfast-hold-support"]["channels"]


async def test_a_call_bridge_gone_before_the_answer_is_made_again(shell: Shell) -> None:
    caller, agent_channel, leg_id = await _ringing(shell)
    bridge_id = call_bridge_id(caller.request_id)
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}")
    del shell.fake.bridges[bridge_id]  # e.g. destroyed by an earlier leg's end, racing

    chan = shell.fake.channels[agent_channel]
    chan["state"] = "Up"
    await shell.push("StasisStart", channel=chan, args=["agent", leg_id])
    await shell.activities.wait("connected", request_id=caller.request_id)
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel", count=2)
    assert len(shell.fake.calls_to("POST", f"/bridges/{bridge_id}")) == 2
    await shell.eventually(
        lambda: set(shell.fake.bridges.get(bridge_id, {}).get("channels", [])) == {caller.channel_id, agent_channel},
        "both channels in the call bridge",
    )


async def test_agent_not_answering_leaves_the_bridge_to_the_next_agent(shell: Shell) -> None:
    """The first agent's leg ends after the second agent's bridge was prepared under the same id:
    it must not destroy it (the second answer would find no bridge)."""
    await shell.start()
    shell.ready("1001", "1002")
    caller = await shell.caller(CALLER)
    first = await shell.wait_originate("1001")
    bridge_id = call_bridge_id(caller.request_id)
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}")
    # The phone rings out: the engine hangs it up and rings the other agent. The hang-up is
    # answered late, so the first leg's end comes after the bridge was prepared for the second.
    shell.fake.delay("DELETE", f"/channels/{first.channel_id}", 0.3)
    shell.tick(15)
    second = await shell.wait_originate("1002", count=2)
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}", count=2)  # prepared again (409: kept)
    await shell.fake.wait_for_call("DELETE", f"/channels/{first.channel_id}")
    first_channel = {"id": first.channel_id, **shell.fake.channels.get(first.channel_id, {})}
    await shell.hangup_event(first_channel, "ChannelDestroyed", cause=19, cause_txt="No Answer")
    await shell.settle()
    await shell.service.executor.drain(0.5)
    assert not shell.fake.calls_to("DELETE", f"/bridges/{bridge_id}")
    assert bridge_id in shell.fake.bridges

    await shell.answer(second)
    await shell.activities.wait("connected", request_id=caller.request_id)
    add = await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel")
    assert add.status == 204
    assert shell.engine.requests[caller.request_id].state is RequestState.CONNECTED


async def test_next_agent_is_bridged_whichever_leg_ends_first(shell: Shell) -> None:
    """Without holding anything up: the first leg's release and the second's preparation race;
    the caller and the second agent end up in one bridge whatever the order."""
    await shell.start()
    shell.ready("1001", "1002")
    caller = await shell.caller(CALLER)
    first = await shell.wait_originate("1001")
    shell.tick(15)
    second = await shell.wait_originate("1002", count=2)
    await shell.hangup_event({"id": first.channel_id}, "ChannelDestroyed", cause=19, cause_txt="No Answer")
    await shell.settle()
    await shell.service.executor.drain(0.5)

    await shell.answer(second)
    await shell.activities.wait("connected", request_id=caller.request_id)
    bridge_id = call_bridge_id(caller.request_id)
    both = {caller.channel_id, second.channel_id}
    await shell.eventually(
        lambda: set(shell.fake.bridges.get(bridge_id, {}).get("channels", [])) == both,
        "the caller and the second agent in the call bridge",
    )


async def test_a_bridged_call_destroys_its_bridge_once(shell: Shell) -> None:
    await shell.start()
    caller, ring = await shell.connected_call()
    bridge_id = call_bridge_id(caller.request_id)

    await shell.hangup_event(dict(shell.fake.channels[ring.channel_id]), "ChannelHangupRequest", cause=16)
    await shell.fake.wait_for_call("DELETE", f"/channels/{caller.channel_id}")
    await shell.hangup_event(caller.channel, "StasisEnd")
    await shell.activities.wait("ended", request_id=caller.request_id)
    await shell.settle()
    await shell.service.executor.drain(0.5)
    assert len(shell.fake.calls_to("DELETE", f"/bridges/{bridge_id}")) == 1
    assert bridge_id not in shell.fake.bridges
    assert not shell.service.executor.call_bridges
    assert shell.fed_of(ev.LegHungUp, leg_id=ring.leg_id)


async def test_an_agent_added_by_a_reload_is_known_by_its_endpoint(shell: Shell, tmp_path: Path) -> None:
    """The endpoint → agent map is kept between events, and made again when settings change."""
    await shell.start()
    await shell.endpoint_state("1001", "offline")  # the map is in use before the reload
    await shell.settle()
    path = tmp_path / "holdfast.yaml"
    path.write_text(
        config_text(shell.fake) + '  "1003":\n    name: Agent 1003\n    password: "pw1003"\n    skills: [support]\n'
    )
    shell.service.config_path = path
    assert shell.service.reload() is None
    assert "1003" in shell.engine.agents
    shell.fake.add_endpoint("PJSIP", "1003", "online")
    # (a new agent is taken as reachable: only a change of state is fed to the engine)
    await shell.endpoint_state("1003", "offline")
    await shell.settle()
    assert shell.fed_of(ev.AgentReachability, agent_id="1003", reachable=False)
    assert shell.service.agent_for_channel("PJSIP/1003-0000002a") == "1003"


async def test_call_bridges_of_calls_lost_in_an_asterisk_shutdown_are_forgotten(shell: Shell) -> None:
    """Legs lost at an Asterisk shutdown release nothing (Asterisk is going); once it is back,
    the executor forgets the bridges that went with it."""
    await shell.start()
    caller, ring = await shell.connected_call()
    assert shell.service.executor.call_bridges
    for channel in (caller.channel, dict(shell.fake.channels[ring.channel_id])):
        await shell.push("ChannelHangupRequest", channel=channel, soft=True, cause=4)
    await shell.settle()
    assert shell.fed_of(ev.LegLost, reason="asterisk_shutdown")
    assert shell.service.executor.call_bridges  # nothing released while Asterisk shuts down

    shell.fake.restart_asterisk()
    await shell.reconnect()
    assert not shell.service.executor.call_bridges


# ---- the timer task -----------------------------------------------------------------------------


async def test_a_step_without_an_earlier_deadline_leaves_the_timer_task_asleep(shell: Shell) -> None:
    """Every step used to wake the timer task (a task switch and two deadline look-ups per ARI
    event); now only a step that brings an earlier deadline, or one already due, wakes it."""
    await _ringing(shell)  # agent 1001 rung: its ring timeout is the engine's next deadline
    await shell.eventually(lambda: not shell.service._wake.is_set(), "the timer loop to settle")
    woken = shell.service.timer_wakeups
    shell.ready("1002")  # a stored step that sets no deadline
    assert not shell.service._wake.is_set()
    assert shell.service.timer_wakeups == woken


async def test_a_step_with_the_first_deadline_wakes_the_timer_task(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    await shell.eventually(lambda: not shell.service._wake.is_set(), "the timer loop to settle")
    assert shell.engine.next_deadline() is None
    woken = shell.service.timer_wakeups
    await shell.caller(CALLER)
    await shell.wait_originate("1001")  # the ring timeout: the first deadline
    assert shell.service.timer_wakeups == woken + 1
    await shell.eventually(
        lambda: shell.service._timer_until == shell.engine.next_deadline(), "the timer task sleeping until it"
    )
    # it ticks when due: the ring times out and the agent's leg is hung up
    shell.tick(15)
    await shell.fake.wait_for_call("DELETE", r"/channels/.*")


# ---- steps that change nothing ------------------------------------------------------------------


async def test_an_endpoint_event_that_changes_no_reachability_is_no_engine_step(shell: Shell) -> None:
    """Each call of an agent brings two EndpointStateChange events (its channel comes and goes)
    with the endpoint still online: they used to be two engine steps per call."""
    await shell.start()
    at_resync = len(shell.fed_of(ev.AgentReachability))  # the resync reads every endpoint once
    await shell.endpoint_state("1001", "online")
    await shell.settle()
    assert len(shell.fed_of(ev.AgentReachability)) == at_resync
    await shell.endpoint_state("1001", "offline")  # a change still is one
    await shell.settle()
    assert shell.fed_of(ev.AgentReachability, agent_id="1001", reachable=False)
    assert not shell.engine.agents["1001"].reachable


async def test_a_step_with_nothing_to_store_or_do_is_not_queued_for_the_store(
    stored_shell: Shell,  # noqa: F811 (the fixture imported above)
) -> None:
    shell = stored_shell  # started
    assert shell.service.committer is not None
    await shell.service.wait_committed()
    put = shell.service.committer.put_seq
    assert shell.service.feed(ev.Tick(shell.clock())) == []  # nothing due
    assert shell.service.committer.put_seq == put
    shell.ready("1001")  # a change is
    assert shell.service.committer.put_seq == put + 1
    await shell.service.wait_committed()


async def test_a_legs_lane_ends_with_its_last_command_and_a_later_one_starts_anew(shell: Shell) -> None:
    """Lanes keep a leg's commands in order; one waiting for more after its last was a task and a
    queue per call for half a minute (hundreds at a busy centre)."""
    await shell.start()
    caller = await shell.caller(CALLER)
    await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
    executor = shell.service.executor
    await shell.eventually(lambda: not executor._workers, "the caller's lane to end")
    shell.ready("1001")  # the agent is rung, on a lane of its own
    ring = await shell.wait_originate("1001")
    await shell.eventually(lambda: not executor._workers, "the agent's lane to end")
    await shell.answer(ring)  # the bridging runs on the caller's lane again: a new task for it
    await shell.activities.wait("connected", request_id=caller.request_id)
    bridge_id = call_bridge_id(caller.request_id)
    await shell.eventually(
        lambda: set(shell.fake.bridges.get(bridge_id, {}).get("channels", ())) == {caller.channel_id, ring.channel_id},
        "the caller and the agent bridged",
    )
    await shell.eventually(lambda: not executor._workers, "the caller's second lane to end")


async def test_a_drain_that_cancels_lanes_leaves_none_behind(shell: Shell) -> None:
    """drain() cancels what still runs at its timeout, a lane whose task never started too (its
    own clean-up never ran); the next command for the leg then runs on a new lane."""
    await shell.start()
    executor = shell.service.executor
    shell.fake.delay("POST", r"/bridges/holdfast-hold-support/addChannel", 1.0)
    caller = await shell.caller(CALLER)  # joining the hold takes 1 s: still running at the drain
    await shell.eventually(lambda: bool(executor._workers), "the caller's lane running")
    await executor.drain(0.1)
    assert not executor._workers and not executor._lanes

    leg = shell.service.legs.by_channel(caller.channel_id)
    assert leg is not None
    executor.submit([c.StopPrompt(leg.leg_id)])  # a task that has not started yet...
    await executor.drain(0.0)  # ...cancelled before it runs
    assert not executor._workers and not executor._lanes

    executor.submit([c.Hangup(leg.leg_id)])  # the leg's next command runs on a new lane
    await shell.fake.wait_for_call("DELETE", f"/channels/{caller.channel_id}")


async def test_a_call_bridge_made_again_after_its_call_ended_is_not_left_behind(shell: Shell) -> None:
    """The prepared bridge is gone at the answer, so it is made again; the caller hangs up while it
    is being made, and that hang-up's destroy comes first (404). The bridge made after it carries no
    call and nobody else would destroy it: seen on real Asterisk as a bridge left behind."""
    caller, agent_channel, leg_id = await _ringing(shell)
    bridge_id = call_bridge_id(caller.request_id)
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}")
    del shell.fake.bridges[bridge_id]  # e.g. destroyed by an earlier leg's end, racing
    shell.fake.delay("POST", f"/bridges/{bridge_id}", 0.5)  # made again, slowly

    chan = shell.fake.channels[agent_channel]
    chan["state"] = "Up"
    await shell.push("StasisStart", channel=chan, args=["agent", leg_id])
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel")  # 404: gone
    # The caller hangs up while the bridge is made again: the release's destroy finds none.
    caller_channel = {"id": caller.channel_id, **shell.fake.channels[caller.channel_id]}
    await shell.hangup_event(caller_channel, "ChannelDestroyed", cause=16, cause_txt="Normal Clearing")
    await shell.activities.wait("ended", request_id=caller.request_id)
    await shell.fake.wait_for_call("POST", f"/bridges/{bridge_id}", count=2, timeout=3)
    await shell.eventually(lambda: bridge_id not in shell.fake.bridges, "the call bridge destroyed")
