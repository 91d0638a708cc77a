"""Non-stationary scenarios: handle time, patience and arrival rate change at known times."""

from __future__ import annotations

import pytest

from app.core.estimator import ErlangAEstimator
from app.sim.predictors import FullInformation
from app.sim.scenario import Dist, Ramp, Scenario, Shift
from app.sim.simulator import QUEUE, Simulator
from bench import nonstationary
from bench.wait_estimate import T975


def test_a_shift_scales_handle_times_of_calls_started_after_it_and_the_estimator_follows() -> None:
    sc = Scenario(
        seed=5,
        agents=20,
        calls_per_hour=20 * 3600 / 100 * 0.8,
        horizon=8 * 3600.0,
        handle_time=Dist("fixed", 100.0),
        patience=None,
        shifts=(Shift(4 * 3600.0, handle=2.0),),
    )
    est = ErlangAEstimator(prior_handle_time=100.0)
    result = Simulator(sc, estimator=est).run()
    assert est.changes_detected(QUEUE)[0] >= 1
    assert est.mean_handle_time(QUEUE) == pytest.approx(200.0, rel=0.03)
    assert result.callers  # the run happened


def test_a_patience_shift_applies_to_callers_arriving_in_it_and_ends_at_until() -> None:
    at, until = 2 * 3600.0, 3 * 3600.0
    sc = Scenario(
        seed=6,
        agents=5,
        calls_per_hour=5 * 3600 / 240 * 1.5,  # overloaded: many abandon
        horizon=5 * 3600.0,
        handle_time=Dist("exponential", 240.0),
        patience=Dist("fixed", 100.0),
        shifts=(Shift(at, patience=0.5, until=until),),
    )
    result = Simulator(sc).run()
    waits = {
        (x.arrival >= at and x.arrival < until): round(x.abandoned_at - x.arrival, 6)
        for x in result.callers
        if x.abandoned_at is not None
    }
    assert waits == {True: 50.0, False: 100.0}


def test_a_ramp_raises_the_arrival_rate_linearly_and_stays() -> None:
    sc = Scenario(calls_per_hour=100.0, ramps=(Ramp(3600.0, 7200.0, 3.0),))
    assert sc.rate_at(0.0) == pytest.approx(100 / 3600)
    assert sc.rate_at(3600.0 + 3600.0) == pytest.approx(200 / 3600)
    assert sc.rate_at(20000.0) == pytest.approx(300 / 3600)
    assert sc.max_rate == pytest.approx(300 / 3600)
    result = Simulator(sc.with_(horizon=6 * 3600.0, agents=50, seed=2)).run()
    first = sum(1 for x in result.callers if x.arrival < 3600.0)
    last = sum(1 for x in result.callers if x.arrival >= 5 * 3600.0)
    assert 2.3 < last / first < 3.9  # 300 vs 100 an hour, Poisson noise


def test_full_information_knows_the_current_parameters() -> None:
    sc = Scenario(shifts=(Shift(100.0, handle=2.0, patience=0.5),))
    fi = FullInformation(mu=1 / 200, theta=1 / 100, handle_factor=sc.handle_factor, patience_factor=sc.patience_factor)
    assert fi.predict(0, 50.0, 4) == pytest.approx(1 / (4 / 200))
    assert fi.predict(1, 150.0, 4) == pytest.approx(1 / (4 / 400) + 1 / (4 / 400 + 1 / 50))


def test_the_nonstationary_bench_reports_every_window() -> None:
    drift = next(d for d in nonstationary.drifts() if d.key == "handle+50%-s10")
    reps = [nonstationary.run_drift((drift, rep)) for rep in range(2)]
    assert all(len(r.windows) == len(nonstationary.WINDOWS) for r in reps)
    assert all(r.windows[1][0] > 0 for r in reps)  # callers judged in the first 30 minutes
    text = nonstationary.report([drift], reps, 2, T975, "")
    assert "| handle+50%-s10 |" in text and "Goal" in text
