"""Agents' feature codes (*21 ready, *22 pause, *23 logout) dialled from their softphones."""

from __future__ import annotations

from typing import Any

import pytest

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
    assert shell.agent_state("1001") is AgentState.READY
    assert media == shell.media("agent_ready")
    assert shell.agent_state("1002") is AgentState.LOGGED_OFF
    assert not shell.engine.requests

    # the confirmation ends: the feature call is hung up
    await shell.finish_playback(playback_id, chan["id"])
    await shell.fake.wait_for_call("DELETE", f"/channels/{chan['id']}")


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
    await shell.hangup_event(chan, "StasisEnd")
    await shell.eventually(lambda: shell.service.legs.by_channel(chan["id"]) is None, "the feature leg forgotten")
    assert not shell.engine.requests
    assert shell.agent_state("1001") is AgentState.READY


async def test_ready_code_lets_waiting_caller_reach_agent(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller(CALLER)
    await _dial_code(shell, "PJSIP/1002-00000009", "*21")
    ring = await shell.wait_originate("1002")
    assert shell.engine.requests[caller.request_id].agent_id == "1002"
    assert ring.call.param("callerId") == f'"Support" <{CALLER}>'
