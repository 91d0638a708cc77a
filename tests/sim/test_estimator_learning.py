"""Holdfast's estimator learns a known handle time and abandonment rate from synthetic observations."""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Callable

import pytest

from app.core.estimator import ErlangAEstimator


def test_learns_mean_handle_time() -> None:
    rng = random.Random(1)
    est = ErlangAEstimator(prior_handle_time=180.0)
    for _ in range(20000):
        est.on_handled("q", rng.expovariate(1 / 300), 0.0)
    assert est.mean_handle_time("q") == pytest.approx(300.0, rel=0.05)


def test_follows_a_change_in_handle_time() -> None:
    rng = random.Random(2)
    est = ErlangAEstimator()
    for mean in (300.0, 150.0):
        for _ in range(20000):
            est.on_handled("q", rng.expovariate(1 / mean), 0.0)
    assert est.mean_handle_time("q") == pytest.approx(150.0, rel=0.07)


def test_learns_abandonment_rate_from_censored_waits() -> None:
    rng = random.Random(3)
    theta = 1 / 100
    est = ErlangAEstimator()
    for _ in range(20000):
        patience, service = rng.expovariate(theta), rng.expovariate(1 / 80)
        if patience < service:
            est.on_abandoned("q", patience, 0.0)
        else:
            est.on_served("q", service, 0.0)
        if rng.random() < 0.5:
            est.on_served("q", 0.0, 0.0)  # taken at once: no information, must not bias
    assert est.abandon_rate("q") == pytest.approx(theta, rel=0.07)


def test_estimate_uses_what_was_learned() -> None:
    est = ErlangAEstimator(prior_handle_time=100.0)
    for _ in range(5000):
        est.on_handled("q", 200.0, 0.0)
        est.on_abandoned("q", 50.0, 0.0)
        est.on_served("q", 50.0, 0.0)
    mu, theta = 1 / est.mean_handle_time("q"), est.abandon_rate("q")
    assert mu == pytest.approx(1 / 200, rel=0.01) and theta == pytest.approx(1 / 100, rel=0.01)
    assert est.estimate("q", 3, 4, 0) == pytest.approx(sum(1 / (4 * mu + i * theta) for i in range(4)))


def test_a_clear_change_in_handle_time_is_followed_within_a_few_hundred_calls() -> None:
    rng = random.Random(4)
    est = ErlangAEstimator()  # long memory of 5000 calls, watched by the CUSUM change test
    for _ in range(10000):
        est.on_handled("q", rng.expovariate(1 / 240), 0.0)
    assert est.mean_handle_time("q") == pytest.approx(240.0, rel=0.07)
    handle_resets = est.changes_detected("q")[0]
    for _ in range(600):
        est.on_handled("q", rng.expovariate(1 / 400), 0.0)
    assert est.changes_detected("q")[0] > handle_resets  # the change test fired ...
    assert est.mean_handle_time("q") == pytest.approx(400.0, rel=0.12)  # ... and the estimate moved


def test_no_change_is_called_in_stationary_heavy_tailed_handle_times() -> None:
    rng = random.Random(5)
    est = ErlangAEstimator(prior_handle_time=240.0)
    sigma = (math.log(1 + 1.5**2)) ** 0.5  # lognormal with mean 240 s, cv 1.5
    for _ in range(50000):
        est.on_handled("q", rng.lognormvariate(math.log(240.0) - sigma**2 / 2, sigma), 0.0)
    assert est.changes_detected("q")[0] <= 3  # rare false alarms at worst
    assert est.mean_handle_time("q") == pytest.approx(240.0, rel=0.1)


def test_a_change_in_patience_is_followed() -> None:
    rng = random.Random(6)
    est = ErlangAEstimator()
    for theta in (1 / 100, 1 / 300):
        for _ in range(4000):
            patience, service = rng.expovariate(theta), rng.expovariate(1 / 80)
            if patience < service:
                est.on_abandoned("q", patience, 0.0)
            else:
                est.on_served("q", service, 0.0)
    assert est.changes_detected("q")[1] >= 1
    assert est.abandon_rate("q") == pytest.approx(1 / 300, rel=0.25)


class BusyAgents:
    """Agents who are never idle: each ends a call and starts the next at once (as in a long queue).

    Calls are reported as the engine reports them: the start, then the end with the handle time.
    """

    def __init__(self, est: ErlangAEstimator, agents: int, draw: Callable[[], float]) -> None:
        self.est, self.draw = est, draw
        self.calls = [(draw(), 0.0) for _ in range(agents)]
        heapq.heapify(self.calls)
        for _ in range(agents):
            est.on_call_started("q", 0.0)

    def run(self, completions: int) -> None:
        for _ in range(completions):
            now, started = heapq.heappop(self.calls)
            self.est.on_call_ended("q", started, now - started, now)
            self.est.on_call_started("q", now)
            heapq.heappush(self.calls, (now + self.draw(), now))


