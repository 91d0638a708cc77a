"""A predictive campaign on real Asterisk: 4 auto-answering agents, 24 contacts of mixed behaviour
(answer after x s, busy, no answer). Every answered contact hears an agent within 2 s of answering,
or the information message; what the phone simulator saw agrees with the API's campaign figures and
with the service's own `dial_attempt` records; no contact is ever dialled twice at once."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from app.core import events as ev

pytestmark = pytest.mark.e2e

CAMPAIGN = "pred"
AGENTS = ("1001", "1002", "1003", "1004")
SLOW_AGENT = "1004"  # their phone auto-answers after 3 s: any contact given to them is past 2 s
TALK = 4.0  # an answered contact hangs up this long after answering (connected or not)
CONNECT_LIMIT = 2.0  # Ofcom: an agent within 2 s of the answer, otherwise the message

# number -> behaviour: ("answers", ring seconds) are driven by the test; the rest by the simulator
BEHAVIOURS: dict[str, Any] = {}
for i in range(16):
    BEHAVIOURS[f"+45201235{i:02d}"] = ("answers", (0.5, 1.5, 3.0, 5.0)[i % 4])
for i in range(16, 20):
    BEHAVIOURS[f"+45201235{i:02d}"] = "busy"
for i in range(20, 24):
    BEHAVIOURS[f"+45201235{i:02d}"] = "ignore"  # rings until the 15 s ring time is over


@pytest.fixture
def holdfast_extra_config() -> str:
    return f"""
campaigns:
  {CAMPAIGN}:
    mode: predictive
    queue: sales
    caller_id: "+4570000009"
    ring_time: 15s
    max_attempts: 1
    retry: {{busy: 3s, no_answer: 3s, failed: 3s, machine: 3s}}
"""


def _at(event: dict[str, Any]) -> float:
    """The simulator Asterisk's own clock for an ARI event (one clock for both sides of a pair)."""
    return datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def _answered_at(call: Any) -> float | None:
    for e in call.events:
        if e.get("type") == "ChannelStateChange" and (e.get("channel") or {}).get("state") == "Up":
            return _at(e)
    return None


def _span(call: Any) -> tuple[float, float]:
    ended = [_at(e) for e in call.events if e.get("type") in ("ChannelDestroyed", "StasisEnd")]
    return _at(call.events[0]), min(ended)


def _same_number(a: str, b: str) -> bool:
    return a[-8:] == b[-8:]  # the SUT may present +45… or 45…


async def _answer(phonesim: Any, holdfast: Any, number: str, ring: float) -> None:
    """Ring, answer after `ring` s, listen (an agent or the message must be heard), hang up; a
    contact given the information message listens to its end (the SUT hangs up)."""
    call = await phonesim.wait_incoming(f"customer:{number}", timeout=90)
    await call.ring()
    await asyncio.sleep(ring)  # the contact's own behaviour: answers after `ring` seconds
    await call.answer()
    await call.wait_audio_received(timeout=CONNECT_LIMIT + 3)  # an agent's voice or the message
    try:
        await call.wait_hangup(timeout=TALK)
    except TimeoutError:
        if holdfast.activities.find("dial_attempt", number=number, abandoned=True):
            await call.wait_hangup(timeout=30)  # the whole message, then the SUT hangs up
        else:
            await call.hangup()


async def _wait_or_fail_with_drivers(awaitable: Any, drivers: list[asyncio.Task[None]]) -> Any:
    """`awaitable`'s result; a contact driver that fails first fails the test with its own error
    (its call would otherwise stay up, and the test would only see a dial record missing)."""
    waiting = asyncio.ensure_future(awaitable)
    pending: set[asyncio.Future[Any]] = {waiting, *drivers}
    while not waiting.done():
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiting and task.exception() is not None:
                waiting.cancel()
                raise task.exception()  # type: ignore[misc]
    return waiting.result()


