"""Two power campaigns of one order with parity 2:1 on real Asterisk share the dialled calls
about 2:1 (every contact busy, so one agent's line turns over quickly)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from app.core import events as ev

pytestmark = pytest.mark.e2e

A_NUMBERS = [f"+45201235{i:02d}" for i in range(10)]
B_NUMBERS = [f"+45201236{i:02d}" for i in range(10)]


@pytest.fixture
def holdfast_extra_config() -> str:
    return """
campaigns:
  twice:
    mode: power
    queue: sales
    caller_id: "+4570000009"
    parity: 2
    ring_time: 15s
  once:
    mode: power
    queue: sales
    caller_id: "+4570000009"
    parity: 1
    ring_time: 15s
"""


async def upload(holdfast, campaign: str, numbers: list[str]) -> None:
    rows = [(n, n, json.dumps({}), None, None) for n in numbers]
    await holdfast.store.import_contacts(campaign, rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), campaign))
    await holdfast.wait_activity("contacts_loaded", campaign=campaign, taken=len(rows))


async def test_parity_two_to_one_shares_the_calls_two_to_one(holdfast, phonesim):
    for number in A_NUMBERS + B_NUMBERS:
        phonesim.set_behaviour(f"customer:{number}", "busy")
    await upload(holdfast, "twice", A_NUMBERS)
    await upload(holdfast, "once", B_NUMBERS)
    holdfast.service.agent_action("1004", "ready")
    await holdfast.wait_activity("dial_attempt", count=12, timeout=60)
    started = holdfast.activities.find("attempt_started")[:12]
    shares = Counter(a.data["campaign"] for a in started)
    assert shares == {"twice": 8, "once": 4}, shares
    assert max(Counter(a.data["number"] for a in started).values()) == 1  # each contact once (busy: 10 min later)
    holdfast.service.agent_action("1004", "pause")
