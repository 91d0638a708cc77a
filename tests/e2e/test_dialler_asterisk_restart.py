"""The SUT Asterisk restarts in the middle of a power campaign, on real Asterisk: the dial that was
ringing is recorded `interrupted` and not counted against the contact, every contact is dialled
after the restart, none twice at once, and each ends exactly once."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from datetime import datetime

import pytest
from conftest import wait_agents_registered
from test_asterisk_restart import wait_until

from app.core import events as ev

pytestmark = pytest.mark.e2e

ANN, BEN, CAL = "+4520123495", "+4520123496", "+4520123497"
NUMBERS = (ANN, BEN, CAL)


@pytest.fixture
def holdfast_extra_config() -> str:
    # max_attempts 1: were the interrupted dial counted, Ann would never be dialled again.
    return """
campaigns:
  arst:
    mode: power
    queue: sales
    caller_id: "+4570000007"
    ring_time: 30s
    max_attempts: 1
"""


def span(call) -> tuple[float, float]:
    """When the simulator's leg of a dial began and ended, by Asterisk's own event times."""

    def at(type_: str) -> float:
        first = next(e for e in call.events if e.get("type") == type_)
        return datetime.fromisoformat(first["timestamp"]).timestamp()

    return at("StasisStart"), at("StasisEnd")


async def test_asterisk_restart_mid_campaign_every_contact_dialled_once_and_ended_once(
    holdfast, phonesim, sut_asterisk, test_agents
):
    phonesim.set_behaviour(f"customer:{ANN}", "manual")  # rings until the restart
    for number in (BEN, CAL):
        phonesim.set_behaviour(f"customer:{number}", ("talk", 1.0))
    rows = [(number, f"Contact {number[-2:]}", json.dumps({}), None, None) for number in NUMBERS]
    await holdfast.store.import_contacts("arst", rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "arst"))
    await holdfast.wait_activity("contacts_loaded", campaign="arst", taken=3)
    holdfast.service.agent_action("1002", "ready")

    ringing = await phonesim.wait_incoming(f"customer:{ANN}", timeout=15)  # one line: Ben and Cal are due
    await holdfast.wait_activity("attempt_started", number=ANN)
    phonesim.set_behaviour(f"customer:{ANN}", ("talk", 1.0))  # answers when dialled again
    ari = holdfast.service.ari
    reconnects = ari.metrics()["reconnects"]
    await asyncio.to_thread(sut_asterisk.restart)
    await ringing.wait_hangup(timeout=10)  # Asterisk's stop ended the ringing leg
    await wait_until(lambda: ari.metrics()["reconnects"] > reconnects, 30, "reconnected")
    await wait_until(holdfast.service.connected.is_set, 30, "resynced")
    await asyncio.to_thread(wait_agents_registered, sut_asterisk, [a.username for a in test_agents], 30)

    interrupted = await holdfast.wait_activity("dial_attempt", number=ANN, timeout=30)
    assert interrupted.data["outcome"] == "interrupted"
    for number in NUMBERS:  # every contact is dialled after the restart and talks to the agent
        record = await holdfast.wait_activity("dial_attempt", number=number, outcome="answered", timeout=60)
        assert record.agent_id == "1002"

    customer_calls = [c for c in phonesim.calls.values() if c.kind == "customer" and c.dest in NUMBERS]
    assert Counter(c.dest for c in customer_calls) == Counter({ANN: 2, BEN: 1, CAL: 1})
    spans = sorted(span(c) for c in customer_calls)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.05, spans  # one line for one agent: never two dials at once

    await holdfast.service.wait_committed()
    dials = [a for a in holdfast.activities.find("dial_attempt") if a.data.get("number") in NUMBERS]
    # Ann's ringing dial is recorded interrupted, once: nothing is dialled while Asterisk stops (a
    # redial into the shutdown used to be refused and counted as a failed attempt).
    interrupted_dials = Counter(a.data["number"] for a in dials if a.data["outcome"] == "interrupted")
    assert interrupted_dials == Counter({ANN: 1}), interrupted_dials
    down = holdfast.activities.find("telephony_down")
    assert down and down[0].data["reason"] in ("asterisk_shutdown", "ari_disconnected")
    assert Counter(a.data["number"] for a in dials if a.data["outcome"] != "interrupted") == Counter(NUMBERS)
    stored = {r.number: r for r in await holdfast.store.list_contacts("arst")}
    for number in NUMBERS:  # the interrupted dial is not an attempt: one counted each, then done
        assert (stored[number].state, stored[number].attempts, stored[number].last_outcome) == (
            "done",
            1,
            "answered",
        ), number
    ends = [a for a in holdfast.activities.find("ended") if a.data.get("campaign") == "arst"]
    final = Counter(a.data["contact"] for a in ends if a.data.get("outcome") != "returned")
    assert final == Counter({1: 1, 2: 1, 3: 1}), final  # each contact ends exactly once (interrupted: returned)
    await holdfast.assert_nothing_left_behind()
