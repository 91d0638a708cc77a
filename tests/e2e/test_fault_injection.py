"""Fault injection on real Asterisk: many callbacks, five agents, `kill -9` of the service at seeded
random moments. Whatever the moment, every callback is served exactly once, in order, nobody is
dialled twice for one attempt, the process never exits 0 by itself, and at the end every agent is
ready.

`make test` runs one seed of 30 callbacks; `make test-all` (marker `slow`) five seeds of 100.
Agents answer at once (wrap-up 0 s); customers answer at once, or a seeded quarter of them after
ringing 1.5 s, and hang up 0.5 s later. The agent's whisper (prompt + the number read out, ~9 s)
dominates the time: about 1.6 s per callback with five agents.

The order rule (app/core/dispatch.py, keep_place; app/core/ordering.py): callbacks of one queue
and one priority are dispatched in the order they were created; a request that goes back to its
place (agent leg lost, attempt interrupted) keeps it, a retry after quarantine goes to the end. So:
- the first dispatch (`agent_ringing`) of each request follows creation order exactly;
- with five agents in parallel, `connected` may overtake only a request that already had an agent
  (its dispatch came first; its whisper or dial was just slower): a later request connected while
  an earlier one still waited for an agent is a queue jump. Requests that were dispatched more than
  once (the documented exceptions above) are left out of the `connected` check.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence

import phonenumbers
import pytest
from conftest import ServiceProcess

pytestmark = pytest.mark.e2e

AGENTS = ["1001", "1002", "1003", "1004", "1005"]
PROGRESS = ("agent_ringing", "agent_answered", "attempt_started", "connected", "ended")
TALK = 0.5  # seconds a customer stays on the line once answered
SLOW_PICKUP = 1.5  # seconds some customers (a seeded quarter) let the phone ring: kills land while it rings
MAX_FATAL_STOPS = 3  # non-zero exits the supervisor (the test) restarts before calling it a crash loop


def customer_numbers(seed: int, n: int) -> list[str]:
    numbers = [f"+4526{seed % 100:02d}{i:04d}" for i in range(n)]  # Danish mobiles 26 xx xx xx
    for number in numbers:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
    return numbers


async def run_with_kills(service: ServiceProcess, phonesim, seed: int, n: int, kills: int) -> dict:
    rng = random.Random(seed)
    started_at = time.monotonic()
    phonesim.set_behaviour("customer:*", ("talk", TALK))
    numbers = customer_numbers(seed, n)
    for number in numbers:
        if rng.random() < 0.25:
            phonesim.set_behaviour(f"customer:{number}", ("talk", TALK, SLOW_PICKUP))
    ids: list[str] = []
    for number in numbers:
        status, body = await service.api("POST", "/api/callbacks", json={"queue": "cbf", "number": number})
        assert status == 201, body
        ids.append(body["request_id"])
    # Kill points: after a random amount of progress (about 5 steps per callback), plus a random
    # delay so kills land in every phase (agent ringing, whisper, dialling, talking, wrap-up).
    plan = sorted(rng.sample(range(5 * n), kills))
    delays = [rng.uniform(0.0, 1.5) for _ in plan]
    for agent_id in AGENTS:
        status, body = await service.api("POST", f"/api/agents/{agent_id}/ready")
        assert status == 200, body

    fatal_stops: list[int] = []
    deadline = time.monotonic() + 120 + 6.0 * n
    wanted = set(ids)
    while True:
        events = await service.store_events.refresh()
        ended = {e.request_id for e in events if e.kind == "ended" and e.request_id in wanted}
        if ended == wanted:
            break
        if await killed_as_planned(service, sum(1 for e in events if e.kind in PROGRESS), plan, delays):
            continue
        if await restarted_after_fatal_stop(service, fatal_stops, f"seed {seed}"):
            continue
        assert time.monotonic() < deadline, (
            f"seed {seed}: {len(wanted - ended)} of {n} callbacks not ended in time, e.g."
            f" {sorted(wanted - ended, key=ids.index)[:5]}\n{service.diagnose_sync()}"
        )
        await asyncio.sleep(0.2)
    return {"ids": ids, "numbers": numbers, "fatal_stops": fatal_stops, "seconds": time.monotonic() - started_at}


async def killed_as_planned(service: ServiceProcess, progress: int, plan: list[int], delays: list[float]) -> bool:
    """Whether the next planned kill was due (`progress` reached its point): then the service was
    killed after its delay (a random moment, not an assertion) and started again."""
    if not plan or progress < plan[0]:
        return False
    plan.pop(0)
    await asyncio.sleep(delays.pop(0))
    service.kill9()
    await service.start()
    return True


async def restarted_after_fatal_stop(service: ServiceProcess, fatal_stops: list[int], what: str) -> bool:
    """Whether the service had stopped by itself: then it must have been a fatal stop (non-zero
    exit), and not one too many (a crash loop); it is started again, as a supervisor would."""
    code = service.exited_by_itself()
    if code is None:
        return False
    assert code != 0, f"{what}: the service stopped by itself with exit code 0\n{service.diagnose_sync()}"
    fatal_stops.append(code)
    assert len(fatal_stops) <= MAX_FATAL_STOPS, (
        f"{what}: crash loop, exit codes {fatal_stops}\n{service.diagnose_sync()}"
    )
    await service.start()
    return True


async def check_run(service: ServiceProcess, phonesim, seed: int, run: dict) -> None:
    ids, numbers = run["ids"], run["numbers"]
    events = await service.store_events.refresh()
    diag = f"seed {seed}\n{service.diagnose_sync()}"
    rank = {rid: i for i, rid in enumerate(ids)}
    mine = [e for e in events if e.request_id in rank]

    # served, exactly once
    ended = Counter((e.request_id, e.data.get("outcome")) for e in mine if e.kind == "ended")
    not_served = [(rid, out) for (rid, out) in ended if out != "served"]
    assert not not_served, f"not served: {not_served[:5]}\n{diag}"
    assert all(ended[(rid, "served")] == 1 for rid in ids), f"ended counts {ended.most_common(3)}\n{diag}"
    connected = [e for e in mine if e.kind == "connected"]
    assert Counter(e.request_id for e in connected) == Counter(ids), diag

    # nobody dialled twice for one attempt; the phones rang at most once per attempt
    attempts = Counter((e.request_id, e.data["attempt"]) for e in mine if e.kind == "attempt_started")
    twice = [k for k, c in attempts.items() if c > 1]
    assert not twice, f"attempt numbers used twice: {twice[:5]}\n{diag}"
    rang = Counter(c.dest for c in phonesim.calls.values() if c.direction == "incoming" and c.kind == "customer")
    per_request = Counter(rid for rid, _ in attempts)
    for rid, number in zip(ids, numbers, strict=True):
        assert 1 <= rang[number] <= per_request[rid], (
            f"{number} ({rid}) rang {rang[number]} times for {per_request[rid]} attempts\n{diag}"
        )

    # order: first dispatches follow creation order exactly
    first_dispatch: dict[str, int] = {}
    dispatches: Counter[str] = Counter()
    for i, e in enumerate(mine):
        if e.kind == "agent_ringing":
            dispatches[e.request_id] += 1
            first_dispatch.setdefault(e.request_id, i)
    dispatched_order = sorted(first_dispatch, key=first_dispatch.__getitem__)
    if dispatched_order != ids:
        at = next(i for i, (a, b) in enumerate(zip(dispatched_order, ids, strict=True)) if a != b)
        raise AssertionError(
            f"first dispatches out of creation order from #{at}:"
            f" {[rank[r] for r in dispatched_order[at : at + 8]]}\n{diag}"
        )
    # connected: a later request may overtake an earlier one only if that one already had an agent
    connected_at = {e.request_id: i for i, e in enumerate(mine) if e.kind == "connected"}
    plain = [rid for rid in ids if dispatches[rid] == 1]
    by_connect = sorted(plain, key=connected_at.__getitem__)
    for later_pos, later in enumerate(by_connect):
        for earlier in by_connect[later_pos + 1 :]:
            if rank[earlier] < rank[later]:  # `later` connected before `earlier`, created after it
                assert first_dispatch[earlier] < connected_at[later], (
                    f"{later} (#{rank[later]}) connected while {earlier} (#{rank[earlier]}) still waited\n{diag}"
                )

    await wait_all_ready(service, AGENTS, diag)  # wrap-up is 0 s here
    assert 0 not in service.unexpected_exits, diag
    assert service.running, diag


async def wait_all_ready(service: ServiceProcess, agents: Sequence[str], diag: str, timeout: float = 15.0) -> None:
    """At the end of a run every agent is ready again (polled: their wrap-up may still run)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await service.api("GET", "/api/agents")
        states = {a["id"]: a["state"] for a in body["agents"]} if status == 200 else {}
        if all(states.get(a) == "ready" for a in agents):
            return
        assert time.monotonic() < deadline, f"agents not all ready at the end: {states}\n{diag}"
        await asyncio.sleep(0.2)


async def fault_run(service: ServiceProcess, phonesim, seed: int, n: int, kills: int) -> None:
    run = await run_with_kills(service, phonesim, seed, n, kills)
    await check_run(service, phonesim, seed, run)
    print(
        f"\n[fault-injection] seed {seed}: {n} callbacks, {service.kills} kill -9,"
        f" fatal stops {run['fatal_stops']}, {run['seconds']:.0f} s"
    )


async def test_kill9_at_random_moments_serves_every_callback_once_in_order(service_process, phonesim):
    await fault_run(service_process, phonesim, seed=1, n=30, kills=3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
async def test_kill9_at_random_moments_100_callbacks(service_process, phonesim, seed):
    await fault_run(service_process, phonesim, seed=seed, n=100, kills=6)