def test_calls_in_progress_remove_the_start_up_bias_of_completed_calls() -> None:
    rng = random.Random(7)
    # the plain long memories (no change test) show the bias and its removal
    censored = ErlangAEstimator(prior_handle_time=240.0, change_threshold=math.inf)
    completed_only = ErlangAEstimator(prior_handle_time=240.0, change_threshold=math.inf)
    # 200 agents start the day with an empty system; 2000 calls later the 200 still going are the long ones
    pool = BusyAgents(censored, 200, lambda: rng.expovariate(1 / 240))
    for _ in range(2000):
        now, started = pool.calls[0]
        pool.run(1)
        completed_only.on_handled("q", now - started, now)  # the same calls, ends only
    assert completed_only.mean_handle_time("q") < 0.95 * 240.0  # biased short, as the benchmark showed
    assert censored.mean_handle_time("q") == pytest.approx(240.0, rel=0.05)


def test_no_change_is_called_in_stationary_heavy_tailed_calls_in_progress() -> None:
    rng = random.Random(8)
    est = ErlangAEstimator(prior_handle_time=240.0)
    sigma = (math.log(1 + 1.5**2)) ** 0.5  # lognormal with mean 240 s, cv 1.5
    BusyAgents(est, 50, lambda: rng.lognormvariate(math.log(240.0) - sigma**2 / 2, sigma)).run(50000)
    assert est.changes_detected("q")[0] <= 3  # rare false alarms at worst
    assert est.mean_handle_time("q") == pytest.approx(240.0, rel=0.1)


def test_a_clear_change_is_followed_with_calls_in_progress() -> None:
    rng = random.Random(9)
    est = ErlangAEstimator()
    mean = [240.0]
    pool = BusyAgents(est, 100, lambda: rng.expovariate(1 / mean[0]))
    pool.run(10000)
    assert est.mean_handle_time("q") == pytest.approx(240.0, rel=0.07)
    resets = est.changes_detected("q")[0]
    mean[0] = 400.0  # calls started from now on last longer
    pool.run(1500)
    assert est.changes_detected("q")[0] > resets
    assert est.mean_handle_time("q") == pytest.approx(400.0, rel=0.12)


def _served_or_abandoned(est: ErlangAEstimator, rng: random.Random, theta: float, service_mean: float) -> None:
    patience, service = rng.expovariate(theta), rng.expovariate(1 / service_mean)
    if patience < service:
        est.on_abandoned("q", patience, 0.0)
    else:
        est.on_served("q", service, 0.0)


@pytest.mark.parametrize("factor", [1.5, 0.7])
def test_a_step_in_handle_time_is_tracked_without_bias_within_400_calls(factor: float) -> None:
    # the CUSUM restarts the memory from the data since the change: no pre-change data is left in it
    errors, delays = [], []
    for seed in range(20):
        rng = random.Random(1000 + seed)
        est = ErlangAEstimator(prior_handle_time=240.0)
        for _ in range(5000):
            est.on_handled("q", rng.expovariate(1 / 240), 0.0)
        before = est.changes_detected("q")[0]
        delay = None
        for k in range(400):
            est.on_handled("q", rng.expovariate(1 / (240 * factor)), 0.0)
            if delay is None and est.changes_detected("q")[0] > before:
                delay = k + 1
        assert delay is not None and delay <= 350, f"seed {seed}: change not called within 350 calls"
        delays.append(delay)
        errors.append(est.mean_handle_time("q") / (240 * factor) - 1)
    assert statistics.median(delays) <= 200
    assert abs(statistics.fmean(errors)) < 0.04  # unbiased (restarting from a probe left about -10 %)
    assert max(abs(e) for e in errors) < 0.25


def test_stationary_exponential_handle_times_rarely_raise_a_false_alarm() -> None:
    rng = random.Random(11)
    est = ErlangAEstimator(prior_handle_time=240.0)
    for _ in range(100000):
        est.on_handled("q", rng.expovariate(1 / 240), 0.0)
    assert est.changes_detected("q")[0] <= 6  # about one per 50,000 calls
    assert est.mean_handle_time("q") == pytest.approx(240.0, rel=0.07)


def test_stationary_patience_rarely_raises_a_false_alarm() -> None:
    rng = random.Random(12)
    est = ErlangAEstimator()
    for _ in range(50000):
        _served_or_abandoned(est, rng, 1 / 1200, 60.0)  # few abandons: a skewed score
    assert est.changes_detected("q")[1] <= 2


def test_patience_recovers_after_a_burst_of_abandonments() -> None:
    # a short spell of impatient callers, then back to normal: the estimate must come back too
    errors = []
    for seed in range(20):
        rng = random.Random(2000 + seed)
        est = ErlangAEstimator()
        for theta, callers in ((1 / 240, 5000), (3 / 240, 600), (1 / 240, 1000)):
            for _ in range(callers):
                _served_or_abandoned(est, rng, theta, 120.0)
        errors.append(est.abandon_rate("q") * 240 - 1)
    assert abs(statistics.fmean(errors)) < 0.05  # the probe restart left theta about 9 % high here
