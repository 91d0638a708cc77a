"""An indication tone as a prompt (issue 12, 5): `PromptItem("tone", "ring")` plays ARI's
`tone:ring` to a leg, e.g. ringing to the agent while the customer's phone rings; a tone never
ends by itself, so bridging the legs stops it first."""

from __future__ import annotations

from app.core.commands import BridgeLegs, PlayPrompt, PromptItem
from app.telephony.executor import tone_playback_id
from app.telephony.legs import Leg
from app.telephony.prompts import PromptBook
from tests.telephony.conftest import Shell


def test_a_tone_item_is_played_as_an_indication() -> None:
    book = PromptBook()
    assert book.media((PromptItem("tone", "ring"),)) == ["tone:ring"]
    assert book.media((PromptItem("tone", "ring;tonezone=dk"),)) == ["tone:ring;tonezone=dk"]
    assert book.media((PromptItem("callback_whisper"), PromptItem("tone", "ring"))) == ["sound:beep", "tone:ring"]


async def test_a_ring_tone_to_a_leg_is_stopped_before_it_is_bridged(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller()
    agent_channel = shell.fake.add_channel(name="PJSIP/1001-00000001")
    agent = shell.service.legs.add(Leg("agent-1", agent_channel["id"], "agent", caller.request_id, answered=True))
    executor = shell.service.executor

    executor.submit([PlayPrompt(agent.leg_id, (PromptItem("tone", "ring"),))])
    play = await shell.fake.wait_for_call("POST", rf"/channels/{agent.channel_id}/play")
    assert play.param("media") == "tone:ring"
    playback_id = play.param("playbackId")

    executor.submit([BridgeLegs(caller.request_id, caller.request_id, agent.leg_id)])
    bridged = await shell.fake.wait_for_call("POST", rf"/bridges/holdfast-call-{caller.request_id}/addChannel")
    stops = shell.fake.calls_to("DELETE", rf"/playbacks/{playback_id}")
    assert stops, "the ring tone was not stopped"
    assert shell.fake.calls.index(stops[0]) < shell.fake.calls.index(bridged)


async def test_a_tone_started_before_a_restart_is_stopped_before_the_bridge(shell: Shell) -> None:
    """The new process never saw the tone's playback: its id comes from the channel, so the
    adopted agent leg's ringback is stopped anyway (else the bridging would wait behind it)."""
    await shell.start()
    caller = await shell.caller()
    agent_channel = shell.fake.add_channel(name="PJSIP/1001-00000001")
    agent = shell.service.legs.add(
        Leg("agent-1", agent_channel["id"], "agent", caller.request_id, answered=True, adopted=True)
    )
    shell.service.executor.submit([BridgeLegs(caller.request_id, caller.request_id, agent.leg_id)])
    bridged = await shell.fake.wait_for_call("POST", rf"/bridges/holdfast-call-{caller.request_id}/addChannel")
    stops = shell.fake.calls_to("DELETE", rf"/playbacks/{tone_playback_id(agent.channel_id)}")
    assert stops, "the tone of an adopted leg was not stopped"
    assert shell.fake.calls.index(stops[0]) < shell.fake.calls.index(bridged)