async def test_predictive_campaign_connects_within_2s_or_plays_the_message(holdfast, phonesim):
    phonesim.set_behaviour(f"agent:{SLOW_AGENT}", ("answer_after", 3.0))
    for number, behaviour in BEHAVIOURS.items():
        phonesim.set_behaviour(f"customer:{number}", "manual" if behaviour[0] == "answers" else behaviour)
    drivers = [
        asyncio.create_task(_answer(phonesim, holdfast, n, b[1])) for n, b in BEHAVIOURS.items() if b[0] == "answers"
    ]
    rows = [(n, f"Contact {n[-2:]}", json.dumps({}), None, None) for n in BEHAVIOURS]
    await holdfast.store.import_contacts(CAMPAIGN, rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), CAMPAIGN))
    for agent in AGENTS:
        holdfast.service.agent_action(agent, "ready")

    await _wait_or_fail_with_drivers(
        holdfast.wait_activity("dial_attempt", count=len(BEHAVIOURS), timeout=100), drivers
    )
    await asyncio.wait_for(asyncio.gather(*drivers), timeout=45)
    await holdfast.service.wait_committed()
    assert not phonesim.errors

    calls = list(phonesim.calls.values())
    customers = [c for c in calls if c.kind == "customer"]
    agent_calls = [c for c in calls if c.kind == "agent"]
    for call in customers:  # a span ends at the call's StasisEnd, which may trail its hangup request
        await call.wait_event("StasisEnd", timeout=10)

    # no contact dialled twice at once (and, with one attempt each, exactly once)
    for number in BEHAVIOURS:
        spans = sorted(_span(c) for c in customers if c.dest == number)
        assert len(spans) == 1, (number, spans)

    # every answered contact: an agent answered within 2 s (simulator clock), or none ever did
    # (those heard the message: each driver waited for audio before hanging up)
    seen_abandoned: set[str] = set()
    delays: list[float] = []
    for c in customers:
        answered = _answered_at(c)
        if answered is None:
            continue
        assert BEHAVIOURS[c.dest][0] == "answers", c.dest
        for_them = [a for a in agent_calls if _same_number(a.caller_number, c.dest)]
        agent_up = [t for t in map(_answered_at, for_them) if t is not None]
        if agent_up:
            (up,) = agent_up  # one agent per answered contact, and only within the limit
            delays.append(up - answered)
            assert -0.5 <= up - answered <= CONNECT_LIMIT, (c.dest, up - answered)
        else:  # an agent rung too late (the slow phone) was hung up before answering
            seen_abandoned.add(c.dest)
    answering = [n for n, b in BEHAVIOURS.items() if b[0] == "answers"]
    assert len(delays) + len(seen_abandoned) == len(answering)
    assert delays, "no contact was connected to an agent"
    assert seen_abandoned, "the slow agent's phone never made a contact wait past 2 s"

    # the service's own record agrees with the simulator, contact by contact
    records = holdfast.activities.find("dial_attempt")
    by_number = {r.data["number"]: r for r in records}
    assert len(records) == len(by_number) == len(BEHAVIOURS)
    assert {n for n, r in by_number.items() if r.data["abandoned"]} == seen_abandoned
    assert {n for n, r in by_number.items() if r.data["outcome"] == "answered"} == set(answering) - seen_abandoned
    assert {n for n, r in by_number.items() if r.data["outcome"] == "busy"} == {
        n for n, b in BEHAVIOURS.items() if b == "busy"
    }
    assert {n for n, r in by_number.items() if r.data["outcome"] == "no_answer"} == {
        n for n, b in BEHAVIOURS.items() if b == "ignore"
    }
    played = [m for m in holdfast.service.prompts_played if m.endswith("/dialler_information")]  # not its tail
    assert len(played) == len(seen_abandoned)  # each abandoned contact heard the whole message

    # the API's campaign figures count the same
    url = f"{holdfast.http_url}/api/campaigns/{CAMPAIGN}/figures"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        figures = await resp.json()
    day = figures["last_24h"]
    assert (day["attempts"], day["connects"], day["abandoned"]) == (
        len(BEHAVIOURS),
        len(delays),
        len(seen_abandoned),
    ), figures
    assert figures["last_30d"]["abandoned"] == len(seen_abandoned)
    print(
        f"predictive e2e: {len(delays)} connected (answer→agent max {max(delays):.2f} s), "
        f"{len(seen_abandoned)} abandoned, figures {day}"
    )
    await holdfast.assert_nothing_left_behind()
