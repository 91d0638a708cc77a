"""Agents' feature codes (*21 ready, *22 pause, *23 logout) dialled from their softphones."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog.testing

from app.core.states import AgentState
from tests.telephony.conftest import CALLER, Shell


async def _dial_code(shell: Shell, channel_name: str, code: str) -> tuple[dict[str, Any], str, str]:
    """The agent dials `code`; returns (channel, media played, playback id)."""
    chan = shell.fake.add_channel(name=channel_name, caller_number=channel_name.split("/")[1].split("-")[0])
    await shell.push("StasisStart", channel=chan, args=["feature", code])
    await shell.fake.wait_for_call("POST", f"/channels/{chan['id']}/answer")
    play = await shell.fake.wait_for_call("POST", f"/channels/{chan['id']}/play")
    return chan, play.param("media") or "", play.param("playbackId") or ""


async def test_ready_code(shell: Shell) -> None:
    await shell.start()
    chan, media, playback_id = await _dial_code(shell, "PJSIP/1001-00000001", "*21")
    assert media == shell.media("agent_ready")
    assert shell.agent_state("1001") is AgentState.LOGGED_OFF  # ready once the feature call is over
    assert not shell.engine.requests

    # the confirmation ends: the feature call is hung up, and once it has ended the agent is ready
    await shell.finish_playback(playback_id, chan["id"])
    await shell.fake.wait_for_call("DELETE", f"/channels/{chan['id']}")
    assert shell.agent_state("1001") is AgentState.LOGGED_OFF
    await shell.hangup_event(chan, "StasisEnd")
    await shell.activities.wait("agent_state", agent_id="1001", state="ready")
    assert shell.agent_state("1002") is AgentState.LOGGED_OFF


async def test_pause_and_logout_codes(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    _, media, _ = await _dial_code(shell, "PJSIP/1001-00000002", "*22")
    assert media == shell.media("agent_paused")
    agent = shell.engine.agents["1001"]
    assert agent.state is AgentState.PAUSED and agent.pause_reason == "break"

    _, media, _ = await _dial_code(shell, "PJSIP/1001-00000003", "*23")
    assert media == shell.media("agent_logged_out")
    assert agent.state is AgentState.LOGGED_OFF


async def test_pause_code_while_logged_off_is_refused(shell: Shell) -> None:
    await shell.start()
    _, media, _ = await _dial_code(shell, "PJSIP/1001-00000004", "*22")
    assert media == shell.media("not_in_service")
    assert shell.agent_state("1001") is AgentState.LOGGED_OFF


@pytest.mark.parametrize(
    ("name", "code"),
    [("PJSIP/9999-00000005", "*21"), ("PJSIP/trunk-00000006", "*21"), ("PJSIP/1001-00000007", "*99")],
    ids=["unknown-agent", "trunk", "unknown-code"],
)
async def test_unknown_agent_or_code_hears_not_in_service(shell: Shell, name: str, code: str) -> None:
    await shell.start()
    chan, media, playback_id = await _dial_code(shell, name, code)
    assert media == shell.media("not_in_service")
    assert all(a.state is AgentState.LOGGED_OFF for a in shell.engine.agents.values())
    await shell.finish_playback(playback_id, chan["id"])
    await shell.fake.wait_for_call("DELETE", f"/channels/{chan['id']}")


async def test_feature_call_hangup_does_not_reach_engine(shell: Shell) -> None:
    await shell.start()
    chan, _, _ = await _dial_code(shell, "PJSIP/1001-00000008", "*21")
    await shell.hangup_event(chan, "StasisEnd")  # the agent hangs up during the confirmation
    await shell.eventually(lambda: shell.service.legs.by_channel(chan["id"]) is None, "the feature leg forgotten")
    assert not shell.engine.requests
    await shell.activities.wait("agent_state", agent_id="1001", state="ready")


async def test_ready_code_rings_the_agent_only_after_the_feature_call_ended(shell: Shell) -> None:
    """Issue 12 (3): no queue call as call waiting on top of the "you are logged in" confirmation."""
    await shell.start()
    caller = await shell.caller(CALLER)
    chan, _, playback_id = await _dial_code(shell, "PJSIP/1002-00000009", "*21")
    await shell.finish_playback(playback_id, chan["id"])
    await shell.fake.wait_for_call("DELETE", f"/channels/{chan['id']}")
    await shell.settle()
    assert not shell.fake.calls_to("POST", r"/channels")  # nobody rung while the feature call is up
    await shell.hangup_event(chan, "ChannelHangupRequest", cause=16)
    ring = await shell.wait_originate("1002")
    assert shell.engine.requests[caller.request_id].agent_id == "1002"
    assert ring.call.param("callerId") == f'"Support" <{CALLER}>'
    paths = [(c.method, c.path) for c in shell.fake.calls]
    assert paths.index(("DELETE", f"/channels/{chan['id']}")) < paths.index(("POST", "/channels"))


async def test_ready_code_refused_while_ringing_is_not_applied_later(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    await shell.caller(CALLER)
    await shell.wait_originate("1001")  # 1001 is ringing now: *21 is refused at once
    chan, media, _ = await _dial_code(shell, "PJSIP/1001-0000000a", "*21")
    assert media == shell.media("not_in_service")
    await shell.hangup_event(chan, "StasisEnd")
    await shell.eventually(lambda: shell.service.legs.by_channel(chan["id"]) is None, "the feature leg forgotten")
    assert shell.agent_state("1001") is AgentState.RINGING


async def test_ready_code_the_engine_refuses_by_the_end_is_logged(shell: Shell) -> None:
    """Allowed when dialled, refused when the call ends (the agent was rung meanwhile): a warning."""
    await shell.start()
    chan, media, _ = await _dial_code(shell, "PJSIP/1001-0000000b", "*21")
    assert media == shell.media("agent_ready")
    shell.ready("1001")  # e.g. from the web page, while the confirmation plays
    await shell.caller(CALLER)
    await shell.wait_originate("1001")
    with structlog.testing.capture_logs() as logs:
        await shell.hangup_event(chan, "StasisEnd")
        await shell.eventually(lambda: shell.service.legs.by_channel(chan["id"]) is None, "the feature leg forgotten")
    assert shell.agent_state("1001") is AgentState.RINGING
    assert any(e["event"] == "feature_code_refused_after_call" and e["log_level"] == "warning" for e in logs)


async def _pause_code_held_before_its_commit(shell: Shell, channel_name: str) -> tuple[dict[str, Any], asyncio.Event]:
    """Agent 1001 (ready) dials *22; returns once the service is storing the pause, held there
    until the returned event is set: the feature call is still ringing in our app meanwhile."""
    shell.ready("1001")
    release, holding = asyncio.Event(), asyncio.Event()
    commit = shell.service.agent_action_committed

    async def held_commit(agent_id: str, action: str, reason: str = "break") -> str | None:
        holding.set()
        await release.wait()
        return await commit(agent_id, action, reason)

    shell.service.agent_action_committed = held_commit  # type: ignore[method-assign]
    chan = shell.fake.add_channel(name=channel_name, caller_number="1001")
    chan["dialplan"]["app_data"] = f"{shell.fake.app_name},feature,*22"
    await shell.push("StasisStart", channel=chan, args=["feature", "*22"])
    await holding.wait()
    return chan, release


async def test_a_resync_while_a_pause_code_is_stored_leaves_the_feature_call_alone(shell: Shell) -> None:
    """The pause is confirmed only once stored; a websocket gap meanwhile brings a resync, which
    finds the feature call still ringing in our app. It is ours already: not taken in a second
    time (a second pause, refused, would play "not in service") and not hung up."""
    await shell.start()
    chan, release = await _pause_code_held_before_its_commit(shell, "PJSIP/1001-0000000c")
    await shell.reconnect()
    release.set()
    play = await shell.fake.wait_for_call("POST", f"/channels/{chan['id']}/play")
    assert play.param("media") == shell.media("agent_paused")
    await shell.settle()
    assert len(shell.fake.calls_to("POST", f"/channels/{chan['id']}/answer")) == 1
    assert len(shell.fake.calls_to("POST", f"/channels/{chan['id']}/play")) == 1
    assert not shell.fake.calls_to("DELETE", f"/channels/{chan['id']}")
    assert shell.agent_state("1001") is AgentState.PAUSED


async def test_a_feature_call_gone_at_a_resync_while_its_code_is_stored_is_not_answered(shell: Shell) -> None:
    """The agent hangs up while the pause is being stored, and the hang-up is lost with a
    websocket gap: the resync finds the call gone and ends its leg; nothing is played to it."""
    await shell.start()
    chan, release = await _pause_code_held_before_its_commit(shell, "PJSIP/1001-0000000d")
    shell.fake.remove_channel(chan["id"])
    await shell.reconnect()
    assert shell.service.legs.by_channel(chan["id"]) is None
    release.set()
    await shell.eventually(lambda: shell.agent_state("1001") is AgentState.PAUSED, "the pause kept")
    await shell.settle()
    assert not shell.fake.calls_to("POST", f"/channels/{chan['id']}/answer")
    assert not shell.service.legs.playbacks
