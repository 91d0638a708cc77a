"""Holdfast's estimator learns a known handle time and abandonment rate from synthetic observations."""

from __future__ import annotations

import random

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
