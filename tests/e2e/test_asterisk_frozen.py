"""The SUT's Asterisk frozen (SIGSTOP) for longer than the ARI request timeout, then resumed
(SIGCONT): what an overloaded or swapping Asterisk does.

During the stall every REST request times out (ambiguous: Asterisk may carry it out once it
resumes), the events websocket is quiet (and dropped by its heartbeat if the stall outlasts
it), reconnects fail. After SIGCONT Asterisk carries out the queued requests, sends a burst of
events, and the service resyncs if its websocket was dropped. Nothing promised may be lost:
connected calls stay connected with audio, waiting callers hear music and are served in order,
a stored callback is made, no agent is booked twice, nothing is left behind.

What a stall does to the engine's timers is the engine's rule, kept here: an agent rung while
Asterisk is frozen cannot answer within `ring_timeout` (even one who picks up: their answer
waits in the frozen Asterisk), but the ring Asterisk never answered is no refusal: the agent is
not paused for it (or the pause is taken back as soon as the originate's answer is known to be
lost: `agent_ring_unconfirmed`; or when Asterisk takes the answer: `agent_answered_late`); a
callback customer who picks up during the stall, when the stall outlasts the engine's guard on the
dial, is hung up and dialled again after the quarantine: that dial is interrupted, not counted, so
a one-attempt callback is kept, not missed.

Found here and fixed (executor.py, `_settled_late`): a command sent as Asterisk stalled (a
caller joining the holding bridge, caller and agent being bridged) timed out and the leg was
dropped as if refused, so the caller was hung up after the stall though Asterisk had carried
the command out (test_caller_arriving_and_caller_bridged_as_asterisk_stalls_are_kept).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from itertools import combinations

import aiohttp
import pytest
from phonesim import PhoneSim, SimCall

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
FREEZE = 15.0  # seconds: past the ARI request timeout (10 s), short of the heartbeat's verdict
# Past it: a ping at most 20 s (heartbeat) after the last event, unanswered 10 s on, drops the
# websocket whatever came before the stall; the service reconnects and resyncs after SIGCONT.
HEARTBEAT_VERDICT = 32.0
# Activities that free the agent from the request they were rung for.
RELEASED = ("agent_no_answer", "agent_left_callback", "agent_gave_back")
# cb1's customer_ring_timeout (5 s) plus the engine's CUSTOMER_TIMEOUT_MARGIN (10 s), from the
# dial, and room for it to fire; short of the heartbeat's verdict (the last event was the dial's)
PAST_GUARD = 18.0
CLOSING_PROMPT = 8.0  # seconds: the longest prompt an agent hears before their leg is hung up


@asynccontextmanager
async def frozen(sut) -> AsyncIterator[None]:
    """The SUT's Asterisk stopped for the block's duration; resumed whatever happens inside."""
    assert sut.pid is not None and sut.running
    os.kill(sut.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(sut.pid, signal.SIGCONT)


async def stall(seconds: float) -> None:
    await asyncio.sleep(seconds)  # the scenario's stall itself, not an assertion


async def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not {what} within {timeout}s")
        await asyncio.sleep(0.1)


def _stamp(event: dict) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("+0000", "+00:00")).timestamp()


def agent_call_spans(phonesim: PhoneSim) -> dict[str, list[tuple[float, float, str]]]:
    """Per agent, the SUT's calls to their phone as (start, end, channel), on the simulator's clock."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for call in phonesim.calls.values():
        if call.direction != "incoming" or call.kind != "agent":
            continue
        start = _stamp(call.events[0])
        ends = [_stamp(e) for e in call.events if e["type"] in ("StasisEnd", "ChannelDestroyed")]
        spans.setdefault(call.dest, []).append((start, min(ends) if ends else float("inf"), call.id))
    return spans


