"""Preview campaigns on real Asterisk: the agent is rung first with the contact's caller id, the
card is served while the phone rings, the contact is dialled once the agent answers and the two
are bridged with audio both ways; an agent who rejects is paused and the contact goes to the next
agent, unattempted; a skip hands over the next contact; an agent who hangs up while the contact's
phone rings leaves it ringing the minimum ring time, and a contact answering then hears the
information message."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from app.core import events as ev
from app.core.settings import MIN_RING_TIME
from app.store.contact_records import ImportRow

pytestmark = pytest.mark.e2e

ADA, BOB, CY = "+4520123470", "+4520123471", "+4520123472"


@pytest.fixture
def holdfast_extra_config() -> str:
    return """
campaigns:
  prev:
    name: Preview test
    mode: preview
    queue: sales
    caller_id: "+4570000009"
    ring_time: 15s
    max_attempts: 2
    dispositions: [sale, not_interested, call_back]
"""


async def upload(holdfast, *contacts: tuple[str, str, dict[str, str]]) -> None:
    """Contacts into the store, then the campaign is told to look (as an upload over the API does)."""
    rows: list[ImportRow] = [(number, name, json.dumps(fields), None, None) for number, name, fields in contacts]
    await holdfast.store.import_contacts("prev", rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "prev"))
    await holdfast.wait_activity("contacts_loaded", campaign="prev", taken=len(rows))


async def api(holdfast, method: str, path: str, **kwargs):
    async with aiohttp.ClientSession() as http, http.request(method, f"{holdfast.http_url}{path}", **kwargs) as resp:
        return resp.status, await resp.json()


async def stored_contact(holdfast, number: str):
    await holdfast.service.wait_committed()
    for record in await holdfast.store.list_contacts("prev"):
        if record.number == number:
            return record
    raise AssertionError(f"{number} is not stored")


async def test_agent_rung_with_the_contact_card_then_contact_bridged_with_audio(holdfast, phonesim):
    phonesim.set_behaviour("agent:1001", "manual")
    await upload(holdfast, (ADA, "Ada Lovelace", {"account": "A-1", "plan": "gold"}))
    holdfast.service.agent_action("1001", "ready")

    agent = await phonesim.wait_incoming("agent:1001")
    assert agent.caller_name == "Ada Lovelace" and agent.caller_number.endswith("20123470")
    status, card = await api(holdfast, "GET", "/api/agents/1001/contact")  # while the phone rings
    assert status == 200, card
    assert (card["name"], card["number"], card["fields"], card["state"]) == (
        "Ada Lovelace",
        ADA,
        {"account": "A-1", "plan": "gold"},
        "ringing_agent",
    )
    assert all(c.kind != "customer" for c in phonesim.calls.values())  # agent first

    await agent.answer()
    customer = await phonesim.wait_incoming(f"customer:{ADA}", timeout=15)
    assert customer.caller_number.endswith("70000009")  # the campaign's caller id
    connected = await holdfast.wait_activity("connected", request_id=card["request_id"])
    assert connected.data["campaign"] == "prev"
    await customer.wait_audio_flowing()
    await agent.wait_audio_flowing()
    await customer.hangup()
    record = await holdfast.wait_activity("dial_attempt", request_id=card["request_id"])
    assert (record.data["outcome"], record.data["number"], record.agent_id) == ("answered", ADA, "1001")

    status, answer = await api(holdfast, "POST", "/api/agents/1001/contact/disposition", json={"disposition": "sale"})
    assert status == 200, answer
    stored = await stored_contact(holdfast, ADA)
    assert (stored.state, stored.attempts, stored.last_outcome) == ("done", 1, "sale")
    logged = [e for e in await holdfast.store.events(request_id=card["request_id"]) if e.kind == "dial_attempt"]
    assert len(logged) == 1 and logged[0].data["contact"] == card["contact_id"]  # the compliance record


async def test_an_agent_who_rejects_is_paused_and_the_contact_goes_to_the_next_unattempted(holdfast, phonesim):
    phonesim.set_behaviour("agent:1002", "busy")  # rejects the call
    phonesim.set_behaviour("agent:1003", "manual")
    await upload(holdfast, (BOB, "Bob Builder", {}))
    holdfast.service.agent_action("1002", "ready")
    await holdfast.wait_activity("agent_paused", agent_id="1002", reason="not_responding")
    assert holdfast.engine.agents["1002"].pause_reason == "not_responding"
    holdfast.service.agent_action("1003", "ready")
    agent = await phonesim.wait_incoming("agent:1003")
    assert agent.caller_name == "Bob Builder"
    status, card = await api(holdfast, "GET", "/api/agents/1003/contact")
    assert status == 200 and card["attempts"] == 0  # the rejection was not an attempt
    assert not holdfast.activities.find("attempt_started")
    await agent.hangup()


async def test_skip_returns_the_contact_and_rings_the_agent_with_the_next(holdfast, phonesim):
    phonesim.set_behaviour("agent:1004", "manual")
    await upload(holdfast, (BOB, "Bob Builder", {}), (CY, "Cy Twombly", {}))
    holdfast.service.agent_action("1004", "ready")
    first = await phonesim.wait_incoming("agent:1004")
    assert first.caller_name == "Bob Builder"
    status, answer = await api(holdfast, "POST", "/api/agents/1004/contact/skip")
    assert status == 200, answer
    await first.wait_hangup()
    second = await phonesim.wait_incoming("agent:1004")
    assert second.caller_name == "Cy Twombly"
    stored = await stored_contact(holdfast, BOB)
    assert (stored.state, stored.attempts) == ("scheduled", 0)  # due again, never dialled
    assert not holdfast.activities.find("attempt_started")
    await second.hangup()


async def agent_leaves_while_the_contact_rings(holdfast, phonesim):
    """Agent 1001 answers Ada's preview and hangs up as soon as her phone rings; returns her call
    and when it began ringing (the loop's clock)."""
    phonesim.set_behaviour("agent:1001", "manual")
    phonesim.set_behaviour(f"customer:{ADA}", "manual")
    await upload(holdfast, (ADA, "Ada Lovelace", {}))
    holdfast.service.agent_action("1001", "ready")
    agent = await phonesim.wait_incoming("agent:1001")
    await agent.answer()
    customer = await phonesim.wait_incoming(f"customer:{ADA}", timeout=15)
    rang_at = asyncio.get_running_loop().time()
    await agent.hangup()
    await holdfast.wait_activity("agent_left_callback", agent_id="1001")
    return customer, rang_at


async def test_an_agent_leaving_while_the_contact_rings_leaves_it_ringing_the_minimum(holdfast, phonesim):
    """The agent hangs up at once while the contact's phone rings: the phone is not cut off after a
    moment (a nuisance call) but rings on until MIN_RING_TIME from the dial, then the dial ends as
    the agent's (not counted against the contact)."""
    customer, rang_at = await agent_leaves_while_the_contact_rings(holdfast, phonesim)
    await customer.wait_hangup(timeout=MIN_RING_TIME + 10)
    rang = asyncio.get_running_loop().time() - rang_at
    assert rang >= MIN_RING_TIME - 1.0, f"the contact's phone rang {rang:.1f} s only"
    record = await holdfast.wait_activity("dial_attempt")
    assert record.data["outcome"] == "agent_no_answer"
    stored = await stored_contact(holdfast, ADA)
    assert (stored.state, stored.attempts) == ("scheduled", 0)
    await holdfast.assert_nothing_left_behind()


async def test_a_contact_answering_after_the_agent_left_hears_the_information_message(holdfast, phonesim):
    customer, _ = await agent_leaves_while_the_contact_rings(holdfast, phonesim)
    await customer.answer()
    await customer.wait_audio_received(min_packets=100)  # 2 s of the message, not silence
    await customer.wait_hangup(timeout=30)  # the service hangs up once the message is over
    abandoned = await holdfast.wait_activity("dialler_abandoned")
    assert abandoned.data["why"] == "agent_left_before_answer"
    record = await holdfast.wait_activity("dial_attempt")
    assert record.data["outcome"] == "abandoned"
    await holdfast.assert_nothing_left_behind()
