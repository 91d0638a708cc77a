"""Faults in the shell: what each failed ARI command leaves behind, resync that cannot read
Asterisk, a lost originate answer, bugs in background tasks. Nothing is logged and forgotten:
either the engine's picture is put right, or the service stops (fatal, not healthy)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from app.core import events as ev
from app.core.states import AgentState, RequestState
from app.telephony.executor import call_bridge_id
from app.telephony.legs import channel_id_for_leg
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLBACK_QUEUES, CALLER, Shell, config_text, make_shell


@pytest.fixture
async def cb(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    """A shell whose support queue offers callbacks (not started)."""
    s = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES))
    try:
        yield s
    finally:
        await s.stop()


def errors_in(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["log_level"] in ("error", "critical", "warning")]


# ---------------------------------------------------------------------- originate with a lost answer


async def _callback_rung_to_whisper(shell: Shell, before_dial: Callable[[], None]) -> tuple[str, str]:
    """A callback is asked for, agent 1001 answers and hears the whisper, `before_dial` runs, the
    whisper ends: returns (request id, agent channel id), the customer's originate on its way."""
    await shell.service.feed_and_commit(ev.CallbackRequested(shell.clock(), "cb-1", "support", CALLER))
    shell.ready("1001")
    ring = await shell.wait_originate("1001")
    await shell.answer(ring)
    whisper = await shell.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play")
    before_dial()
    await shell.finish_playback(whisper.param("playbackId") or "", ring.channel_id)
    return "cb-1", ring.channel_id


@pytest.mark.parametrize("how", ["http_500", "timeout"])
async def test_a_customer_originate_whose_answer_is_lost_is_kept_when_the_channel_exists(cb: Shell, how: str) -> None:
    """The customer's phone rings although the originate answered 500 (or not at all): they must not
    be counted as failed, hear "not in service" when they answer, or be dialled again."""
    if how == "timeout":
        await cb.stop()
        text = config_text(cb.fake, queues=CALLBACK_QUEUES)
        cb = await make_shell(cb.fake, text, ari_config={"request_timeout": 0.3})
    try:
        await cb.start()
        fake = cb.fake

        def lose_the_answer() -> None:  # the channel is made; the answer is a 500, or never comes
            if how == "http_500":
                fake.fail("POST", r"/channels", status=500, apply=True)
            else:
                fake.delay("POST", r"/channels", 1.0, apply_first=True)

        request_id, agent_channel = await _callback_rung_to_whisper(cb, lose_the_answer)
        dial = await cb.fake.wait_for_call("POST", r"/channels", count=2)
        customer_channel = dial.param("channelId") or ""
        _, leg_id = (dial.param("appArgs") or "").split(",")
        await cb.fake.wait_for_call("GET", f"/channels/{customer_channel}", timeout=3.0)  # looked it up
        assert customer_channel in cb.fake.channels

        customer = cb.fake.channels[customer_channel]
        customer["state"] = "Up"
        await cb.push("StasisStart", channel=customer, args=["customer", leg_id])
        await cb.activities.wait("connected", request_id=request_id, timeout=3.0)
        assert not cb.fed_of(ev.LegFailed)
        assert cb.engine.requests[request_id].state is RequestState.CONNECTED
        assert len(cb.fake.calls_to("POST", r"/channels")) == 2  # dialled once
        assert not cb.fake.calls_to("POST", f"/channels/{customer_channel}/play")  # no "not in service"
        assert cb.service.legs.by_channel(agent_channel) is not None
    finally:
        await cb.stop()


