"""Power campaign on real Asterisk: a contact who lets the phone ring past the campaign's ring time is
retried after its `retry.no_answer` interval, up to max_attempts, and then done with outcome no_answer."""

from __future__ import annotations

import json
from datetime import datetime

import aiohttp
import pytest

from app.core import events as ev

pytestmark = pytest.mark.e2e

DORA = "+4520123490"
RING_TIME = 15.0  # the campaign minimum
NO_ANSWER_RETRY = 4.0


@pytest.fixture
def holdfast_extra_config() -> str:
    return """
campaigns:
  retr:
    mode: power
    queue: sales
    caller_id: "+4570000009"
    ring_time: 15s
    max_attempts: 2
    retry: {busy: 1s, no_answer: 4s, failed: 1s, machine: 1s}
"""


def stamp(call, type_: str) -> float:
    """Asterisk's own time of the simulator-side event `type_` on `call` (epoch seconds)."""
    (first,) = [e for e in call.events if e.get("type") == type_][:1]
    return datetime.fromisoformat(first["timestamp"]).timestamp()


async def test_no_answer_is_retried_after_its_interval_up_to_max_attempts(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{DORA}", "ignore")  # rings, never answers
    rows = [(DORA, "Dora", json.dumps({}), None, None)]
    await holdfast.store.import_contacts("retr", rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "retr"))
    await holdfast.wait_activity("contacts_loaded", campaign="retr", taken=1)
    holdfast.service.agent_action("1001", "ready")

    first_call = await phonesim.wait_incoming(f"customer:{DORA}", timeout=15)
    await first_call.wait_hangup(timeout=RING_TIME + 5)
    first = await holdfast.wait_activity("dial_attempt", number=DORA, timeout=10)
    second_call = await phonesim.wait_incoming(f"customer:{DORA}", timeout=NO_ANSWER_RETRY + 15)
    await second_call.wait_hangup(timeout=RING_TIME + 5)
    second = await holdfast.wait_activity("dial_attempt", number=DORA, count=2, timeout=10)

    # the simulator saw two calls, each rung for about the ring time, the second after the interval
    calls = [c for c in phonesim.calls.values() if c.dest == DORA]
    assert len(calls) == 2 and not first_call.answered and not second_call.answered
    for call in calls:
        rang = stamp(call, "StasisEnd") - stamp(call, "StasisStart")
        assert RING_TIME - 1.0 <= rang <= RING_TIME + 3.0, rang
    assert stamp(second_call, "StasisStart") - stamp(first_call, "StasisEnd") >= NO_ANSWER_RETRY - 0.5
    started = holdfast.activities.find("attempt_started", number=DORA)
    assert len(started) == 2 and started[1].at - first.at >= NO_ANSWER_RETRY

    assert [first.data["outcome"], second.data["outcome"]] == ["no_answer", "no_answer"]
    assert first.data["abandoned"] is False and second.data["abandoned"] is False
    await holdfast.service.wait_committed()
    (stored,) = [r for r in await holdfast.store.list_contacts("retr") if r.number == DORA]
    assert (stored.state, stored.attempts, stored.last_outcome) == ("done", 2, "no_answer")
    async with aiohttp.ClientSession() as http, http.get(f"{holdfast.http_url}/api/campaigns/retr/contacts") as resp:
        assert resp.status == 200
        (view,) = (await resp.json())["contacts"]
    assert (view["state"], view["attempts"], view["last_outcome"]) == ("done", 2, "no_answer")
    assert not holdfast.activities.find("agent_ringing")  # no agent rung for an unanswered contact
