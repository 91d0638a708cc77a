"""Callback rules end to end on real Asterisk: busy retries with quarantine, refused numbers,
an admin moving a waiting callback to another queue."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from conftest import BLOCKED_NUMBER, MOVE_AGENT

pytestmark = pytest.mark.e2e

CBR, CBBLK = "cbr", "4007"  # queue cbr: 3 attempts, 2 s between them; 4007 dials queue cbblk
RETRY_GAP = 2.0  # queues.cbr.callback.sec_between_retries
ANNA = "+4520123456"
PREMIUM = "+4590123456"  # Danish 90xxxxxx: phonenumbers says PREMIUM_RATE (checked below)
CAPPED = "+4520555111"  # a Danish mobile, eligible, given its one callback of the day in the test


async def api(holdfast, method: str, path: str, **kwargs) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.request(method, f"{holdfast.http_url}{path}", **kwargs) as resp:
        return resp.status, await resp.json()


async def new_callback(holdfast, queue: str, number: str) -> str:
    status, body = await api(holdfast, "POST", "/api/callbacks", json={"queue": queue, "number": number})
    assert status == 201, body
    return body["request_id"]


def describe(holdfast, request_id: str) -> str:
    mine = [a for a in holdfast.activities.items if a.request_id == request_id]
    return "activities: " + "; ".join(f"{a.at:.2f} {a.kind} {a.agent_id or ''} {a.data}" for a in mine)


def check_retry_timeline(holdfast, request_id: str, expected_outcomes: list[str]) -> None:
    """attempt_started 1..n; after each failed attempt a quarantine until >= its end + the gap, and
    the next attempt only after that."""
    started = holdfast.activities.find("attempt_started", request_id=request_id)
    outcomes = holdfast.activities.find("attempt_outcome", request_id=request_id)
    quarantines = holdfast.activities.find("quarantine", request_id=request_id)
    info = describe(holdfast, request_id)
    assert [a.data["attempt"] for a in started] == list(range(1, len(expected_outcomes) + 1)), info
    failed = [o for o in outcomes if o.data["outcome"] != "answered"]
    assert [o.data["outcome"] for o in failed] == [x for x in expected_outcomes if x != "answered"], info
    assert len(quarantines) == min(len(failed), 2), info  # the last failed attempt of 3 ends the callback
    for outcome, quarantine, nxt in zip(failed, quarantines, started[1:], strict=False):
        assert quarantine.at >= outcome.at, info
        assert quarantine.data["until"] >= outcome.at + RETRY_GAP - 1e-6, info
        assert nxt.at >= quarantine.data["until"] - 1e-6, f"attempt {nxt.data['attempt']} before quarantine end; {info}"


# `make test-all` only: a busy customer retried after the quarantine is also proven by
# test_busy_twice_then_answered_on_the_third_attempt_is_served, and a callback missed after its last
# attempt by test_callbacks.py's three no-answer attempts; this one adds 30 s to `make test`.
@pytest.mark.slow
async def test_busy_customer_is_retried_after_quarantine_three_times_then_missed(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{ANNA}", "busy")
    anna = await new_callback(holdfast, CBR, ANNA)
    holdfast.service.agent_action("1001", "ready")
    rings = [await phonesim.wait_incoming(f"customer:{ANNA}", timeout=30) for _ in range(3)]
    for ring in rings:
        await ring.wait_hangup()  # rejected busy, never answered
        assert not ring.answered
    ended = await holdfast.wait_activity("ended", request_id=anna, timeout=30)
    assert (ended.data["outcome"], ended.data["attempts"], ended.data["last"]) == ("missed", 3, "busy")
    outcomes = holdfast.activities.find("attempt_outcome", request_id=anna)
    assert [o.data["cause"] for o in outcomes] == [17, 17, 17]  # what the busy phone made the SUT see
    check_retry_timeline(holdfast, anna, ["busy", "busy", "busy"])

    await holdfast.service.wait_committed()
    logged = [(e.kind, e.data.get("attempt")) for e in await holdfast.store.events(request_id=anna)]
    assert [x for x in logged if x[0] in ("attempt_started", "quarantine", "ended")] == [
        ("attempt_started", 1),
        ("quarantine", None),
        ("attempt_started", 2),
        ("quarantine", None),
        ("attempt_started", 3),
        ("ended", None),
    ], logged
    stored = await holdfast.store.load_request(anna)
    assert stored is not None and stored.outcome == "missed"
    assert [a.outcome.value for a in stored.attempts] == ["busy", "busy", "busy"]
    assert holdfast.engine.agents["1001"].state == "ready"  # freed after each attempt


async def test_busy_twice_then_answered_on_the_third_attempt_is_served(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{ANNA}", "busy")
    anna = await new_callback(holdfast, CBR, ANNA)
    holdfast.service.agent_action("1002", "ready")
    await holdfast.activities.wait("quarantine", 30, count=2, request_id=anna)
    phonesim.set_behaviour(f"customer:{ANNA}", "answer")  # >= 2 s before the third call comes
    rings = [await phonesim.wait_incoming(f"customer:{ANNA}", timeout=30) for _ in range(3)]
    assert [r.answered for r in rings[:2]] == [False, False]
    third = rings[2]
    await third.wait_answered()
    connected = await holdfast.wait_activity("connected", request_id=anna, timeout=15)
    assert connected.agent_id == "1002"
    await third.wait_audio_flowing()
    await third.hangup()
    ended = await holdfast.wait_activity("ended", request_id=anna)
    assert ended.data["outcome"] == "served", describe(holdfast, anna)
    check_retry_timeline(holdfast, anna, ["busy", "busy", "answered"])
    assert holdfast.activities.find("attempt_outcome", request_id=anna)[-1].data["outcome"] == "answered"
    await holdfast.assert_nothing_left_behind()


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def wait_prompt_played(holdfast, name: str, since: int, timeout: float = 15.0) -> None:
    """Until the service reports prompt `name` played to the end after index `since`."""
    deadline = time.monotonic() + timeout
    while not any(uri.rsplit("/", 1)[-1] == name for uri in list(holdfast.service.prompts_played)[since:]):
        assert time.monotonic() < deadline, (
            f"prompt {name} not played within {timeout}s; played: {list(holdfast.service.prompts_played)[since:]}"
            f"; failed: {holdfast.service.playback_failures}"
        )
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("caller", "reason"), [(BLOCKED_NUMBER, "blocked"), (PREMIUM, "premium_rate"), (CAPPED, "daily_limit")]
)
async def test_blocked_premium_rate_or_capped_caller_hears_the_refusal_and_keeps_waiting(
    holdfast, phonesim, caller, reason
):
    if reason == "premium_rate":
        import phonenumbers

        assert phonenumbers.number_type(phonenumbers.parse(caller)) == phonenumbers.PhoneNumberType.PREMIUM_RATE
    if reason == "daily_limit":  # cbblk allows one callback a day per number: a web form took it
        earlier = await new_callback(holdfast, "cbblk", caller)
        status, body = await api(holdfast, "DELETE", f"/api/callbacks/{earlier}", json={"by": "eva", "reason": "done"})
        assert status == 200, body
    call = await phonesim.call(CBBLK, caller)
    earlier_arrivals = len(holdfast.activities.find("arrived", caller=caller))  # the web form's, if any
    arrived = await holdfast.activities.wait("arrived", 15, count=earlier_arrivals + 1, caller=caller)
    request_id = arrived.request_id
    await call.wait_audio_flowing()  # on hold with music
    # Ineligible numbers are never offered (app/core/offer.py); the caller knows the key anyway.
    # The first offer is considered 1 s after arrival, then 60 s later: wait until it was decided.
    await wait_until(lambda: (holdfast.engine.requests[request_id].next_offer_at or 0) > arrived.at + 30)
    played_before = len(holdfast.service.prompts_played)
    await call.send_dtmf("1")
    refused = await holdfast.wait_activity("callback_refused", request_id=request_id)
    assert refused.data["reason"] == reason
    await wait_prompt_played(holdfast, "callback_unavailable", played_before)
    await call.wait_audio_received(min_packets=50)  # still hearing the line (hold music), not cut off
    assert not call.hung_up
    assert holdfast.engine.position(request_id) == 1  # still in the queue, in its place
    assert holdfast.engine.requests[request_id].callback_number is None
    assert not holdfast.activities.find("callback_accepted", request_id=request_id)
    assert not holdfast.activities.find("callback_key", request_id=request_id)  # no menu was opened
    assert not holdfast.activities.find("offered", request_id=request_id)
    status, body = await api(holdfast, "GET", "/api/callbacks")
    assert status == 200 and body["callbacks"] == []
    await holdfast.service.wait_committed()
    kinds = [e.kind for e in await holdfast.store.events(request_id=request_id)]
    assert "callback_refused" in kinds and "callback_accepted" not in kinds, kinds
    await call.hangup()


async def test_admin_moves_a_waiting_callback_and_an_agent_of_the_new_queue_serves_it(holdfast, phonesim):
    anna = await new_callback(holdfast, "cb", ANNA)  # nobody ready yet: it waits in cb
    body = {"queue": "cbmove", "by": "supervisor-eva", "reason": "billing question"}
    status, moved = await api(holdfast, "POST", f"/api/callbacks/{anna}/move", json=body)
    assert status == 200, moved
    assert (moved["callback"]["queue"], moved["callback"]["position"]) == ("cbmove", 1)
    status, listed = await api(holdfast, "GET", "/api/callbacks")
    assert [(c["request_id"], c["queue"]) for c in listed["callbacks"]] == [(anna, "cbmove")]

    # 1004 (cb, not cbmove) is ready first and idle longest: had the callback stayed in cb, it would be rung.
    holdfast.service.agent_action("1004", "ready")
    holdfast.service.agent_action(MOVE_AGENT, "ready")
    agent = await phonesim.wait_incoming(f"agent:{MOVE_AGENT}", timeout=15)
    customer = await phonesim.wait_incoming(f"customer:{ANNA}", timeout=20)
    connected = await holdfast.wait_activity("connected", request_id=anna, timeout=15)
    assert (connected.agent_id, connected.queue) == (MOVE_AGENT, "cbmove")
    await customer.wait_audio_flowing()
    await agent.wait_audio_flowing()
    await customer.hangup()
    ended = await holdfast.wait_activity("ended", request_id=anna)
    assert ended.data["outcome"] == "served" and ended.queue == "cbmove"
    assert [a.agent_id for a in holdfast.activities.find("agent_ringing", request_id=anna)] == [MOVE_AGENT]
    assert holdfast.engine.agents["1004"].state == "ready"

    await holdfast.service.wait_committed()
    [entry] = await holdfast.store.admin_log(request_id=anna)
    assert (entry.who, entry.action) == ("supervisor-eva", "move_callback")
    assert {k: entry.detail[k] for k in ("reason", "to_queue", "queue", "after")} == {
        "reason": "billing question",
        "to_queue": "cbmove",
        "queue": "cb",
        "after": "callback waiting, position 1 in cbmove",  # where it is once moved
    }  # with before → after and the queue it left (issue 16: the change log)
    logged = await holdfast.store.events(request_id=anna)
    [move] = [e for e in logged if e.kind == "moved"]
    assert (move.data["from_queue"], move.data["to_queue"], move.data["by"]) == ("cb", "cbmove", "supervisor-eva")
    kinds = [e.kind for e in logged]
    assert kinds.index("moved") < kinds.index("agent_ringing") < kinds.index("connected"), kinds
    assert next(e for e in logged if e.kind == "connected").queue == "cbmove"