def assert_no_agent_booked_twice(phonesim: PhoneSim, holdfast, stalls: Sequence[tuple[float, float]] = ()) -> None:
    """The engine never rang an agent for a request while they still held another; an agent's phone
    carried a second call only while the first played its closing prompt (an agent is released at
    once when the customer cannot be reached; the prompt telling them so ends their leg), and
    while Asterisk was frozen (`stalls`: epoch (start, end); a stalled prompt ends late); no
    request was connected twice."""
    holding: dict[str, str] = {}
    for activity in holdfast.activities.items:
        agent = activity.agent_id
        if activity.kind == "agent_ringing" and agent is not None:
            assert agent not in holding, f"agent {agent} rung for {activity.request_id} while holding {holding[agent]}"
            holding[agent] = str(activity.request_id)
        elif agent is not None and (activity.kind in RELEASED or activity.kind == "agent_state"):
            holding.pop(agent, None)  # (agent_state is logged for every state but ringing and busy)
    for agent, spans in agent_call_spans(phonesim).items():
        # Two calls reaching the phone in the same instant (originates a frozen Asterisk carries
        # out together) overlap only as long as the one that ends first; the other may be the
        # connected call, whose end is still on its way to the phone (no end yet: inf).
        for (start, end, first), (other_start, other_end, second) in combinations(sorted(spans), 2):
            since, until = max(start, other_start), min(end, other_end)
            frozen_meanwhile = sum(max(0.0, min(until, b) - max(since, a)) for a, b in stalls)
            overlap = until - since - frozen_meanwhile
            assert overlap < CLOSING_PROMPT, f"agent {agent} on two calls at once: {first} and {second}"
    connected = Counter(a.request_id for a in holdfast.activities.find("connected"))
    twice = [rid for rid, n in connected.items() if n > 1]
    assert not twice, f"requests connected more than once: {twice}"


def assert_service_stayed_up(holdfast) -> None:
    service = holdfast.service
    assert not service.fatal.is_set(), f"the service stopped: {service.fatal_reason}"
    assert service.healthy


async def arrive(holdfast, phonesim: PhoneSim, number: str, caller: str) -> tuple[SimCall, str]:
    call = await phonesim.call(number, caller)
    arrived = await holdfast.activities.wait("arrived", caller=caller)
    await call.wait_answered()
    return call, arrived.request_id


async def book_callback(holdfast, queue: str, number: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{holdfast.http_url}/api/callbacks", json={"queue": queue, "number": number}) as resp,
    ):
        body = await resp.json()
        assert resp.status == 201, body
        return str(body["request_id"])


