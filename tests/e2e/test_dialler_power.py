"""Power campaigns on real Asterisk: contacts first, an auto-answering agent connected on answer
within 2 s; more answers than agents → the information message with the number to call back and
an `abandoned` record; busy retried after its interval up to max_attempts."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from app.core import events as ev
from app.core.pacing import HistoryMinute, PacingHistory
from app.telephony.prompts import SHIPPED_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_agent_hears import read_header

pytestmark = pytest.mark.e2e

ANN, BEN, CAL = "+4520123480", "+4520123481", "+4520123482"


@pytest.fixture
def holdfast_extra_config() -> str:
    return """
campaigns:
  pow:
    mode: power
    queue: sales
    lines_per_agent: 2
    caller_id: "+4570000008"
    information_number: "+4533445566"
    ring_time: 15s
    max_attempts: 2
    retry: {busy: 3s, no_answer: 3s, failed: 3s, machine: 3s}
"""


def recorded_seconds(*names: str) -> float:
    """How long the shipped English recordings of `names` play (8000 mu-law bytes a second)."""
    return sum((SHIPPED_DIR / "en" / f"{name}.ulaw").stat().st_size for name in names) / 8000


def clean_record(holdfast, answered: int = 100) -> None:
    """The campaign answered `answered` calls an hour ago and abandoned none: its judged windows have
    room under the 3 % cap, so it dials its two lines per agent (a fresh one dials one)."""
    now = holdfast.service.clock()
    minute = (HistoryMinute(math.floor(now / 60) - 60, answered, 0, 0),)
    holdfast.service.engine.restore_pacing(PacingHistory(now, "pow", minute))


async def upload(holdfast, *numbers: str) -> None:
    rows = [(number, f"Contact {number[-2:]}", json.dumps({}), None, None) for number in numbers]
    await holdfast.store.import_contacts("pow", rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "pow"))
    await holdfast.wait_activity("contacts_loaded", campaign="pow", taken=len(rows))


async def test_answer_hears_an_agent_within_2s_and_a_second_answer_hears_the_message(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{BEN}", ("answer_after", 1.0))  # answers while the agent talks to Ann
    clean_record(holdfast)
    await upload(holdfast, ANN, BEN)
    holdfast.service.agent_action("1001", "ready")

    ann = await phonesim.wait_incoming(f"customer:{ANN}", timeout=15)
    ben = await phonesim.wait_incoming(f"customer:{BEN}", timeout=15)  # two lines for one ready agent
    assert ann.caller_number.endswith("70000008")
    agent = await phonesim.wait_incoming("agent:1001", timeout=10)
    assert await read_header(phonesim, agent, "Call-Info") == "<sip:holdfast>;answer-after=0"  # auto-answer
    connected = await holdfast.wait_activity("connected", contact=1)
    assert connected.data["after_answer"] <= 2.0  # the contact heard an agent within 2 s of answering
    await ann.wait_audio_received(timeout=3)
    await agent.wait_audio_flowing()

    # Ben answered while the only agent talks: the information message, then the call ends
    abandoned = await holdfast.wait_activity("dial_attempt", contact=2, timeout=15)
    assert (abandoned.data["outcome"], abandoned.data["abandoned"]) == ("abandoned", True)
    answered = holdfast.activities.find("contact_answered", request_id=abandoned.request_id)[0]
    assert 1.9 <= abandoned.at - answered.at <= 3.0
    await ben.wait_audio_received(timeout=5)  # the message is heard
    await ben.wait_hangup(timeout=30)
    heard = holdfast.service.clock() - abandoned.at
    played = list(holdfast.service.prompts_played)
    i = next(i for i, media in enumerate(played) if media.endswith("/dialler_information"))
    # the campaign's number to call back, as dialled in DK, between the message and its tail
    message = played[i : i + 3]
    assert message[1:2] == ["digits:33445566"] and message[-1].endswith("/dialler_information_tail"), played
    assert heard >= recorded_seconds("dialler_information", "dialler_information_tail") + 8 * 0.3  # 8 digits said
    await holdfast.service.wait_committed()
    stored = {r.number: r for r in await holdfast.store.list_contacts("pow")}
    assert stored[BEN].state == "scheduled" and stored[BEN].last_outcome == "abandoned"
    assert stored[BEN].next_due >= abandoned.at + 72 * 3600 - 1  # not dialled again for 72 h
    await ann.hangup()
    record = await holdfast.wait_activity("dial_attempt", contact=1)
    assert (record.data["outcome"], record.agent_id) == ("answered", "1001")
    await holdfast.assert_nothing_left_behind()


async def test_busy_is_retried_after_its_interval_up_to_max_attempts(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{CAL}", "busy")
    await upload(holdfast, CAL)
    holdfast.service.agent_action("1002", "ready")
    first = await holdfast.wait_activity("dial_attempt", number=CAL, timeout=15)
    second = await holdfast.wait_activity("dial_attempt", number=CAL, count=2, timeout=30)
    assert [first.data["outcome"], second.data["outcome"]] == ["busy", "busy"]
    started = holdfast.activities.find("attempt_started", number=CAL)
    assert len(started) == 2 and started[1].at - first.at >= 3.0  # the busy interval
    await holdfast.service.wait_committed()
    (stored,) = [r for r in await holdfast.store.list_contacts("pow") if r.number == CAL]
    assert (stored.state, stored.attempts, stored.last_outcome) == ("done", 2, "busy")
    assert not holdfast.activities.find("agent_ringing")  # no agent was ever rung for a busy line


async def test_a_contact_hanging_up_before_the_agent_connects_is_abandoned_and_the_agent_freed(holdfast, phonesim):
    """A contact says "hello?", hears silence and hangs up within the 2 s, while the agent's phone is
    still connecting. On real Asterisk the agent's ringing call is cancelled, the attempt is recorded
    as abandoned (the regulators count it), and the agent is free for the next contact."""
    phonesim.set_behaviour("agent:1001", ("answer_after", 3.0))  # slower than the contact's patience
    phonesim.set_behaviour(f"customer:{ANN}", "manual")
    await upload(holdfast, ANN)
    holdfast.service.agent_action("1001", "ready")

    ann = await phonesim.wait_incoming(f"customer:{ANN}", timeout=15)
    await ann.answer()
    agent = await phonesim.wait_incoming("agent:1001", timeout=10)  # rung on Ann's answer
    await ann.hangup()

    record = await holdfast.wait_activity("dial_attempt", number=ANN, timeout=15)
    assert (record.data["outcome"], record.data["abandoned"]) == ("abandoned", True)
    (left,) = holdfast.activities.find("dialler_abandoned", contact=record.data["contact"])
    assert left.data["why"] == "contact_hung_up"
    await agent.wait_hangup(timeout=10)
    assert not agent.answered  # cancelled while ringing: the agent never picked up a dead call
    assert not any("dialler_information" in media for media in holdfast.service.prompts_played)
    await holdfast.service.wait_committed()
    (stored,) = [r for r in await holdfast.store.list_contacts("pow") if r.number == ANN]
    assert (stored.state, stored.last_outcome) == ("scheduled", "abandoned")
    await holdfast.assert_nothing_left_behind()
    assert holdfast.engine.agents["1001"].state == "ready"
