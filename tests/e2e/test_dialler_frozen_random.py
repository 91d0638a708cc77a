"""The SUT's Asterisk frozen (SIGSTOP) at seeded random moments of a power campaign: the dialler's
flavour of test_asterisk_frozen_random.py (callbacks and callers).

Five auto-answering agents work a list of contacts who always answer (a seeded third after
ringing 2 s) and talk 1 s. Asterisk is frozen at random points of the run's progress, each time
for 3, 12, 20 or 36 s: under the ARI request timeout, past it, past the engine's guard on a dial
(ring time + 10 s), past the heartbeat's verdict (the websocket is dropped and resynced). A
contact answering during a stall may fairly hear the information message (no agent within 2 s
of their answer) or be dialled again (a dial Asterisk never reported, or reported unanswered long
past its ring time, is interrupted: not counted). The campaign has one attempt per contact, so
whatever the stalls:
- every contact is done by the end, and each one's last dial was answered by them (connected or
  given the message): none is given up on for our stalls;
- no number is rung twice at once, and no more often than its stored attempts;
- no agent is rung while holding another contact, no contact is connected twice;
- at the end every agent is ready, nothing is left in the service or in Asterisk, and the
  service never stopped.

`make test-all` only (marker `slow`): about 2 minutes a seed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import Counter

import aiohttp
import pytest
from phonesim import PhoneSim
from test_asterisk_frozen import assert_no_agent_booked_twice, assert_service_stayed_up
from test_asterisk_frozen_random import FREEZES, Stalls, assert_settled
from test_dialler_fault_injection import _customer_calls, _spans

from app.core import events as ev

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AGENTS = ["1001", "1002", "1003", "1004", "1005"]
TALK = 1.0  # seconds a contact stays on the line once connected
SLOW_PICKUP = 2.0  # seconds a seeded third of the contacts let their phone ring
PROGRESS = ("attempt_started", "contact_answered", "connected", "dial_attempt", "ended")
LIVE = ("answered", "abandoned")  # a dial the contact picked up: connected, or the message


@pytest.fixture
def holdfast_extra_config() -> str:
    return """
campaigns:
  frz:
    mode: power
    queue: sales
    lines_per_agent: 1
    caller_id: "+4570000021"
    information_number: "+4533445566"
    ring_time: 15s
    max_attempts: 1
    retry: {busy: 3s, no_answer: 3s, failed: 3s, machine: 3s}
"""


async def _figures(holdfast) -> dict:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{holdfast.http_url}/api/campaigns/frz/figures") as resp,
    ):
        assert resp.status == 200
        return dict(await resp.json())


async def _contacts(holdfast) -> dict[str, tuple[str, str | None]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{holdfast.http_url}/api/campaigns/frz/contacts", params={"limit": "200"}) as resp,
    ):
        body = await resp.json()
        assert resp.status == 200, body
        return {c["number"]: (c["state"], c["last_outcome"]) for c in body["contacts"]}


async def run(holdfast, phonesim: PhoneSim, sut, seed: int, contacts: int, freezes: int) -> None:
    rng = random.Random(seed)
    stalls = Stalls(sut.pid)
    numbers = [f"+4526{seed % 100:02d}{i:04d}" for i in range(contacts)]  # Danish mobiles
    phonesim.set_behaviour("agent:*", "answer")
    for number in numbers:
        slow = rng.random() < 1 / 3
        phonesim.set_behaviour(f"customer:{number}", ("talk", TALK, SLOW_PICKUP) if slow else ("talk", TALK))
    plan = sorted(rng.sample(range(3 * contacts), freezes))
    lengths = [rng.choice(FREEZES) for _ in plan]
    delays = [rng.uniform(0, 1.5) for _ in plan]

    service = holdfast.service
    rows = [(number, f"Contact {number[-4:]}", json.dumps({}), None, None) for number in numbers]
    await holdfast.store.import_contacts("frz", rows, service.clock())
    await service.feed_and_commit(ev.ContactsChanged(service.clock(), "frz"))
    await holdfast.wait_activity("contacts_loaded", campaign="frz")
    for agent in AGENTS:
        service.agent_action(agent, "ready")

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 180 + 5 * contacts + sum(lengths)
    while True:
        if (await _figures(holdfast))["left"] == 0 and all(c.hung_up for c in _customer_calls(phonesim)):
            break
        progress = sum(1 for a in holdfast.activities.items if a.kind in PROGRESS)
        if plan and progress >= plan[0]:
            plan.pop(0)
            await asyncio.sleep(delays.pop(0))  # to a random moment, not an assertion
            await stalls.freeze(lengths.pop(0))
            continue
        assert loop.time() < deadline, f"seed {seed}: not done in time: {await _figures(holdfast)}"
        assert_service_stayed_up(holdfast)
        await asyncio.sleep(0.2)
    lengths_done = [round(b - a, 1) for a, b in stalls.done]
    outcomes = Counter(a.data.get("outcome") for a in holdfast.activities.find("dial_attempt"))
    print(
        f"\n[dialler-frozen-random] seed {seed}: {contacts} contacts, stalls {lengths_done} s, dials {dict(outcomes)}"
    )

    # every contact done, their last dial a live answer
    states = await _contacts(holdfast)
    assert set(states) == set(numbers), f"seed {seed}: contacts {sorted(set(numbers) ^ set(states))}"
    not_live = {n: s for n, s in states.items() if s[0] != "done" or s[1] not in LIVE}
    assert not not_live, f"seed {seed}: contacts not done by a live answer: {not_live}"
    # no number rung twice at once, nor more often than its attempts
    attempts = Counter(a.data.get("number") for a in holdfast.activities.find("attempt_started"))
    calls = _customer_calls(phonesim)
    for number in numbers:
        mine = [c for c in calls if c.dest[-8:] == number[-8:]]
        assert 1 <= len(mine) <= attempts[number], f"seed {seed}: {number} rang {len(mine)}x, {attempts[number]} dials"
        spans = _spans(mine)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"seed {seed}: {number} rung twice at once"
    assert_no_agent_booked_twice(phonesim, holdfast, stalls.done)
    await assert_settled(holdfast, AGENTS, seed)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_asterisk_frozen_at_random_moments_of_a_power_campaign_loses_no_contact(
    holdfast, phonesim, sut_asterisk, seed
):
    await run(holdfast, phonesim, sut_asterisk, seed, contacts=20, freezes=4)
