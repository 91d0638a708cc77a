"""The Erlang-A wait estimate in isolation: the formula and what it learns.

Basic cases only, through the public methods and the default constructor: the estimator's tuning
is being improved elsewhere, so these tests pin the model, not its learning rates.
"""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.estimator import NO_AGENTS_WAIT, ErlangAEstimator
from tests.core.harness import Harness, settings


def test_free_agent_ahead_means_no_wait() -> None:
    assert ErlangAEstimator().estimate("q", ahead=1, agents=3, free_agents=2) == 0.0


def test_no_agents_means_very_long() -> None:
    assert ErlangAEstimator().estimate("q", ahead=0, agents=0, free_agents=0) == NO_AGENTS_WAIT


@pytest.mark.parametrize(("ahead", "agents"), [(0, 1), (0, 4), (3, 1), (5, 2)])
def test_without_abandonment_the_wait_is_n_plus_one_service_completions(ahead: int, agents: int) -> None:
    est = ErlangAEstimator(prior_handle_time=180.0)
    assert est.mean_handle_time("q") == pytest.approx(180.0)  # the prior, before any observation
    assert est.estimate("q", ahead, agents, 0) == pytest.approx((ahead + 1) * 180.0 / agents)


def test_formula_with_abandonment_is_the_erlang_a_sum() -> None:
    est = ErlangAEstimator(prior_handle_time=100.0)
    est.on_abandoned("q", waited=50.0, now=0.0)
    theta = est.abandon_rate("q")
    assert theta == pytest.approx(1 / 50)
    s_mu = 2 / est.mean_handle_time("q")
    expected = sum(1 / (s_mu + i * theta) for i in range(3))
    assert est.estimate("q", ahead=2, agents=2, free_agents=0) == pytest.approx(expected)


def test_free_agents_reduce_the_callers_ahead() -> None:
    est = ErlangAEstimator(prior_handle_time=60.0)
    assert est.estimate("q", ahead=3, agents=2, free_agents=1) == pytest.approx(est.estimate("q", 2, 2, 0))


def test_handle_time_moves_towards_observed_handle_times() -> None:
    est = ErlangAEstimator(prior_handle_time=100.0)
    est.on_handled("q", 300.0, 0.0)
    first = est.mean_handle_time("q")
    assert 100.0 < first <= 300.0
    for _ in range(50):
        est.on_handled("q", 300.0, 0.0)
    assert first < est.mean_handle_time("q") <= 300.0


def test_abandon_rate_is_abandons_over_exposure_with_censoring() -> None:
    est = ErlangAEstimator()
    assert est.abandon_rate("q") == 0.0
    est.on_abandoned("q", 50.0, 0.0)
    alone = est.abandon_rate("q")
    est.on_served("q", 50.0, 0.0)  # a served caller's wait is censored patience: more exposure
    assert est.abandon_rate("q") == pytest.approx(1 / 100, rel=0.01)
    assert est.abandon_rate("q") < alone


def test_queues_learn_separately() -> None:
    est = ErlangAEstimator(prior_handle_time=100.0)
    est.on_handled("a", 10.0, 0.0)
    est.on_abandoned("a", 10.0, 0.0)
    assert est.mean_handle_time("b") == pytest.approx(100.0) and est.abandon_rate("b") == 0.0


def test_more_agents_or_fewer_ahead_never_wait_longer() -> None:
    est = ErlangAEstimator()
    est.on_abandoned("q", 120.0, 0.0)
    assert est.estimate("q", 4, 3, 0) <= est.estimate("q", 4, 2, 0)
    assert est.estimate("q", 3, 2, 0) <= est.estimate("q", 4, 2, 0)


# ---------------------------------------------------------------- calls in progress (censored handle time)


def test_time_spent_by_calls_in_progress_counts_as_handle_time() -> None:
    est = ErlangAEstimator(prior_handle_time=180.0)
    for _ in range(3):
        est.on_call_started("q", 0.0)
    est.on_call_ended("q", started=0.0, handle_time=100.0, now=100.0)
    # one completion; 300 agent seconds spent so far (the two calls still going are the long ones)
    assert est.mean_handle_time("q") == pytest.approx((180.0 + 3 * 100.0) / 2, rel=1e-3)  # the prior ages a little


def test_wrap_up_is_counted_once_when_the_call_ends() -> None:
    est = ErlangAEstimator(prior_handle_time=180.0)
    est.on_call_started("q", 0.0)
    est.on_call_ended("q", started=0.0, handle_time=60.0, now=50.0)  # 50 s talk + 10 s wrap-up
    assert est.mean_handle_time("q") == pytest.approx((180.0 + 60.0) / 2, rel=1e-3)