@pytest.mark.parametrize("how", ["timeout", "http_500"])
async def test_a_customer_originate_never_made_counts_only_when_asterisk_said_so(cb: Shell, how: str) -> None:
    """No channel made: an originate Asterisk never answered (frozen, overloaded) is no dial of the
    customer's phone, so it is interrupted, not counted (a one-attempt callback was missed for our
    stall, found by tests/e2e/test_dialler_frozen_random.py); one it answered with an error is
    its verdict: a failed attempt."""
    await cb.stop()
    cb = await make_shell(cb.fake, config_text(cb.fake, queues=CALLBACK_QUEUES), ari_config={"request_timeout": 0.3})
    try:
        await cb.start()
        fake = cb.fake

        def lose_the_originate() -> None:
            if how == "timeout":  # held: Asterisk makes no channel while we look (0.3 s timeout, then looks)
                fake.delay("POST", r"/channels", 2.0)
            else:
                fake.fail("POST", r"/channels", status=500)

        request_id, _ = await _callback_rung_to_whisper(cb, lose_the_originate)
        outcome = await cb.activities.wait("attempt_outcome", request_id=request_id, timeout=5.0)
        req = cb.engine.requests[request_id]
        (failed,) = cb.fed_of(ev.LegFailed)
        leg_id = failed.leg_id
        assert cb.fake.calls_to("GET", f"/channels/{channel_id_for_leg(leg_id)}")  # looked before deciding
        if how == "timeout":
            assert outcome.data["outcome"] == "interrupted"
            assert req.counted_attempts == 0
        else:
            assert outcome.data["outcome"] == "failed"
            assert req.counted_attempts == 1
        assert req.state is RequestState.QUARANTINE
        assert [e.outcome.value for e in cb.fed_of(ev.LegFailed, leg_id=leg_id)] == [outcome.data["outcome"]]
    finally:
        await cb.stop()


async def test_an_originate_that_answered_500_without_a_channel_is_a_failed_leg(shell: Shell) -> None:
    await shell.start()
    shell.fake.fail("POST", r"/channels", status=503)
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
    assert shell.fake.calls_to("GET", f"/channels/{ring.channel_id}")  # looked up before deciding
    assert len(shell.fed_of(ev.LegFailed, leg_id=ring.leg_id)) == 1


async def test_an_originate_refused_with_4xx_fails_at_once_without_a_lookup(shell: Shell) -> None:
    await shell.start()
    shell.fake.fail("POST", r"/channels", status=400, message="Endpoint must be specified")
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    await shell.activities.wait("agent_no_answer", request_id=caller.request_id)
    assert not shell.fake.calls_to("GET", f"/channels/{ring.channel_id}")


# ---------------------------------------------------------------------- failed commands


async def test_an_answer_asterisk_refuses_drops_the_caller_and_ends_the_request(shell: Shell) -> None:
    """Logged and forgotten, the request would wait forever for a caller who hears ringing."""
    await shell.start()
    shell.fake.fail("POST", r"/channels/[^/]+/answer", status=500, times=1)
    chan = await shell.arrive(CALLER)
    ended = await shell.activities.wait("ended", request_id=chan["id"])
    assert ended.data["reason"] == "command_failed"
    assert chan["id"] not in shell.engine.requests
    await shell.fake.wait_for_call("DELETE", f"/channels/{chan['id']}")
    assert chan["id"] not in shell.fake.channels
    assert shell.service.legs.by_channel(chan["id"]) is None
    assert shell.service.healthy


async def test_a_prompt_that_cannot_be_played_counts_as_played(cb: Shell) -> None:
    """The whisper to the agent fails: the customer is dialled anyway, nothing waits for ever."""
    await cb.start()
    cb.fake.fail("POST", r"/channels/[^/]+/play", status=500, times=1)
    await cb.service.feed_and_commit(ev.CallbackRequested(cb.clock(), "cb-1", "support", CALLER))
    cb.ready("1001")
    ring = await cb.wait_originate("1001")
    await cb.answer(ring)
    await cb.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play")
    dial = await cb.fake.wait_for_call("POST", r"/channels", count=2)
    assert dial.param("endpoint") == f"PJSIP/{CALLER}@trunk"
    assert cb.fed_of(ev.PromptFinished, leg_id=ring.leg_id)
    assert cb.engine.requests["cb-1"].state is RequestState.DIALLING_CUSTOMER


async def test_a_hangup_refused_once_is_retried(shell: Shell) -> None:
    await shell.start()
    shell.service.executor.hangup_retries = (0.0, 0.0, None)
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    shell.fake.fail("DELETE", f"/channels/{ring.channel_id}", status=500, times=1)
    await shell.hangup_event(caller.channel)  # the caller hangs up: the ringing agent is hung up
    second = await shell.fake.wait_for_call("DELETE", f"/channels/{ring.channel_id}", count=2)
    assert second.status == 204 and ring.channel_id not in shell.fake.channels
    assert shell.service.healthy


