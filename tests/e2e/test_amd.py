"""Answering-machine detection on real Asterisk, with the shipped synthetic greetings
(bench/amd/greetings/): the phone simulator answers a power campaign's call and plays a greeting;
AMD() in [holdfast-amd], tuned by the campaign's `amd_tuning`, decides.

- a person ("Hi, this is Anna.", three words) is connected to an agent. Amd.conf alone (at most two
  words) classes this greeting MACHINE (docs/bench-amd.md), so the verdict HUMAN also shows that the
  campaign's tuning (at most three words) reached AMD();
- a machine's long greeting ends the attempt as `machine`, no agent is rung, and the campaign's
  machine_message is left on it before the call ends."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest

from app.config.amd import AMD_ARGS_VARIABLE
from app.core import events as ev
from app.telephony.prompts import SHIPPED_DIR
from bench.amd import catalogue

pytestmark = pytest.mark.e2e

PERSON, MACHINE = "+4520123490", "+4520123491"
TUNED_ARGS = ",2000,,,,,3"  # greeting 2 s, at most 3 words; the rest from amd.conf


@pytest.fixture
def holdfast_extra_config() -> str:
    return """
campaigns:
  amd:
    mode: power
    queue: sales
    caller_id: "+4570000009"
    ring_time: 15s
    max_attempts: 1
    amd: true
    amd_tuning:
      maximum_number_of_words: 3
      greeting: 2s
    machine_message: voicemail_message
"""


async def upload(holdfast, number: str) -> None:
    rows = [(number, f"Contact {number[-2:]}", json.dumps({}), None, None)]
    await holdfast.store.import_contacts("amd", rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "amd"))
    await holdfast.wait_activity("contacts_loaded", campaign="amd", taken=1)


def channel_variables(holdfast, request_id: str, *names: str) -> dict[str, str]:
    """Variables of the contact's channel on the SUT, read from Asterisk itself."""
    (leg,) = [leg for leg in holdfast.service.legs.live() if leg.role == "customer" and leg.request_id == request_id]
    return {
        name: holdfast.sut.ari_get(f"/channels/{leg.channel_id}/variable?variable={quote(name)}").get("value", "")
        for name in names
    }


async def test_a_person_greeting_is_connected_to_an_agent(holdfast, phonesim, phonesim_asterisk):
    catalogue.install(phonesim_asterisk)
    phonesim.set_behaviour(f"customer:{PERSON}", "manual")
    await upload(holdfast, PERSON)
    holdfast.service.agent_action("1001", "ready")

    phone = await phonesim.wait_incoming(f"customer:{PERSON}", timeout=15)
    await catalogue.answer_with(phone, phonesim_asterisk, catalogue.by_name("person_anna"))
    started = await holdfast.wait_activity("attempt_started", contact=1)
    outcome = await holdfast.wait_activity("attempt_outcome", request_id=started.request_id, timeout=20)
    assert outcome.data["outcome"] == "answered"
    agent = await phonesim.wait_incoming("agent:1001", timeout=10)
    connected = await holdfast.wait_activity("connected", contact=1)
    assert connected.agent_id == "1001"
    variables = channel_variables(holdfast, outcome.request_id, AMD_ARGS_VARIABLE, "AMDSTATUS", "AMDCAUSE")
    assert variables[AMD_ARGS_VARIABLE] == TUNED_ARGS
    assert variables["AMDSTATUS"] == "HUMAN" and variables["AMDCAUSE"].startswith("HUMAN-")
    # the wait for an agent counts from the end of the greeting, which detection heard a silence ago
    silence = int(variables["AMDCAUSE"].split("-")[1]) / 1000
    assert silence >= 0.8 and silence - 0.01 <= connected.data["after_answer"] <= 2.0
    await agent.wait_audio_flowing()
    assert not any("voicemail_message" in media for media in holdfast.service.prompts_played)
    await phone.hangup()
    record = await holdfast.wait_activity("dial_attempt", contact=1)
    assert (record.data["outcome"], record.agent_id) == ("answered", "1001")
    await holdfast.assert_nothing_left_behind()


async def test_a_machine_greeting_is_recorded_as_machine_and_gets_the_message(holdfast, phonesim, phonesim_asterisk):
    catalogue.install(phonesim_asterisk)
    phonesim.set_behaviour(f"customer:{MACHINE}", "manual")
    await upload(holdfast, MACHINE)
    holdfast.service.agent_action("1001", "ready")

    phone = await phonesim.wait_incoming(f"customer:{MACHINE}", timeout=15)
    await catalogue.answer_with(phone, phonesim_asterisk, catalogue.by_name("machine_voicemail_of"))
    started = await holdfast.wait_activity("attempt_started", contact=1)
    outcome = await holdfast.wait_activity("attempt_outcome", request_id=started.request_id, timeout=20)
    assert outcome.data["outcome"] == "machine"
    decided = asyncio.get_running_loop().time()
    variables = channel_variables(holdfast, outcome.request_id, AMD_ARGS_VARIABLE, "AMDSTATUS", "AMDCAUSE")
    assert variables[AMD_ARGS_VARIABLE] == TUNED_ARGS
    assert variables["AMDSTATUS"] == "MACHINE"

    await phone.wait_hangup(30)  # the SUT ends the call once the message was left
    played = [media for media in holdfast.service.prompts_played if "voicemail_message" in media]
    assert played, holdfast.service.prompts_played
    message_seconds = (SHIPPED_DIR / "en" / "voicemail_message.ulaw").stat().st_size / 8000
    assert asyncio.get_running_loop().time() - decided >= 0.8 * message_seconds  # heard, not cut short
    record = await holdfast.wait_activity("dial_attempt", contact=1)
    assert record.data["outcome"] == "machine"
    assert not holdfast.activities.find("agent_ringing")  # no agent was rung for a machine
    assert not holdfast.activities.find("connected")
    await holdfast.service.wait_committed()
    (stored,) = await holdfast.store.list_contacts("amd")
    assert stored.last_outcome == "machine"
    await holdfast.assert_nothing_left_behind()