@pytest.mark.parametrize(
    "freeze",
    [FREEZE, pytest.param(HEARTBEAT_VERDICT, marks=pytest.mark.slow, id="past-heartbeat")],
)
async def test_frozen_asterisk_keeps_the_connected_call_the_queue_and_the_callback(
    holdfast, phonesim, sut_asterisk, freeze: float
):
    service = holdfast.service
    ari = service.ari
    # Callers talking with agents 1001 and 1003 (the second one hangs up during the stall).
    service.agent_action("1001", "ready")
    talking, talking_id = await arrive(holdfast, phonesim, SUPPORT, "+4520300001")
    agent_1001 = await phonesim.wait_incoming("agent:1001")
    await holdfast.wait_activity("connected", request_id=talking_id)
    service.agent_action("1003", "ready")
    leaving, leaving_id = await arrive(holdfast, phonesim, SUPPORT, "+4520300006")
    agent_1003 = await phonesim.wait_incoming("agent:1003")
    await holdfast.wait_activity("connected", request_id=leaving_id)
    await talking.wait_audio_flowing()
    # Agent 1002 being rung for the next caller; they pick up while Asterisk is frozen.
    phonesim.set_behaviour("agent:1002", "manual")
    service.agent_action("1002", "ready")
    rung, rung_id = await arrive(holdfast, phonesim, SUPPORT, "+4520300002")
    agent_1002 = await phonesim.wait_incoming("agent:1002")
    # Two callers waiting with music, then a callback booked after them.
    first, first_id = await arrive(holdfast, phonesim, SUPPORT, "+4520300003")
    second, second_id = await arrive(holdfast, phonesim, SUPPORT, "+4520300004")
    await first.wait_audio_received()
    await second.wait_audio_received()
    callback_number = "+4520300005"
    callback_id = await book_callback(holdfast, "cb", callback_number)

    resyncs = service.resyncs
    async with frozen(sut_asterisk):
        await stall(2)
        await agent_1002.answer()  # the 200 OK waits in the frozen Asterisk's socket
        await leaving.hangup()  # so does this BYE
        await stall(freeze - 12)
        # Dials in 10 s before the end: SIP gives up an unanswered INVITE after 32 s.
        late_caller = await phonesim.call(SUPPORT, "+4520300007")
        await stall(10)
    resumed = asyncio.get_running_loop().time()
    phonesim.set_behaviour("agent:1002", "answer")

    # The talking call is still up, with audio both ways again.
    await talking.wait_audio_flowing(timeout=20)
    await agent_1001.wait_audio_flowing(timeout=20)
    audio_back = asyncio.get_running_loop().time() - resumed
    assert holdfast.engine.requests[talking_id].state == "connected"
    # The waiting callers hear music again.
    await first.wait_audio_received(timeout=20)
    await second.wait_audio_received(timeout=20)
    # The caller who hung up during the stall: served, their agent's line closed.
    await holdfast.wait_activity("ended", request_id=leaving_id, outcome="served", timeout=20)
    await agent_1003.wait_hangup(timeout=20)
    # The caller who dialled in during the stall is taken in after the others.
    late_id = (await holdfast.wait_activity("arrived", caller="+4520300007", timeout=20)).request_id
    await late_caller.wait_audio_received(timeout=20)
    # The rung agent: either bridged to the caller, or hung up and the caller back in the queue.
    await wait_until(
        lambda: holdfast.activities.find("connected", request_id=rung_id) or agent_1002.hung_up,
        30,
        "the rung agent's call settled",
    )
    if freeze == HEARTBEAT_VERDICT:  # the websocket was dropped: reconnected and resynced
        await wait_until(lambda: ari.metrics()["reconnects"] >= 1 and service.resyncs > resyncs, 30, "resynced")
    print(
        f"\n[frozen {freeze:.0f} s] audio back {audio_back:.2f} s after SIGCONT; reconnects"
        f" {ari.metrics()['reconnects']}; rung caller {holdfast.engine.requests[rung_id].state},"
        f" agent 1002 {holdfast.engine.agents['1002'].state}"
    )

    # Served in order once agents are free: the talking call ends, more agents come.
    await talking.hangup()
    await holdfast.wait_activity("ended", request_id=talking_id, outcome="served")
    for agent_id in ("1002", "1004", "1005"):
        if holdfast.engine.agents[agent_id].state in ("paused", "logged_off"):
            service.agent_action(agent_id, "ready")
    served = (rung_id, first_id, second_id, late_id, callback_id)
    for request_id in served:
        await holdfast.wait_activity("connected", request_id=request_id, timeout=40)
    dispatched = [a.request_id for a in holdfast.activities.find("agent_ringing")]
    order = [dispatched.index(r) for r in (rung_id, first_id, second_id, late_id)]
    assert order == sorted(order), f"support callers dispatched out of order: {dispatched}"
    callback_call = next(c for c in phonesim.calls.values() if c.address == f"customer:{callback_number}")
    await callback_call.wait_audio_flowing()
    for call in (rung, first, second, late_caller, callback_call):
        await call.hangup()
    for request_id in served:
        await holdfast.wait_activity("ended", request_id=request_id, outcome="served")

    assert_no_agent_booked_twice(phonesim, holdfast)
    await holdfast.assert_nothing_left_behind()
    assert_service_stayed_up(holdfast)


