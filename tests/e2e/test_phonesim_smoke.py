"""Smoke tests of the end-to-end rig, without the Holdfast service: the SUT's Asterisk (deployed from
asterisk-conf/) driven by a throwaway Stasis app written here, and the phone simulator.

They prove that what later e2e tests rely on works: inbound calls reach the SUT's Stasis app with
caller id and dialled number, DTMF arrives, agents register, the SUT's calls to agents and customers
reach the simulator and are answered / refused busy / left ringing as asked, and media flows both
ways through a bridge.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.sandbox import AgentEndpoint, AsteriskInstance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import SUT_ARI_APP, wait_agents_registered
from phonesim import AriError, Event, MiniAri, PhoneSim

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

CUSTOMER = "0611223344"
SERVICE_NUMBER = "5551000"


@pytest.fixture
async def sut(sut_asterisk: AsteriskInstance) -> AsyncIterator[MiniAri]:
    """A throwaway Stasis app on the SUT under the name the dialplan uses; hangs up leftovers after."""
    user, password = sut_asterisk.ari_auth
    ari = await MiniAri(sut_asterisk.ari_url, user, password, SUT_ARI_APP).connect()
    try:
        yield ari
    finally:
        for ch in await ari.get("/channels"):
            try:
                await ari.delete(f"/channels/{ch['id']}")
            except AriError as e:
                if e.status != 404:
                    raise
        for br in await ari.get("/bridges"):
            try:
                await ari.delete(f"/bridges/{br['id']}")
            except AriError as e:
                if e.status != 404:
                    raise
        await ari.close()


def is_(type_: str, channel_id: str | None = None, **fields: Any) -> Any:
    def pred(ev: Event) -> bool:
        if ev.get("type") != type_:
            return False
        if channel_id is not None and (ev.get("channel") or {}).get("id") != channel_id:
            return False
        return all(ev.get(k) == v for k, v in fields.items())

    return pred


async def inbound_call(sut: MiniAri, sim: PhoneSim, caller: str = CUSTOMER, name: str = "") -> tuple[Any, str]:
    """A customer calls the service number; the SUT app answers. Returns (sim call, SUT channel id)."""
    mark = sut.mark()
    call = await sim.call(SERVICE_NUMBER, caller_id=caller, caller_name=name)
    start = await sut.wait_for(is_("StasisStart"), timeout=10, since=mark, what="inbound StasisStart")
    channel_id = start["channel"]["id"]
    await sut.post(f"/channels/{channel_id}/answer")
    await call.wait_answered(5)
    return call, start


async def originate(sut: MiniAri, endpoint: str, caller_id: str, timeout: int = 10) -> str:
    channel = await sut.post(
        "/channels", endpoint=endpoint, app=SUT_ARI_APP, appArgs="test", callerId=caller_id, timeout=timeout
    )
    return str(channel["id"])


async def test_inbound_call_reaches_stasis_with_caller_id_and_dtmf(sut: MiniAri, phonesim: PhoneSim) -> None:
    call, start = await inbound_call(sut, phonesim, name="Jane Doe")
    channel = start["channel"]
    assert start["args"] == ["inbound", SERVICE_NUMBER]
    assert channel["caller"]["number"] == CUSTOMER
    assert channel["caller"]["name"] == "Jane Doe"
    # entered in [holdfast-inbound], handed to the app by [holdfast-stasis] (which waits for the
    # app with music on hold while it is not connected)
    assert channel["dialplan"]["context"] == "holdfast-stasis"
    assert channel["dialplan"]["app_name"] == "Stasis"

    mark = sut.mark()
    await call.send_dtmf("1")
    ev = await sut.wait_for(is_("ChannelDtmfReceived", channel["id"]), since=mark, what="DTMF 1")
    assert ev["digit"] == "1"
    mark = sut.events.index(ev) + 1
    await call.send_dtmf("42#")
    digits = []
    for _ in range(3):
        ev = await sut.wait_for(is_("ChannelDtmfReceived", channel["id"]), since=mark, what="DTMF 42#")
        mark = sut.events.index(ev) + 1
        digits.append(ev["digit"])
    assert digits == ["4", "2", "#"]

    await call.hangup()
    await sut.wait_for(is_("StasisEnd", channel["id"]), what="StasisEnd after the caller hung up")


async def test_agents_are_registered_and_unregistering_makes_them_offline(
    sut: MiniAri, sut_asterisk: AsteriskInstance, phonesim_asterisk: AsteriskInstance, test_agents: list[AgentEndpoint]
) -> None:
    for agent in test_agents:
        endpoint = await sut.get(f"/endpoints/PJSIP/{agent.username}")
        assert endpoint["state"] == "online", endpoint
    unknown = pytest.raises(AriError)
    with unknown:
        await sut.get("/endpoints/PJSIP/9999")

    phonesim_asterisk.cli(PhoneSim.unregister_command("1005"))
    mark = sut.mark()
    try:
        # Subscribing the app to the endpoint gives EndpointStateChange events.
        await sut.post(f"/applications/{SUT_ARI_APP}/subscription", eventSource="endpoint:PJSIP/1005")
        state = (await sut.get("/endpoints/PJSIP/1005"))["state"]
        if state != "offline":
            await sut.wait_for(
                lambda e: (
                    e.get("type") == "EndpointStateChange"
                    and e["endpoint"]["resource"] == "1005"
                    and e["endpoint"]["state"] == "offline"
                ),
                since=mark,
                what="1005 offline",
            )
    finally:
        phonesim_asterisk.cli(PhoneSim.register_command("1005"))
        wait_agents_registered(sut_asterisk, ["1005"])


async def test_sut_call_to_agent_is_answered_with_callers_number(sut: MiniAri, phonesim: PhoneSim) -> None:
    mark = sut.mark()
    channel_id = await originate(sut, "PJSIP/1001", f'"Callback" <{CUSTOMER}>')
    incoming = await phonesim.wait_incoming("agent:1001")
    assert (incoming.caller_number, incoming.caller_name) == (CUSTOMER, "Callback")
    await sut.wait_for(is_("StasisStart", channel_id), since=mark, what="agent leg answered")
    await incoming.wait_answered()

    await sut.delete(f"/channels/{channel_id}")
    assert await incoming.wait_hangup() == 16


async def test_sut_call_to_busy_agent_fails_with_cause_17(sut: MiniAri, phonesim: PhoneSim) -> None:
    phonesim.set_behaviour("agent:1002", "busy")
    mark = sut.mark()
    channel_id = await originate(sut, "PJSIP/1002", "Callback <100>")
    incoming = await phonesim.wait_incoming("agent:1002")
    ev = await sut.wait_for(is_("ChannelDestroyed", channel_id), since=mark, what="busy agent leg destroyed")
    assert ev["cause"] == 17, ev
    await incoming.wait_hangup()
    assert not [e for e in sut.events[mark:] if is_("StasisStart", channel_id)(e)], "a busy agent never answers"


async def test_sut_call_to_agent_left_ringing_times_out(sut: MiniAri, phonesim: PhoneSim) -> None:
    phonesim.set_behaviour("agent:1003", "ignore")
    mark = sut.mark()
    channel_id = await originate(sut, "PJSIP/1003", "Callback <100>", timeout=2)
    incoming = await phonesim.wait_incoming("agent:1003")
    ev = await sut.wait_for(
        is_("ChannelDestroyed", channel_id), timeout=10, since=mark, what="unanswered agent leg destroyed"
    )
    assert ev["cause"] in (19, 21), ev  # 19 no answer (originate timeout) in Asterisk 22
    await incoming.wait_hangup()
    assert not incoming.answered


async def test_sut_callback_to_customer_reaches_simulator(sut: MiniAri, phonesim: PhoneSim) -> None:
    phonesim.set_behaviour(f"customer:{CUSTOMER}", ("answer_after", 0.3))
    mark = sut.mark()
    channel_id = await originate(sut, f"PJSIP/{CUSTOMER}@trunk", f'"Holdfast" <{SERVICE_NUMBER}>')
    incoming = await phonesim.wait_incoming(f"customer:{CUSTOMER}")
    assert incoming.caller_number == SERVICE_NUMBER
    await sut.wait_for(is_("StasisStart", channel_id), since=mark, what="customer leg answered")
    await incoming.wait_answered()
    await incoming.hangup()
    await sut.wait_for(is_("StasisEnd", channel_id), since=mark, what="customer hung up")


async def test_audio_flows_both_ways_between_bridged_caller_and_agent(sut: MiniAri, phonesim: PhoneSim) -> None:
    call, start = await inbound_call(sut, phonesim)
    caller_channel = start["channel"]["id"]
    mark = sut.mark()
    agent_channel = await originate(sut, "PJSIP/1004", f"<{CUSTOMER}>")
    agent_call = await phonesim.wait_incoming("agent:1004")
    await sut.wait_for(is_("StasisStart", agent_channel), since=mark, what="agent answered")

    bridge = await sut.post("/bridges", type="mixing")
    await sut.post(f"/bridges/{bridge['id']}/addChannel", channel=[caller_channel, agent_channel])

    # The simulator plays music on hold into both calls; through the bridge each hears the other.
    caller_stats = await call.wait_audio_flowing(timeout=5)
    agent_stats = await agent_call.wait_audio_flowing(timeout=5)
    assert caller_stats["rxcount"] > 0 and agent_stats["rxcount"] > 0
    for ch in (caller_channel, agent_channel):
        stats = await sut.get(f"/channels/{ch}/rtp_statistics")
        assert stats["txcount"] > 25 and stats["rxcount"] > 25, stats


async def test_custom_prompt_in_instance_sounds_dir_plays(
    sut: MiniAri, phonesim: PhoneSim, sut_asterisk: AsteriskInstance
) -> None:
    # What the service does with its own prompts: a file in sounds_dir, played as sound_uri(name).
    install = sut_asterisk.install
    langs = ("en_US_f_Allison", "en")
    candidates = [install.host_path(f"{install.data_dir}/sounds/{lang}/digits/1.wav") for lang in langs]
    digit = next(p for p in candidates if p.exists())
    (sut_asterisk.sounds_dir / "smoke-prompt.wav").write_bytes(digit.read_bytes())
    _call, start = await inbound_call(sut, phonesim)
    channel_id = start["channel"]["id"]
    mark = sut.mark()
    playback = await sut.post(f"/channels/{channel_id}/play", media=sut_asterisk.sound_uri("smoke-prompt"))
    ev = await sut.wait_for(
        lambda e: e.get("type") == "PlaybackFinished" and e["playback"]["id"] == playback["id"],
        since=mark,
        what="prompt finished",
    )
    assert ev["playback"]["state"] == "done", ev  # a missing file would finish as "failed"
