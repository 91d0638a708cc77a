"""Days of traffic on the real engine: what it holds must not grow with the calls it has served.

A contact centre runs the service for weeks. Anything the engine keeps per call and never lets go
(an ended request's id in a set, a per-caller observation past the estimator's memory, a timer for
a request long gone) is a leak that no test of the first hundred calls sees. The simulator drives
the real core through four days of a daily cycle, with callbacks, retries, agents who let calls
ring out and agents who log off, and the engine's object graph is counted each night, when the
queue is empty: the fourth night must hold no more than the second.
"""

from __future__ import annotations

from dataclasses import replace

from app.core.settings import CallbackSettings
from app.sim.scenario import Absence, Dist, Scenario
from app.sim.simulator import Simulator
from tests.object_graph import held

DAY = 86400.0


class NightlyCount(Simulator):
    """Counts the engine's graph at the first sample of each night (the trough of the daily cycle)."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.nights: list[tuple[float, int, int]] = []  # (time, elements held, requests live)

    def _sample(self) -> None:
        if self.now >= (len(self.nights) + 0.85) * DAY:  # the 0.85 mark of each day: rate near zero
            self.nights.append((self.now, held(self.engine), len(self.engine.requests)))
        super()._sample()


CENTRE = Scenario(
    name="four-days",
    seed=7,
    agents=20,
    calls_per_hour=220.0,  # mean; the daily cycle takes it from 0 to 440 (capacity 20 x 3600 / 250 = 288)
    amplitude=1.0,
    period=DAY,
    phase=0.0,  # rate = mean (1 + sin): trough at 0.75 of each day
    horizon=4 * DAY,
    handle_time=Dist("exponential", 240.0),
    patience=Dist("exponential", 180.0),
    wrap_up=10.0,
    agent_answer_delay=2.0,
    agent_no_answer=0.05,
    agent_back_after=30.0,
    absences=tuple(Absence(at=d * DAY + 0.3 * DAY, duration=3600.0, share=0.2) for d in range(4)),
    callback=CallbackSettings(
        enabled=True,
        min_wait_before_offer=20.0,
        offer_threshold=60.0,
        max_attempts=3,
        sec_between_retries=120.0,
        allow_duplicate_numbers=True,  # every simulated caller has the same number
        abandon_callback_after=30.0,
        max_age=6 * 3600.0,
    ),
    callback_accept=0.5,
    callback_answer=0.6,
)


def test_four_days_of_traffic_leave_the_engine_no_bigger_than_after_two() -> None:
    sim = NightlyCount(replace(CENTRE, sample_every=60.0))
    result = sim.run()
    assert len(sim.nights) >= 4, sim.nights
    assert len(result.callers) > 15_000
    assert result.callback_attempts > 1_000  # callbacks, retries and their quarantines were exercised
    counts = [n for _, n, _ in sim.nights]
    live = [r for _, _, r in sim.nights]
    # By night 2 every bounded memory has filled (the estimator keeps running sums, not
    # observations), and each night finds the same quiet queue: a structure that keeps something
    # per call grows by about 5,000 elements a day.
    assert max(counts[2:4]) <= counts[1] * 1.05 + 50 * max(live[1:4]), (counts, live)