async def test_a_hangup_asterisk_keeps_refusing_stops_the_service(shell: Shell) -> None:
    await shell.start()
    shell.service.executor.hangup_retries = (0.0, 0.0, None)
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ring = await shell.wait_originate("1001")
    shell.fake.fail("DELETE", f"/channels/{ring.channel_id}", status=500, times=None)
    await shell.hangup_event(caller.channel)
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "hangup_failed_stopping" and not shell.service.healthy
    shell.fake.clear_rules()


async def test_a_hangup_asterisk_does_not_answer_is_done_at_the_next_resync(fake_ari: FakeAri) -> None:
    """Asterisk down or restarting is no reason to stop: the channel is closed once it is back."""
    shell = await make_shell(fake_ari, ari_config={"request_timeout": 0.3})
    try:
        await shell.start()
        shell.service.executor.hangup_retries = (0.0, None)
        shell.service.executor.deferred_hangup_every = 60.0  # not tried meanwhile: the resync does it
        shell.ready("1001")
        caller = await shell.caller(CALLER)
        ring = await shell.wait_originate("1001")
        shell.fake.fail("DELETE", f"/channels/{ring.channel_id}", status=500, times=2, after=1.0)
        await shell.hangup_event(caller.channel)
        pending = shell.service.executor.pending_hangups
        await shell.eventually(lambda: ring.channel_id in pending, "the hang-up put off", timeout=3.0)
        assert shell.service.healthy and ring.channel_id in shell.fake.channels

        await shell.reconnect()
        assert ring.channel_id not in shell.fake.channels and not pending
        assert shell.fake.calls_to("DELETE", f"/channels/{ring.channel_id}")[-1].status == 204
        assert shell.service.healthy
    finally:
        await shell.stop()