async def test_agent_made_ready_while_frozen_is_rung_once_asterisk_resumes_and_never_for_nobody(
    holdfast, phonesim, sut_asterisk
):
    """The service originates while Asterisk is frozen (an agent made ready, a caller waiting): the
    originate Asterisk carries out late is used or hung up, and the caller is served once."""
    service = holdfast.service
    waiting, waiting_id = await arrive(holdfast, phonesim, SUPPORT, "+4520300011")
    await waiting.wait_audio_received()

    async with frozen(sut_asterisk):
        await stall(1)
        service.agent_action("1001", "ready")  # dispatched at once: its originate meets the frozen Asterisk
        await holdfast.wait_activity("agent_ringing", request_id=waiting_id, agent_id="1001")
        await stall(FREEZE - 1)

    await waiting.wait_audio_received(timeout=20)  # back on hold, with music, or talking to the agent
    # Whatever the frozen Asterisk made of the originate, the agent's phone is not left ringing (or
    # answered) for nobody: each call to it is the caller's or ends.
    late = await phonesim.wait_incoming("agent:1001", timeout=20)
    await wait_until(
        lambda: late.hung_up or holdfast.activities.find("connected", request_id=waiting_id),
        20,
        "the late originate hung up or used",
    )
    # The ring Asterisk never answered (its originate's answer lost 10 s into the freeze, after the
    # ring ran out at 6 s and paused the agent) was no refusal: the pause was taken back then.
    unconfirmed = await holdfast.wait_activity("agent_ring_unconfirmed", agent_id="1001")
    back = [
        a
        for a in holdfast.activities.find("agent_state", agent_id="1001", state="ready", previous="paused")
        if a.at == unconfirmed.at
    ]
    assert back, "the not_responding pause of the unconfirmed ring was not taken back"
    # The ring after it is a real one once Asterisk resumes: let ring out (the SUT busy with the
    # resumed burst), it may count; the agent is made ready again for the caller then.
    if holdfast.engine.agents["1001"].state in ("paused", "logged_off"):
        service.agent_action("1001", "ready")
    connected = await holdfast.wait_activity("connected", request_id=waiting_id, timeout=30)

    # The late originate may itself be answered and its agent rung again for the caller at once
    # (agent_answered_late), so its dying call and the connected one reach the phone in either
    # order: the connected one is the call to that agent left up once the other is hung up.
    def calls_to_agent() -> list[SimCall]:
        return [c for c in phonesim.calls.values() if c.address == f"agent:{connected.agent_id}"]

    await wait_until(lambda: sum(not c.hung_up for c in calls_to_agent()) == 1, 20, "one call up to the agent")
    agent = next(c for c in calls_to_agent() if not c.hung_up)
    await agent.wait_audio_flowing()
    await waiting.wait_audio_flowing()
    await waiting.hangup()
    await holdfast.wait_activity("ended", request_id=waiting_id, outcome="served")

    assert_no_agent_booked_twice(phonesim, holdfast)
    for calls in agent_call_spans(phonesim).values():
        for start, end, channel in calls:
            if channel != agent.id:
                assert end - start < 10, f"agent call {channel} up {end - start:.1f} s for nobody"
    await holdfast.assert_nothing_left_behind()
    assert_service_stayed_up(holdfast)