def test_a_call_whose_start_was_not_reported_counts_whole() -> None:
    est = ErlangAEstimator(prior_handle_time=180.0)
    est.on_call_ended("q", started=0.0, handle_time=300.0, now=500.0)  # e.g. in progress at a restart
    assert est.mean_handle_time("q") == pytest.approx((180.0 + 300.0) / 2, rel=1e-3)
    other = ErlangAEstimator(prior_handle_time=180.0)
    other.on_handled("q", 300.0, 500.0)
    assert other.mean_handle_time("q") == pytest.approx(est.mean_handle_time("q"))


def test_engine_reports_calls_in_progress_to_the_estimator() -> None:
    h = Harness(settings(agents=2, wrap_up=10.0))
    h.ready("a1")
    h.ready("a2")
    for rid in ("r1", "r2"):
        ring = h.one(h.arrive(rid), c.OriginateAgent)
        h.answer(ring.leg_id)
    est = h.engine.estimator
    assert isinstance(est, ErlangAEstimator)
    h.at(300.0).hang_up("r1")
    # 2 calls x 300 s talked, + 10 s wrap-up of the one that ended; completed-only would say (180 + 310) / 2
    assert est.mean_handle_time("support") == pytest.approx((180.0 + 2 * 300.0 + 10.0) / 2, rel=1e-3)


def test_agents_leaving_after_their_call_do_not_count_as_serving() -> None:
    h = Harness(settings(agents=3))
    for agent in ("a1", "a2", "a3"):
        h.ready(agent)
    first = h.one(h.arrive("r1"), c.OriginateAgent)
    h.answer(first.leg_id)
    second = h.one(h.arrive("r2"), c.OriginateAgent)
    h.answer(second.leg_id)
    assert h.engine.agents_serving("support") == 3
    h.send(ev.AgentLoggedOut(h.now, first.agent_id))  # takes effect after the call
    h.send(ev.AgentPaused(h.now, second.agent_id, "lunch"))
    assert h.engine.agents_serving("support") == 1
    h.arrive("r3")
    h.arrive("r4")
    waiting_alone = h.engine.estimator.estimate("support", 0, 1, 0)  # one agent will take callers
    assert h.engine.estimated_wait("r4") == pytest.approx(waiting_alone)


def _steady_then_longer(est: ErlangAEstimator, every: float = 36.0) -> float:
    """2000 calls of 100 s, completed one every `every` seconds (10 agents); returns the time."""
    t = 0.0
    for _ in range(2000):
        t += every
        est.on_handled("q", 100.0, t)
    assert est.mean_handle_time("q") == pytest.approx(100.0)
    return t


def test_the_estimate_moves_towards_a_change_before_the_change_test_calls_it() -> None:
    # Issue 13: with 10 agents an alarm needs about an hour of completions after a +50 % step in
    # handle time; the estimate must not sit on the old mean until then.
    est = ErlangAEstimator(prior_handle_time=100.0)
    t = _steady_then_longer(est)
    moved_at = None
    for n in range(1, 200):
        t += 36.0
        est.on_handled("q", 150.0, t)
        if est.changes_detected("q")[0]:
            break
        if moved_at is None and est.mean_handle_time("q") > 125.0:
            moved_at = n  # half-way to the new mean, with no alarm yet
    assert moved_at is not None


def test_the_estimate_is_mostly_the_new_data_when_the_alarm_comes() -> None:
    est = ErlangAEstimator(prior_handle_time=100.0)
    t = _steady_then_longer(est)
    before = est.mean_handle_time("q")
    while not est.changes_detected("q")[0]:
        before = est.mean_handle_time("q")
        t += 36.0
        est.on_handled("q", 150.0, t)
    assert before > 140.0
    assert est.mean_handle_time("q") == pytest.approx(150.0)


def test_a_few_long_calls_in_a_steady_queue_barely_move_the_estimate() -> None:
    # the blend weighs the post-change data by the evidence for a change and by how long they
    # span: a short run of long calls is weak evidence and must not move the estimate
    est = ErlangAEstimator(prior_handle_time=100.0)
    t = _steady_then_longer(est, every=2.4)  # a busy queue: 100 agents
    for _ in range(8):
        t += 2.4
        est.on_handled("q", 150.0, t)
    assert est.changes_detected("q") == (0, 0)
    assert est.mean_handle_time("q") == pytest.approx(100.0, rel=0.01)


def test_without_the_blend_the_estimate_waits_for_the_alarm() -> None:
    # soft=None is the previous behaviour (alarm only): the contrast the blend is for
    est = ErlangAEstimator(prior_handle_time=100.0, soft=None)
    t = _steady_then_longer(est)
    while not est.changes_detected("q")[0]:
        assert est.mean_handle_time("q") < 105.0
        t += 36.0
        est.on_handled("q", 150.0, t)
