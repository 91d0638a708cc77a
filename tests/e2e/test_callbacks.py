"""The callback journey on real Asterisk: offer, menu, keep-place, agent first, retries, admin."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

CB, CB1, CBX, CBAMD = "4002", "4003", "4004", "4005"
ANNA = "+4520123456"
BO = "+4520654321"


async def arrive(holdfast, phonesim, number: str, caller: str, caller_name: str = ""):
    """A caller dials in; returns (call, request id) once the service has queued and answered them."""
    before = len(holdfast.activities.find("arrived"))
    call = await phonesim.call(number, caller, caller_name)
    arrived = await holdfast.activities.wait("arrived", count=before + 1)
    await call.wait_answered()
    return call, arrived.request_id


async def take_callback(holdfast, phonesim, number: str, caller: str) -> str:
    """Dial in, hear the offer, press 1 then 1 (this number); returns the request id."""
    call, request_id = await arrive(holdfast, phonesim, number, caller)
    await holdfast.wait_activity("offered", request_id=request_id)
    await call.send_dtmf("1")
    await holdfast.wait_activity("callback_key", request_id=request_id)
    await call.send_dtmf("1")
    accepted = await holdfast.wait_activity("callback_accepted", request_id=request_id)
    assert accepted.data["number"] == caller
    await call.wait_hangup()  # after the confirmation prompt
    return request_id


async def test_callback_keeps_place_agent_rung_first_with_whisper_then_customer(holdfast, phonesim):
    anna = await take_callback(holdfast, phonesim, CB, ANNA)
    bo_call, bo = await arrive(holdfast, phonesim, CB, BO)  # arrived later, stays on the line
    holdfast.service.agent_action("1001", "ready")

    agent = await phonesim.wait_incoming("agent:1001")
    assert agent.caller_name == "Callback" and agent.caller_number.endswith("20123456")
    first = holdfast.activities.find("agent_ringing")[0]
    assert first.request_id == anna  # the callback is served before Bo, who arrived after Anna

    customer = await phonesim.wait_incoming(f"customer:{ANNA}", timeout=15)
    whisper = await agent.rtp_stats()
    assert whisper["rxcount"] > 20  # the agent heard the whisper before the customer was dialled
    await holdfast.wait_activity("connected", request_id=anna)
    await customer.wait_audio_flowing()
    await agent.wait_audio_flowing()
    assert customer.caller_number.endswith("70000000")  # the queue's caller id
    await customer.hangup()
    await holdfast.wait_activity("ended", request_id=anna, outcome="served")

    await phonesim.wait_incoming("agent:1001", timeout=15)  # then Bo
    await holdfast.wait_activity("connected", request_id=bo)
    await bo_call.hangup()

    # Every step is in the raw event log, stored before it was acted on.
    await holdfast.service.wait_committed()
    logged = await holdfast.store.events(request_id=anna)
    kinds = [e.kind for e in logged]
    for kind in (
        "arrived",
        "offered",
        "callback_accepted",
        "agent_ringing",
        "agent_answered",
        "attempt_started",
        "attempt_outcome",
        "connected",
        "ended",
    ):
        assert kind in kinds, f"{kind} missing from the event log: {kinds}"
    assert kinds.index("agent_answered") < kinds.index("attempt_started")  # agent first
    connected = next(e for e in logged if e.kind == "connected")
    assert connected.data["net_wait"] <= connected.data["gross_wait"]
    stored = await holdfast.store.load_request(anna)
    assert stored is not None and stored.outcome == "served" and len(stored.attempts) == 1


@pytest.mark.parametrize(("behaviour", "expected"), [("busy", "busy"), ("ignore", "no_answer")])
async def test_customer_busy_or_not_answering_with_one_attempt_ends_missed(holdfast, phonesim, behaviour, expected):
    phonesim.set_behaviour(f"customer:{ANNA}", behaviour)
    anna = await take_callback(holdfast, phonesim, CB1, ANNA)
    holdfast.service.agent_action("1002", "ready")
    await phonesim.wait_incoming(f"customer:{ANNA}", timeout=20)
    outcome = await holdfast.wait_activity("attempt_outcome", request_id=anna, timeout=20)
    assert outcome.data["outcome"] == expected
    ended = await holdfast.wait_activity("ended", request_id=anna)
    assert ended.data["outcome"] == "missed"
    assert holdfast.engine.agents["1002"].state == "ready"  # freed at once: it was not a call


# ~61 s (three whispers and three ring timeouts): make test-all only, to keep make test within its
# 30 minutes. make test still dials unanswered and busy customers again after the quarantine on real
# Asterisk (test_callback_rules: busy twice then served; the one-attempt no answer below); the order
# of a retry at the end of the queue is the core's (tests/core/test_callback_attempts.py).
@pytest.mark.slow
async def test_no_answer_three_attempts_quarantine_and_retry_at_the_end(holdfast, phonesim):
    phonesim.set_behaviour(f"customer:{ANNA}", "ignore")
    anna = await take_callback(holdfast, phonesim, CB, ANNA)
    holdfast.service.agent_action("1003", "ready")
    await phonesim.wait_incoming("agent:1003", timeout=15)  # the first attempt's agent leg
    first = await holdfast.wait_activity("attempt_outcome", request_id=anna, timeout=30)
    assert first.data["outcome"] == "no_answer"
    holdfast.service.agent_action("1003", "pause")  # Bo arrives while Anna is in quarantine
    _bo_call, bo = await arrive(holdfast, phonesim, CB, BO)
    requeued = await holdfast.wait_activity("requeued", request_id=anna)
    assert requeued.at - first.at >= 3.0  # sec_between_retries
    assert requeued.data["position"] == 2  # behind Bo: a retry goes to the end
    holdfast.service.agent_action("1003", "ready")
    bo_agent = await phonesim.wait_incoming("agent:1003", timeout=15)
    await holdfast.wait_activity("connected", request_id=bo)
    await bo_agent.wait_answered()
    await bo_agent.hangup()

    ended = await holdfast.wait_activity("ended", request_id=anna, timeout=60)
    assert ended.data["outcome"] == "missed"
    attempts = holdfast.activities.find("attempt_started", request_id=anna)
    assert [a.data["attempt"] for a in attempts] == [1, 2, 3]
    outcomes = holdfast.activities.find("attempt_outcome", request_id=anna)
    for earlier, later in zip(outcomes, attempts[1:], strict=False):
        assert later.at - earlier.at >= 3.0  # quarantine respected before every retry
    await holdfast.assert_nothing_left_behind()


@pytest.mark.parametrize(
    ("caller", "name", "reason"), [("anonymous", "Anonymous", "hidden"), ("+46701234567", "", "foreign")]
)
async def test_hidden_or_foreign_number_gets_no_callback_and_stays_queued(holdfast, phonesim, caller, name, reason):
    call, request_id = await arrive(holdfast, phonesim, CB, caller, name)
    await call.send_dtmf("1")
    refused = await holdfast.wait_activity("callback_refused", request_id=request_id)
    assert refused.data["reason"] == reason
    assert holdfast.engine.position(request_id) == 1  # still holding its place
    assert not call.hung_up
    await call.hangup()


async def test_caller_enters_another_number(holdfast, phonesim):
    call, request_id = await arrive(holdfast, phonesim, CB, ANNA)
    await call.send_dtmf("1")
    await holdfast.wait_activity("callback_key", request_id=request_id)
    await call.send_dtmf("2")
    await call.send_dtmf("30123456#")
    accepted = await holdfast.wait_activity("callback_accepted", request_id=request_id)
    assert accepted.data["number"] == "+4530123456" and accepted.data["entered_number"] is True
    await call.wait_hangup()
    holdfast.service.agent_action("1004", "ready")
    customer = await phonesim.wait_incoming("customer:+4530123456", timeout=20)
    await holdfast.wait_activity("connected", request_id=request_id)
    await customer.hangup()


async def test_invalid_entered_number_is_reprompted_once_then_refused(holdfast, phonesim):
    call, request_id = await arrive(holdfast, phonesim, CB, ANNA)
    await call.send_dtmf("1")
    await holdfast.wait_activity("callback_key", request_id=request_id)
    await call.send_dtmf("2")
    await call.send_dtmf("123#")
    await holdfast.wait_activity("callback_number_refused", request_id=request_id, reason="invalid")
    await call.send_dtmf("90123456#")  # premium rate: refused as well
    await holdfast.wait_activity("callback_number_refused", request_id=request_id, reason="premium_rate")
    assert not holdfast.activities.find("callback_accepted", request_id=request_id)
    assert holdfast.engine.position(request_id) == 1 and not call.hung_up
    await call.hangup()


async def test_abandon_after_waiting_long_enough_gets_an_automatic_callback(holdfast, phonesim):
    call, request_id = await arrive(holdfast, phonesim, CB, ANNA)
    request = holdfast.engine.requests[request_id]
    while request.gross_wait(holdfast.service.clock()) < 3.0:  # abandon_callback_after
        await asyncio.sleep(0.1)
    await call.hangup()
    accepted = await holdfast.wait_activity("callback_accepted", request_id=request_id)
    assert accepted.data["automatic"] is True and accepted.data["position"] == 1


async def test_callback_expires_after_max_age(holdfast, phonesim):
    anna = await take_callback(holdfast, phonesim, CBX, ANNA)
    ended = await holdfast.wait_activity("ended", request_id=anna, timeout=15)
    assert ended.data["outcome"] == "expired"
    accepted = holdfast.activities.find("callback_accepted", request_id=anna)[0]
    assert ended.at - accepted.at >= 5.0


async def test_admin_lists_and_removes_a_waiting_callback(holdfast, phonesim):
    anna = await take_callback(holdfast, phonesim, CB, ANNA)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{holdfast.http_url}/api/callbacks") as resp:
            listed = (await resp.json())["callbacks"]
        assert [(c["request_id"], c["number"], c["position"]) for c in listed] == [(anna, ANNA, 1)]
        body = {"by": "supervisor-eva", "reason": "customer called in again"}
        async with http.delete(f"{holdfast.http_url}/api/callbacks/{anna}", json=body) as resp:
            assert resp.status == 200
        async with http.delete(f"{holdfast.http_url}/api/callbacks/{anna}", json=body) as resp:
            assert resp.status == 404
    ended = await holdfast.wait_activity("ended", request_id=anna)
    assert (ended.data["outcome"], ended.data["by"]) == ("removed", "supervisor-eva")
    [entry] = await holdfast.store.admin_log(request_id=anna)
    assert (entry.who, entry.action, entry.detail["reason"]) == (
        "supervisor-eva",
        "remove_callback",
        "customer called in again",
    )


async def test_voicemail_counts_as_answered_and_hears_the_message(holdfast, phonesim):
    anna = await take_callback(holdfast, phonesim, CBAMD, ANNA)  # the phonesim answers with music
    holdfast.service.agent_action("1005", "ready")
    machine = await phonesim.wait_incoming(f"customer:{ANNA}", timeout=20)
    outcome = await holdfast.wait_activity("attempt_outcome", request_id=anna, timeout=20)
    assert outcome.data["outcome"] == "voicemail"
    ended = await holdfast.wait_activity("ended", request_id=anna)
    assert (ended.data["outcome"], ended.data["voicemail"]) == ("served", True)
    assert len(holdfast.activities.find("attempt_started", request_id=anna)) == 1
    await machine.wait_hangup(30)  # after the message was left
    assert any(uri.endswith("/voicemail_message") for uri in holdfast.service.prompts_played)
    assert holdfast.engine.agents["1005"].state == "ready"  # the agent was freed at once
    await holdfast.assert_nothing_left_behind()


async def test_agent_not_answering_a_callback_passes_it_on_without_counting_an_attempt(holdfast, phonesim):
    phonesim.set_behaviour("agent:1001", "ignore")
    anna = await take_callback(holdfast, phonesim, CB1, ANNA)  # one attempt only
    holdfast.service.agent_action("1001", "ready")  # idle longest: rung first, lets it ring out
    holdfast.service.agent_action("1002", "ready")
    await phonesim.wait_incoming("agent:1001")
    await phonesim.wait_incoming("agent:1002", timeout=15)
    customer = await phonesim.wait_incoming(f"customer:{ANNA}", timeout=20)
    started = await holdfast.wait_activity("attempt_started", request_id=anna)
    assert started.data["attempt"] == 1 and started.agent_id == "1002"
    await holdfast.wait_activity("connected", request_id=anna)
    assert holdfast.engine.agents["1001"].pause_reason == "not_responding"
    await customer.hangup()
    await holdfast.assert_nothing_left_behind()


async def test_a_caller_whose_web_callback_waits_keeps_one_callback_and_is_rung_once(holdfast, phonesim):
    """Before, pressing 1 made a second callback to the same number: two agents could ring the
    customer at once, or one after the other."""
    dora = "+4520555222"
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{holdfast.http_url}/api/callbacks", json={"queue": "cb", "number": dora})
        web = (await resp.json())["request_id"]
        assert resp.status == 201
    bo_call, bo = await arrive(holdfast, phonesim, CB, BO)  # between the two: behind the web callback
    dora_phone = await take_callback(holdfast, phonesim, CB, dora)  # the same person, on the phone
    merged = await holdfast.wait_activity("callback_merged", request_id=dora_phone)
    assert merged.data == {"merged": web, "place_taken": True}
    ended = await holdfast.wait_activity("ended", request_id=web)
    assert (ended.data["outcome"], ended.data["kept"]) == ("removed", dora_phone)
    assert holdfast.engine.callbacks_to("cb", dora) == {dora_phone}
    assert holdfast.engine.position(dora_phone) == 1 and holdfast.engine.position(bo) == 2  # the web form's place

    holdfast.service.agent_action("1001", "ready")
    customer = await phonesim.wait_incoming(f"customer:{dora}", timeout=20)
    await holdfast.wait_activity("connected", request_id=dora_phone)
    await customer.wait_audio_flowing()
    await customer.hangup()
    await holdfast.wait_activity("ended", request_id=dora_phone, outcome="served")
    await holdfast.wait_activity("connected", request_id=bo, timeout=20)  # the agent goes on to Bo
    await bo_call.hangup()
    await holdfast.wait_activity("ended", request_id=bo)
    assert holdfast.engine.requests == {}  # no second callback left to ring Dora
    assert phonesim._queue(f"customer:{dora}").empty()  # and she was rung once
    await holdfast.service.wait_committed()
    stored = await holdfast.store.load_request(web)
    assert stored is not None and stored.outcome == "removed"


async def test_a_caller_who_gets_through_ends_their_waiting_callback(holdfast, phonesim):
    """Eve asked for a callback on the web; its first call found her line busy. She phones in
    herself and talks to an agent: the callback ends, and nobody rings her again."""
    eve = "+4520555333"
    phonesim.set_behaviour(f"customer:{eve}", "busy")
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{holdfast.http_url}/api/callbacks", json={"queue": "cb", "number": eve})
        web = (await resp.json())["request_id"]
        assert resp.status == 201
    holdfast.service.agent_action("1001", "ready")
    await phonesim.wait_incoming("agent:1001", timeout=15)  # rung first for the callback
    busy = await phonesim.wait_incoming(f"customer:{eve}", timeout=20)
    await busy.wait_hangup()
    await holdfast.wait_activity("quarantine", request_id=web)
    holdfast.service.agent_action("1001", "pause")  # so she is on the line before the agent is free
    call, phoned = await arrive(holdfast, phonesim, CB, eve)
    assert holdfast.engine.requests[web].state in ("quarantine", "waiting")  # behind her either way
    holdfast.service.agent_action("1001", "ready")
    agent = await phonesim.wait_incoming("agent:1001", timeout=15)
    connected = await holdfast.wait_activity("connected", request_id=phoned)
    ended = await holdfast.wait_activity("ended", request_id=web)
    assert ended.at == connected.at
    assert ended.data == {"outcome": "removed", "by": "holdfast", "reason": "reached_by_phone", "served_by": phoned}
    await call.wait_audio_flowing()  # she hears the agent
    await agent.wait_audio_flowing()
    await call.hangup()
    await holdfast.wait_activity("ended", request_id=phoned, outcome="served")
    assert holdfast.engine.requests == {}
    assert phonesim._queue(f"customer:{eve}").empty()  # rung once, the busy attempt
    await holdfast.service.wait_committed()
    stored = await holdfast.store.load_request(web)
    assert stored is not None and stored.outcome == "removed"


async def test_a_callback_waits_for_its_callers_own_call_to_end(holdfast, phonesim):
    """An agent free while the caller still hears "we will call you back": their line is busy with
    us until the confirmation ends. Before, the agent was rung at once and the customer dialled on
    the line still up: busy, and with one attempt the callback ended missed seconds after it was
    promised. Now the agent is rung once the caller's call has ended, and the customer is reached."""
    call, anna = await arrive(holdfast, phonesim, CB1, ANNA)  # one attempt only
    await holdfast.wait_activity("offered", request_id=anna)
    await call.send_dtmf("1")
    await holdfast.wait_activity("callback_key", request_id=anna)
    await call.send_dtmf("1")
    await holdfast.wait_activity("callback_accepted", request_id=anna)
    holdfast.service.agent_action("1001", "ready")  # while the confirmation plays
    ready = await holdfast.wait_activity("agent_state", agent_id="1001", state="ready")
    await call.wait_hangup()
    line_ended = await holdfast.wait_activity("caller_line_ended", request_id=anna)
    assert ready.at < line_ended.at  # the agent was free while the caller was still on their line
    ringing = await holdfast.wait_activity("agent_ringing", request_id=anna)
    assert ringing.at >= line_ended.at
    agent = await phonesim.wait_incoming("agent:1001", timeout=15)
    customer = await phonesim.wait_incoming(f"customer:{ANNA}", timeout=20)
    await holdfast.wait_activity("connected", request_id=anna)
    await customer.wait_audio_flowing()
    await agent.wait_audio_flowing()
    await customer.hangup()
    await holdfast.wait_activity("ended", request_id=anna, outcome="served")
    await holdfast.assert_nothing_left_behind()