async def test_a_bug_in_a_command_stops_the_service(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    await shell.start()

    async def broken(cmd: object) -> None:
        raise TypeError("a bug in the executor (test)")

    monkeypatch.setattr(shell.service.executor, "_Answer", broken)
    await shell.arrive(CALLER)
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "command_crashed" and not shell.service.healthy


async def test_both_legs_ending_at_once_destroy_the_bridge_without_an_error(shell: Shell) -> None:
    """The second DELETE of the call bridge gets 409 (or 404) from Asterisk: expected, not an error."""
    await shell.start()
    caller, ring = await shell.connected_call()
    bridge_id = call_bridge_id(caller.request_id)
    shell.fake.fail("DELETE", f"/bridges/{bridge_id}", status=409, message="Bridge is being destroyed", times=None)
    with capture_logs() as logs:
        await shell.hangup_event(caller.channel)
        await shell.hangup_event(shell.fake.channels.get(ring.channel_id) or {"id": ring.channel_id})
        await shell.activities.wait("ended", request_id=caller.request_id)
        await shell.fake.wait_for_call("DELETE", f"/bridges/{bridge_id}")
        await shell.settle()
        await shell.service.executor.drain(1.0)
    assert not errors_in(logs)  # not even a warning
    assert shell.service.healthy


async def test_a_caller_gone_before_joining_the_hold_is_abandoned_without_an_error(shell: Shell) -> None:
    """A caller who hangs up in the instant after arriving: Asterisk answers the service's
    addChannel with 422 "Channel not found". A race of every busy day, not a fault: the request
    ends as abandoned and nothing is logged above info."""
    await shell.start()
    join_path = r"/bridges/holdfast-hold-support/addChannel"
    shell.fake.delay("POST", join_path, 0.5)  # held, then handled (on a channel gone by then)
    with capture_logs() as logs:
        chan = await shell.arrive(CALLER)
        # The hang-up must come after the join was sent: one handled before it ends the request,
        # and then there is no join to refuse (right too, but not this test's race).
        await shell.eventually(lambda: bool(shell.fake.calls_to("POST", join_path)), "the join to reach Asterisk")
        await shell.hangup_event(dict(chan), "ChannelHangupRequest", cause=16)
        await shell.push("StasisEnd", channel=chan)
        ended = await shell.activities.wait("ended")
        join = await shell.fake.wait_for_call("POST", join_path)
        await shell.settle()
        await shell.service.executor.drain(1.0)
    assert join.status == 422
    assert ended.data["outcome"] == "abandoned"
    assert not errors_in(logs)
    assert [e["command"] for e in logs if e["event"] == "command_on_ended_channel"] == ["JoinHolding"]
    assert shell.service.healthy and not shell.engine.requests


async def test_a_command_refused_on_a_live_channel_is_still_an_error(shell: Shell) -> None:
    """The other side of the test above: Asterisk refuses a command for a channel it still has.
    That is no race: logged as an error, and the leg is dropped (hung up) so both sides agree."""
    await shell.start()
    shell.fake.fail("POST", r"/bridges/holdfast-hold-support/addChannel", status=422, message="Channel not in Stasis")
    with capture_logs() as logs:
        chan = await shell.arrive(CALLER)
        await shell.fake.wait_for_call("DELETE", f"/channels/{chan['id']}")
        await shell.settle()
    assert [e["command"] for e in logs if e["event"] == "command_failed_leg_dropped"] == ["JoinHolding"]
    assert not [e for e in logs if e["event"] == "command_on_ended_channel"]


# ---------------------------------------------------------------------- background tasks and handlers


async def test_a_bug_in_handling_an_ari_event_stops_the_service(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    await shell.start()

    async def broken(event: object) -> None:
        raise RuntimeError("a bug in a handler (test)")

    monkeypatch.setattr(shell.service, "_stasis_start", broken)
    await shell.arrive(CALLER)
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "ari_event_handling_crashed" and not shell.service.healthy


async def test_a_fault_around_the_event_handler_stops_the_service_too(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What escapes on_ari_event itself (e.g. a wrapper with the wrong signature, as the scale
    benchmark's instrumentation once was) is not left to the dispatcher, which logs and goes on."""
    await shell.start()

    async def wrong_signature(event: object) -> None:  # called with (event, server)
        raise AssertionError("not reached")

    monkeypatch.setattr(shell.service, "on_ari_event", wrong_signature)
    await shell.arrive(CALLER)
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "ari_event_handling_crashed" and not shell.service.healthy


async def test_a_bug_in_an_engine_step_fed_by_a_request_stops_the_service(
    cb: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP request or a reload feeds the engine too: a step that crashes there (not a refusal)
    may have moved the engine on without being stored. The request fails and so does the service,
    rather than go on with the engine and the store apart."""
    await cb.start()
    engine = cb.service.engine
    handle = engine.handle

    def broken(event: ev.Event) -> list[object]:
        if isinstance(event, ev.CallbackRequested):
            raise RuntimeError("a bug in a step (test)")
        return handle(event)

    monkeypatch.setattr(engine, "handle", broken)
    with pytest.raises(RuntimeError):
        await cb.service.feed_and_commit(ev.CallbackRequested(cb.clock(), "cb-1", "support", CALLER))
    assert cb.service.fatal_reason == "engine_step_crashed" and not cb.service.healthy


async def test_the_engine_refusing_its_own_tick_stops_the_service(shell: Shell) -> None:
    """Retrying a Tick the engine refuses would only log it again and again."""
    await shell.start()
    shell.ready("1001")
    await shell.caller(CALLER)
    await shell.wait_originate("1001")  # the ring timeout is the next deadline
    original = shell.engine.handle

    def refuse_ticks(event: ev.Event) -> Any:
        if isinstance(event, ev.Tick):
            raise RuntimeError("a bug in the engine's timers (test)")
        return original(event)

    shell.engine.handle = refuse_ticks  # type: ignore[method-assign]
    shell.clock.advance(60)
    shell.service._wake.set()
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "engine_step_crashed" and not shell.service.healthy
    shell.service._wake.clear()


async def test_a_bug_in_resync_stops_the_service_instead_of_serving_unreconciled(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    await shell.start()

    async def broken(channels: object, restarted: bool) -> None:
        raise KeyError("a bug in reconciling (test)")

    monkeypatch.setattr(shell.service, "_reconcile", broken)
    await shell.fake.drop_websockets()
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "resync_crashed" and not shell.service.healthy
    assert not shell.service.connected.is_set()


async def test_a_bug_in_judging_a_dropped_connection_stops_the_service(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events connection would only log it and reconnect over calls nobody judged."""
    await shell.start()

    async def broken(server: object) -> None:
        raise KeyError("a bug in judging the lost server's calls (test)")

    monkeypatch.setattr(shell.service, "_judge_disconnected", broken)
    await shell.fake.drop_websockets()
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "disconnect_handling_crashed" and not shell.service.healthy


async def test_the_events_connection_dying_stops_the_service(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deaf service (no ARI events any more) must not go on looking alive."""
    await shell.start()
    events = shell.ari.events
    assert events is not None

    async def broken() -> None:
        raise RuntimeError("a bug in the reconnect loop (test)")

    monkeypatch.setattr(events, "_sleep_backoff", broken)
    await shell.fake.drop_websockets()
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "ari_events_died" and not shell.service.healthy


async def test_application_replaced_is_a_fatal_stop(shell: Shell) -> None:
    await shell.start()
    await shell.push("ApplicationReplaced")
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "application_replaced" and not shell.service.healthy


# ---------------------------------------------------------------------- resync


async def test_a_resync_that_fails_once_is_retried_before_connected(shell: Shell) -> None:
    await shell.start()
    shell.service.resync_retries = (0.0, 0.0, None)
    gone = await shell.caller(CALLER)
    shell.fake.remove_channel(gone.channel_id)  # hung up during the gap
    shell.fake.fail("GET", r"/channels", status=500, times=1)
    await shell.reconnect()
    assert shell.service.connected.is_set() and shell.service.healthy
    assert gone.request_id not in shell.engine.requests  # reconciled despite the failed read
    assert len(shell.fake.calls_to("GET", r"/channels")) == 3  # start, failed, retried


async def test_a_resync_that_cannot_read_asterisk_stops_the_service_instead_of_reporting_connected(
    shell: Shell,
) -> None:
    await shell.start()
    shell.service.resync_retries = (0.0, 0.0, None)
    caller = await shell.caller(CALLER)
    shell.fake.fail("GET", r"/channels", status=500, times=None)
    resyncs = shell.service.resyncs
    await shell.fake.drop_websockets()
    await shell.eventually(shell.service.fatal.is_set, "the service stopping")
    assert shell.service.fatal_reason == "resync_failed_stopping"
    assert not shell.service.connected.is_set() and shell.service.resyncs == resyncs
    assert caller.request_id in shell.engine.requests
    shell.fake.clear_rules()


async def test_after_an_asterisk_restart_nobody_is_rung_before_their_phone_registers(cb: Shell) -> None:
    """Asterisk restarts while agent 1001 rings for a callback: the callback goes back to its
    place, and 1001 is rung again only once their endpoint is online, not paused for a phone
    that had not registered yet."""
    await cb.start()
    await cb.service.feed_and_commit(ev.CallbackRequested(cb.clock(), "cb-1", "support", CALLER))
    cb.ready("1001")
    first = await cb.wait_originate("1001")

    cb.fake.restart_asterisk()  # channels gone, a new start time
    for agent in ("1001", "1002"):
        cb.fake.endpoints[f"PJSIP/{agent}"]["state"] = "offline"  # not registered again yet
    originates = len(cb.fake.calls_to("POST", r"/channels"))
    await cb.reconnect()
    await cb.settle()
    await cb.service.executor.drain(0.5)

    assert cb.fed_of(ev.LegLost, leg_id=first.leg_id, reason="asterisk_restarted")
    assert len(cb.fake.calls_to("POST", r"/channels")) == originates  # nobody rung yet
    assert cb.engine.agents["1001"].reachable is False
    assert cb.agent_state("1001") is AgentState.READY
    assert cb.engine.requests["cb-1"].state is RequestState.WAITING

    await cb.endpoint_state("1001", "online")  # the phone registers: now it rings
    again = await cb.wait_originate("1001", count=originates + 1)
    assert again.leg_id != first.leg_id
    assert cb.engine.requests["cb-1"].agent_leg == again.leg_id
