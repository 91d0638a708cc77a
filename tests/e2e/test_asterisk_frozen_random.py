"""The SUT's Asterisk frozen (SIGSTOP) at seeded random moments while callbacks and callers flow:
the targeted stalls of test_asterisk_frozen.py, thrown at every phase of a busy queue instead.

Five agents serve a stream of callbacks (queue cb1: one attempt, 3 s quarantine) and callers on
the line (support). Asterisk is frozen at random points of the run's progress (after a
random delay, so stalls land in every phase: agent ringing, whisper, dialling, talking), each
time for one of four lengths: under the ARI request timeout, past it, past the engine's guard on a
customer's dial, past the heartbeat's verdict (the websocket is dropped, the service resyncs).
Customers always answer, agents always answer, so whatever the stalls:
- every callback and every caller is served exactly once (nothing missed, dropped or expired),
  every dial of a callback is answered or interrupted: none counted against the customer;
- no attempt number is used twice and no customer's phone rings more often than their dials;
- no agent is rung while holding another request, no request is connected twice;
- at the end every agent is ready (no pause left behind for a ring Asterisk never confirmed),
  nothing is left in Asterisk, and the service never stopped.

Callers dial only while Asterisk runs and a freeze waits for their INVITE to be answered: SIP gives
up an unanswered INVITE after 32 s, which would lose the caller to the test, not to the service.
`make test-all` only (marker `slow`): about 2 minutes a seed, 14 minutes for the seven.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter

import pytest
from phonesim import PhoneSim
from test_asterisk_frozen import SUPPORT, assert_no_agent_booked_twice, assert_service_stayed_up, book_callback

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AGENTS = ["1001", "1002", "1003", "1004", "1005"]
PROGRESS = ("agent_ringing", "agent_answered", "attempt_started", "connected", "ended")
TALK = 1.0  # seconds a customer or caller stays on the line once connected
SLOW_PICKUP = 2.0  # seconds a seeded third of the customers let their phone ring
# Under the ARI request timeout (10 s); past it; past cb1's guard on a dial (5 s + 10 s); past the
# heartbeat's verdict (~32 s without an answered ping): the websocket is dropped and resynced.
FREEZES = (3.0, 12.0, 20.0, 36.0)


class Stalls:
    """SIGSTOP/SIGCONT of the SUT, never while a caller's INVITE waits for its answer."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.running = asyncio.Event()
        self.running.set()
        self.dialling = 0
        self.done: list[tuple[float, float]] = []  # epoch (start, end) of each stall

    async def freeze(self, seconds: float) -> None:
        while self.dialling:
            await asyncio.sleep(0.05)
        self.running.clear()
        os.kill(self.pid, signal.SIGSTOP)
        start = time.time()
        try:
            await asyncio.sleep(seconds)  # the stall itself, not an assertion
        finally:
            os.kill(self.pid, signal.SIGCONT)
            self.running.set()
        self.done.append((start, time.time()))


async def caller_journey(holdfast, phonesim: PhoneSim, stalls: Stalls, number: str, at: float) -> str:
    await asyncio.sleep(at)  # the caller's arrival time in the scenario
    await stalls.running.wait()
    stalls.dialling += 1
    try:
        call = await phonesim.call(SUPPORT, number)
        await call.wait_answered(timeout=20)
    finally:
        stalls.dialling -= 1
    request_id = (await holdfast.activities.wait("arrived", caller=number, timeout=150)).request_id
    await holdfast.activities.wait("connected", request_id=request_id, timeout=240)
    await asyncio.sleep(TALK)  # the conversation
    await call.hangup()
    return str(request_id)