@pytest.mark.slow  # ~45 s: two whispers (~9 s each) around the stall
async def test_callback_customer_answering_while_frozen_past_the_guard_keeps_the_callback(
    holdfast, phonesim, sut_asterisk
):
    """The customer of a one-attempt callback (queue cb1) picks up while Asterisk is frozen, and
    the freeze outlasts the engine's guard on the dial (the originate's timeout plus
    CUSTOMER_TIMEOUT_MARGIN): Asterisk never said how the dial ended, so the engine ends it as
    interrupted, not as a no answer. The callback is not `missed`: it is dialled again after its
    quarantine and served once, with audio; no customer call is left up for nobody and the agent
    is never on two calls."""
    service = holdfast.service
    number = "+4520300021"
    phonesim.set_behaviour(f"customer:{number}", "manual")
    callback_id = await book_callback(holdfast, "cb1", number)
    service.agent_action("1001", "ready")
    customer = await phonesim.wait_incoming(f"customer:{number}", timeout=30)  # after the agent's whisper

    async with frozen(sut_asterisk):
        await stall(2)
        await customer.answer()  # the 200 OK waits in the frozen Asterisk's socket
        guard = await holdfast.wait_activity("attempt_outcome", request_id=callback_id, timeout=PAST_GUARD)
    phonesim.set_behaviour(f"customer:{number}", "answer")
    assert (guard.data["attempt"], guard.data["outcome"]) == (1, "interrupted")

    await wait_until(lambda: customer.hung_up, 20, "the customer's first call hung up")
    if holdfast.engine.agents["1001"].state == "paused":
        service.agent_action("1001", "ready")
    await holdfast.wait_activity("connected", request_id=callback_id, timeout=40)
    talking = next(c for c in reversed(phonesim.calls.values()) if c.address == f"customer:{number}")
    assert talking is not customer
    await talking.wait_audio_flowing()
    await talking.hangup()
    await holdfast.wait_activity("ended", request_id=callback_id, outcome="served")

    assert not holdfast.activities.find("ended", request_id=callback_id, outcome="missed")
    outcomes = [
        (a.data["attempt"], a.data["outcome"])
        for a in holdfast.activities.find("attempt_outcome", request_id=callback_id)
    ]
    assert outcomes == [(1, "interrupted"), (2, "answered")]
    requeued = holdfast.activities.find("requeued", request_id=callback_id)
    assert [a.data["place_kept"] for a in requeued] == [True]  # not sent to the back for our stall
    assert_no_agent_booked_twice(phonesim, holdfast)
    customer_calls = [c for c in phonesim.calls.values() if c.address == f"customer:{number}"]
    assert len(customer_calls) == 2 and all(c.hung_up for c in customer_calls)
    await holdfast.assert_nothing_left_behind()
    assert_service_stayed_up(holdfast)


def freeze_at(holdfast, sut, kind: str, **match: object) -> asyncio.Event:
    """SIGSTOP the SUT the instant the engine logs activity `kind` (matching `match`), before the
    shell sends the commands of that step: they all meet the frozen Asterisk. Set once frozen."""
    done = asyncio.Event()

    def listener(activity) -> None:
        fits = all((getattr(activity, k, None) or activity.data.get(k)) == v for k, v in match.items())
        if activity.kind == kind and fits and not done.is_set():
            os.kill(sut.pid, signal.SIGSTOP)
            done.set()

    holdfast.service.activity_listeners.append(listener)
    return done


async def test_caller_arriving_and_caller_bridged_as_asterisk_stalls_are_kept(holdfast, phonesim, sut_asterisk):
    """The commands of a step Asterisk stalls under (joining the holding bridge, bridging caller and
    agent) time out: ambiguous, Asterisk carries them out when it resumes. The caller is kept."""
    service = holdfast.service
    stalled = freeze_at(holdfast, sut_asterisk, "arrived", caller="+4520300031")
    try:
        caller = await phonesim.call(SUPPORT, "+4520300031")
        await asyncio.wait_for(stalled.wait(), 10)
        await stall(FREEZE)
    finally:
        os.kill(sut_asterisk.pid, signal.SIGCONT)
    caller_id = holdfast.activities.find("arrived", caller="+4520300031")[0].request_id
    await caller.wait_audio_received(timeout=20)  # music on hold
    assert holdfast.engine.requests[caller_id].state == "waiting"

    stalled = freeze_at(holdfast, sut_asterisk, "connected", request_id=caller_id)
    try:
        service.agent_action("1001", "ready")
        await asyncio.wait_for(stalled.wait(), 10)
        await stall(FREEZE)
    finally:
        os.kill(sut_asterisk.pid, signal.SIGCONT)
    agent = await phonesim.wait_incoming("agent:1001")
    await caller.wait_audio_flowing(timeout=20)
    await agent.wait_audio_flowing(timeout=20)
    assert holdfast.engine.requests[caller_id].state == "connected"
    await caller.hangup()
    await holdfast.wait_activity("ended", request_id=caller_id, outcome="served")
    await holdfast.assert_nothing_left_behind()
    assert_service_stayed_up(holdfast)
