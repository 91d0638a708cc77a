"""The simulator drives the real engine: reproducible, conserving, and agreeing with queueing theory."""

from __future__ import annotations

import heapq
import math

import pytest

from app.core.states import RequestState
from app.sim.report import render, summarize
from app.sim.scenario import Dist, Scenario
from app.sim.simulator import QUEUE, Simulator, simulate


def small(**changes: object) -> Scenario:
    base = Scenario(
        name="t",
        seed=3,
        agents=5,
        calls_per_hour=5 * 3600 / 240 * 1.1,
        horizon=4 * 3600.0,
        handle_time=Dist("exponential", 240.0),
        patience=Dist("exponential", 180.0),
    )
    return base.with_(**changes)


def erlang_c(servers: int, load: float) -> float:
    """Probability an arriving caller waits in M/M/s with offered load `load` erlangs."""
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= load / k
        total += term
    term *= load / servers
    last = term * servers / (servers - load)
    return last / (total + last)


def test_same_seed_same_report_and_another_seed_differs() -> None:
    sc = small(wrap_up=10.0, agent_answer_delay=2.0, agent_no_answer=0.02, handle_time=Dist("lognormal", 200, 1.3))
    first, second = simulate(sc), simulate(sc)
    assert render(first) == render(second)
    assert [(c.arrival, c.potential_wait, c.outcome) for c in first.callers] == [
        (c.arrival, c.potential_wait, c.outcome) for c in second.callers
    ]
    assert render(simulate(sc.with_(seed=4))) != render(first)


def test_every_arrival_is_served_abandoned_or_still_waiting() -> None:
    sim = Simulator(small(drain=False, calls_per_hour=5 * 3600 / 240 * 1.5))
    result = sim.run()
    callers = result.callers
    connected = sum(1 for c in callers if c.connected_at is not None)
    abandoned = sum(1 for c in callers if c.outcome == "abandoned")
    waiting = [c for c in callers if c.connected_at is None and c.outcome != "abandoned"]
    assert len(callers) == connected + abandoned + len(waiting)
    assert abandoned > 0 and waiting  # overloaded and stopped hard: some of each
    assert all(sim.engine.requests[c.rid].state is RequestState.WAITING for c in waiting)
    assert len(waiting) == sim.engine.callers_waiting(QUEUE)
    summary = summarize(result)
    assert summary.arrivals == summary.served + summary.abandoned + summary.still_waiting + summary.other


def test_drained_run_ends_with_nobody_left_and_every_potential_wait_known() -> None:
    result = simulate(small())
    assert all(c.outcome in ("served", "abandoned") for c in result.callers)
    assert all(c.potential_wait is not None for c in result.callers if c.busy_on_arrival)
    for c in result.callers:
        if c.outcome == "abandoned":  # had they stayed they would have waited at least as long
            assert c.abandoned_at is not None and c.potential_wait is not None
            assert c.potential_wait >= c.abandoned_at - c.arrival


def test_littles_law_for_the_queue() -> None:
    sc = small(agents=10, calls_per_hour=10 * 3600 / 240 * 1.05, horizon=30 * 3600.0, sample_every=5.0)
    result = simulate(sc)
    callers = [c for c in result.callers if c.arrival < sc.horizon]
    time_in_queue = sum(
        ((c.rung_at if c.rung_at is not None else c.abandoned_at) or c.arrival) - c.arrival for c in callers
    )
    samples = [s for s in result.samples if s.t < sc.horizon]
    mean_queue = sum(s.waiting for s in samples) / len(samples)
    # L = lambda W, both measured on the same run
    assert mean_queue == pytest.approx(time_in_queue / sc.horizon, rel=0.05)


def test_probability_of_waiting_matches_erlang_c() -> None:
    servers, load = 8, 6.4  # rho = 0.8
    sc = small(agents=servers, calls_per_hour=load / 240 * 3600, patience=None, horizon=400 * 3600.0, warmup=3600.0)
    result = simulate(sc)
    callers = [c for c in result.callers if c.arrival >= sc.warmup]
    waited = sum(1 for c in callers if c.busy_on_arrival) / len(callers)
    expected = erlang_c(servers, load)
    assert waited == pytest.approx(expected, abs=0.03)
    # and, exactly, the waits are those of the FCFS multi-server recursion on the same callers
    # (the mean wait itself converges too slowly to check against theory in a short test)
    free = [0.0] * servers
    for c in result.callers:
        start = max(heapq.heappop(free), c.arrival)
        heapq.heappush(free, start + c.handle)
        assert c.rung_at == pytest.approx(start, abs=1e-6)


def test_time_varying_rate_follows_the_sinusoid() -> None:
    sc = small(agents=50, calls_per_hour=1000, amplitude=0.8, period=8 * 3600.0, horizon=8 * 3600.0, patience=None)
    result = simulate(sc)
    first_half = sum(1 for c in result.callers if c.arrival < 4 * 3600)
    second_half = len(result.callers) - first_half
    # integral of 1 + 0.8 sin over each half: 4h * (1 +- 1.6/pi)
    assert first_half / second_half == pytest.approx((1 + 1.6 / math.pi) / (1 - 1.6 / math.pi), rel=0.12)
