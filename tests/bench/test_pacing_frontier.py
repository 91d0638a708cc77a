"""bench/pacing_frontier.py: the exact expected excess, the held gain, the page."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bench import pacing_frontier as pf


def _brute_excess(lives: float, ending: float, known: float) -> float:
    pl, pe = pf.poisson(lives, 80), pf.poisson(ending, 80)
    return sum(a * b * max(0.0, i - j - known) for i, a in enumerate(pl) for j, b in enumerate(pe))


@settings(max_examples=60, deadline=None)
@given(
    lives=st.floats(0.0, 12.0),
    ending=st.floats(0.0, 8.0),
    known=st.integers(-3, 10).map(float),
)
def test_expected_excess_is_the_double_sum(lives: float, ending: float, known: float) -> None:
    assert math.isclose(pf.expected_excess(lives, ending, known), _brute_excess(lives, ending, known), abs_tol=1e-9)


def test_expected_excess_grows_with_answers_and_falls_with_agents() -> None:
    base = pf.expected_excess(3.0, 1.0, 2.0)
    assert pf.expected_excess(4.0, 1.0, 2.0) > base > pf.expected_excess(3.0, 1.0, 3.0)
    assert pf.expected_excess(3.0, 2.0, 2.0) < base
    assert pf.expected_excess(0.0, 0.0, -2.0) == 2.0  # two contacts waiting, nobody free, nothing coming


def test_the_held_gain_does_not_learn_and_has_no_room_rules() -> None:
    pacer = pf.HeldGain(cap=0.03, gain=0.7, ring_time=25.0)
    for _ in range(20):
        pacer.observe_live(100.0, abandoned=True)
    assert math.isclose(pacer.gain, 0.7)
    assert pacer.target(100.0) == 0.03 and not pacer.over_cap(100.0)


def test_a_short_sweep_writes_every_rule_and_a_higher_gain_dials_harder(tmp_path: Path) -> None:
    out = tmp_path / "frontier.md"
    args = ["--seeds", "1", "--hours", "0.25", "--gains", "0.3,3", "--ratios", "3", "--jobs", "1", "--out", str(out)]
    assert pf.main(args) == 0
    text = out.read_text()
    for rule in pf.RULES:
        assert f"| {rule} | 0.3 |" in text and f"| {rule} | 3 |" in text
    assert "| ratio | 3 |" in text
    rows: dict[tuple[str, float], dict[str, float]] = {}
    for rule in pf.RULES:
        for gain in (0.3, 3.0):
            rows[(rule, gain)] = pf.run_one((rule, gain, 1, 0.25))[3]
        # the same seed: more risk allowed per dial means more dials per agent, so more abandons
        assert rows[(rule, 3.0)]["abandon"] > rows[(rule, 0.3)]["abandon"]


def test_crossing_interpolates_and_says_when_the_curve_never_gets_there() -> None:
    points = [(0.01, 0.80), (0.03, 0.82), (0.05, 0.83)]
    assert math.isclose(pf.crossing(points, 0.02) or 0, 0.81)
    assert pf.crossing(points, 0.10) is None


def _cancelling(risk: float) -> pf.CancellingSimulator:
    sim = pf.CancellingSimulator(pf.OutboundScenario(name="anchor", agents=20, horizon=1800.0, seed=3), risk=risk)
    sim.engine.pacer_factory = lambda c: pf.HeldGain(cap=c.abandon_cap, gain=3.0, ring_time=c.ring_time)
    sim.run()
    return sim


def test_the_cancel_rule_hangs_up_dials_still_ringing_at_15s_and_only_those() -> None:
    sim = _cancelling(risk=0.0)  # every dial still ringing at 15 s that carries any risk
    assert sim.cancelled, "a gain of 3 leaves dials ringing at 15 s with no agent for them"
    for leg, at in sim.cancelled.items():
        assert math.isclose(at - sim.dialled_at[leg], pf.MIN_RING)  # after the 15 s, not before
        assert sim.ends_at[leg] > at  # it was still ringing: its answer or failure had not come
    assert sim.result.dials > len(sim.cancelled)
    assert not _cancelling(risk=math.inf).cancelled


def test_the_oracle_counts_an_agent_free_exactly_when_its_call_and_wrap_up_end_within_reach() -> None:
    view = pf.PacingView(now=0.0, ready=1, present=3, talking=(50.0, 50.0), wrap_up=10.0, in_flight=(3.0, 6.0))
    known = pf.HeldGainOracle(cap=0.03, gain=1.0, ring_time=25.0, talk_left=lambda: [1.0, 100.0])
    known.dials(view)  # reads the talk left, as at every decision
    blind = pf.HeldGain(cap=0.03, gain=1.0, ring_time=25.0)
    idle = pf.replace(view, talking=())
    for horizon in known._horizons():
        gap, var, per_dial, _ = known._window_terms(view, horizon)
        base_gap, base_var, base_per_dial, _ = blind._window_terms(idle, horizon)
        free = 1 if horizon + view.connect_allowance >= 1.0 + 10.0 else 0  # the 100 s call never
        assert math.isclose(gap, base_gap - free) and math.isclose(var, base_var)  # no chance term left
        assert per_dial == base_per_dial


class _Watching(pf.OracleSimulator):
    """Keeps what the oracle said each call would end at, and when its hang-up came."""

    def __init__(self, scenario: pf.OutboundScenario) -> None:
        super().__init__(scenario)
        self.said: dict[str, set[float]] = {}
        self.hung_up: dict[str, float] = {}

    def talk_left(self) -> list[float]:
        for leg, end in self.call_ends().items():
            self.said.setdefault(leg, set()).add(round(end, 6))
        return super().talk_left()

    def _feed(self, event: object) -> None:
        if isinstance(event, pf.ev.LegHungUp):
            self.hung_up[event.leg_id] = event.now
        super()._feed(event)  # type: ignore[arg-type]


def test_the_oracle_knows_when_each_bridged_call_ends() -> None:
    sim = _Watching(pf.OutboundScenario(name="anchor", agents=20, horizon=1800.0, seed=5))
    sim.engine.pacer_factory = lambda c: pf.HeldGainOracle(
        cap=c.abandon_cap, gain=1.0, ring_time=c.ring_time, talk_left=sim.talk_left
    )
    sim.run()  # the pacer raises if it knows of more or fewer calls than the view has agents talking
    exact = 0
    for leg, at in sim.hung_up.items():
        said = sim.said.get(leg, set())
        # told while the agent's phone rang: late by at most the agent's answer; once bridged: exact
        assert all(at - 1e-6 <= end <= at + sim.sc.agent_answer + 1e-6 for end in said), (leg, at, said)
        exact += any(math.isclose(end, at, abs_tol=1e-6) for end in said)
    assert exact > 50