async def run(holdfast, phonesim: PhoneSim, sut, seed: int, callbacks: int, callers: int, freezes: int) -> None:
    rng = random.Random(seed)
    stalls = Stalls(sut.pid)
    phonesim.set_behaviour("customer:*", ("talk", TALK))
    numbers = [f"+4527{seed % 100:02d}{i:04d}" for i in range(callbacks)]
    for number in numbers:
        if rng.random() < 1 / 3:
            phonesim.set_behaviour(f"customer:{number}", ("talk", TALK, SLOW_PICKUP))
    ids = [await book_callback(holdfast, "cb1", number) for number in numbers]
    caller_numbers = [f"+4528{seed % 100:02d}{i:04d}" for i in range(callers)]
    journeys = [
        asyncio.create_task(caller_journey(holdfast, phonesim, stalls, n, rng.uniform(0, 40))) for n in caller_numbers
    ]
    plan = sorted(rng.sample(range(4 * callbacks), freezes))
    lengths = [rng.choice(FREEZES) for _ in plan]
    delays = [rng.uniform(0, 1.5) for _ in plan]
    for agent in AGENTS:
        holdfast.service.agent_action(agent, "ready")

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 180 + 6 * (callbacks + callers) + sum(lengths)
    wanted = set(ids)
    try:
        while True:
            ended = {a.request_id for a in holdfast.activities.find("ended") if a.request_id in wanted}
            if ended == wanted and all(j.done() for j in journeys):
                break
            for j in journeys:
                if j.done() and j.exception() is not None:
                    raise j.exception()  # type: ignore[misc]
            progress = sum(1 for a in holdfast.activities.items if a.kind in PROGRESS)
            if plan and progress >= plan[0]:
                plan.pop(0)
                await asyncio.sleep(delays.pop(0))  # to a random moment, not an assertion
                await stalls.freeze(lengths.pop(0))
                continue
            assert loop.time() < deadline, (
                f"seed {seed}: not ended in time: {sorted(wanted - ended, key=ids.index)[:5]}, callers"
                f" {[n for n, j in zip(caller_numbers, journeys, strict=True) if not j.done()]}"
            )
            assert_service_stayed_up(holdfast)
            await asyncio.sleep(0.2)
    finally:
        for j in journeys:
            j.cancel()
    caller_ids = [j.result() for j in journeys]
    lengths_done = [round(b - a, 1) for a, b in stalls.done]
    print(f"\n[frozen-random] seed {seed}: {callbacks} callbacks, {callers} callers, stalls {lengths_done} s")

    # everyone served, exactly once
    ended_as = Counter((a.request_id, a.data.get("outcome")) for a in holdfast.activities.find("ended"))
    for rid in ids + caller_ids:
        outcomes = {out: n for (r, out), n in ended_as.items() if r == rid}
        assert outcomes == {"served": 1}, f"seed {seed}: {rid} ended {outcomes}"
    outcomes = Counter(a.data["outcome"] for a in holdfast.activities.find("attempt_outcome") if a.request_id in ids)
    assert set(outcomes) <= {"answered", "interrupted"}, f"seed {seed}: dials counted against customers {outcomes}"
    # no attempt twice; a customer's phone rang at most once per dial
    attempts = Counter((a.request_id, a.data["attempt"]) for a in holdfast.activities.find("attempt_started"))
    assert not [k for k, n in attempts.items() if n > 1], f"seed {seed}: attempts started twice {attempts}"
    dials = Counter(rid for rid, _ in attempts)
    rang = Counter(c.dest for c in phonesim.calls.values() if c.direction == "incoming" and c.kind == "customer")
    for rid, number in zip(ids, numbers, strict=True):
        assert 1 <= rang[number] <= dials[rid], f"seed {seed}: {number} rang {rang[number]}x for {dials[rid]} dials"
    assert_no_agent_booked_twice(phonesim, holdfast, stalls.done)
    await assert_settled(holdfast, AGENTS, seed)


async def assert_settled(holdfast, agents: list[str], seed: int) -> None:
    """After the stalls: every agent ready again (no pause left behind for a ring Asterisk never
    confirmed), nothing left in the service or in Asterisk, and the service never stopped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not all(holdfast.engine.agents[a].state == "ready" for a in agents):
        states = {a: (holdfast.engine.agents[a].state, holdfast.engine.agents[a].pause_reason) for a in agents}
        assert loop.time() < deadline, f"seed {seed}: agents not all ready at the end: {states}"
        await asyncio.sleep(0.2)
    await holdfast.assert_nothing_left_behind()
    assert_service_stayed_up(holdfast)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7])
async def test_asterisk_frozen_at_random_moments_loses_no_one(holdfast, phonesim, sut_asterisk, seed):
    await run(holdfast, phonesim, sut_asterisk, seed, callbacks=16, callers=6, freezes=4)
