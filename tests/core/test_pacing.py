"""Predictive pacing (app/core/pacing.py) and the dialler's predictive mode."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import commands as c
from app.core import pacing
from app.core.pacing import DAY, HoldfastPacer, PacingView, decide
from app.core.settings import CampaignMode
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

PREDICTIVE = CampaignMode.PREDICTIVE


class Greedy:
    """A pacer that always wants `n` dials (to test the rules around any pacer)."""

    def __init__(self, n: int, over: bool = False) -> None:
        self.n, self.over = n, over

    def dials(self, view: PacingView) -> int:
        return self.n

    def over_cap(self, now: float) -> bool:
        return self.over

    def observe_end(self, now: float, outcome: str, after: float) -> None: ...

    def observe_live(self, now: float, abandoned: bool) -> None: ...

    def observe_talk(self, seconds: float) -> None: ...


# ------------------------------------------------------------------ the rules (decide)


@pytest.mark.parametrize(
    ("want", "over", "view", "level", "expected"),
    [
        (1000, False, PacingView(0, ready=4, present=10, in_flight=(1.0,) * 5), 3.0, 25),  # 30 lines - 5
        (1000, False, PacingView(0, ready=4, present=10, in_flight=(1.0,) * 5, waiting=2), 3.0, 23),
        (7, False, PacingView(0, ready=4, present=10), 3.0, 7),  # within the lines: the pacer's wish
        (1000, True, PacingView(0, ready=4, present=10, in_flight=(1.0,)), 3.0, 3),  # over the cap: 1 per ready
        (1000, True, PacingView(0, ready=0, present=10), 3.0, 0),
        (-5, False, PacingView(0, ready=4, present=10), 3.0, 0),
        (1000, False, PacingView(0, ready=0, present=0), 3.0, 0),  # nobody logged in: no lines
    ],
)
def test_decide_keeps_the_pacer_within_the_rules(
    want: int, over: bool, view: PacingView, level: float, expected: int
) -> None:
    assert decide(Greedy(want, over), view, level) == expected


views = st.builds(
    PacingView,
    now=st.floats(0, 40 * DAY),
    ready=st.integers(0, 30),
    present=st.integers(0, 60),
    talking=st.lists(st.floats(0, 3600), max_size=30).map(tuple),
    wrapping=st.lists(st.floats(0, 60), max_size=10).map(tuple),
    in_flight=st.lists(st.floats(0, 40), max_size=80).map(tuple),
    waiting=st.integers(0, 5),
    wrap_up=st.floats(0, 60),
)
history = st.lists(
    st.one_of(
        st.tuples(st.just("end"), st.sampled_from(pacing.OUTCOMES), st.floats(0, 40)),
        st.tuples(st.just("live"), st.booleans()),
        st.tuples(st.just("talk"), st.floats(1, 2000)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(views, history, st.floats(0.0, 0.1), st.floats(0.0, 0.3), st.floats(1.0, 5.0))
def test_pacing_never_dials_more_than_the_rules_allow(
    view: PacingView,
    events: list[tuple],
    cap: float,
    fp: float,
    level: float,  # type: ignore[type-arg]
) -> None:
    pacer = HoldfastPacer(cap=cap, amd_false_positive=fp)
    t = max(0.0, view.now - len(events))
    for e in events:
        if e[0] == "end":
            pacer.observe_end(t, e[1], e[2])
        elif e[0] == "live":
            pacer.observe_live(t, e[1])
        else:
            pacer.observe_talk(e[1])
        t += 1.0
    n = decide(pacer, view, level)
    busy = len(view.in_flight) + view.waiting
    assert 0 <= n <= max(0, math.floor(level * view.present + 1e-9) - busy)
    if pacer.over_cap(view.now):  # measured above the cap: no more than one per ready agent
        assert n <= max(0, view.ready - busy)
    assert pacing.GAIN_MIN - 1e-9 <= pacer.gain <= pacing.GAIN_MAX + 1e-9


# ------------------------------------------------------------------ Holdfast's pacer


def roomy(lives: int = 200, at: float = 0.0, **kwargs: float) -> HoldfastPacer:
    """A pacer whose judged windows have room (live answers served at `at`): it may dial ahead."""
    pacer = HoldfastPacer(**kwargs)
    for _ in range(lives):
        pacer.observe_live(at, abandoned=False)
    return pacer


def test_a_fresh_window_dials_one_per_ready_agent_until_it_has_room_for_an_abandon() -> None:
    pacer = HoldfastPacer(cap=0.03)
    view = PacingView(10.0, ready=4, present=10, in_flight=(1.0,))
    assert pacer.over_cap(10.0) and decide(pacer, view, 4.0) == 3  # one per ready agent, less the one ringing
    for i in range(33):  # 33 x 3 % = 0.99: not yet room for one abandon
        pacer.observe_live(float(i), abandoned=False)
    assert pacer.over_cap(40.0)
    pacer.observe_live(40.0, abandoned=False)
    assert not pacer.over_cap(41.0)  # room for one abandon
    for i in range(466):  # 500 served: room for 15, the margin at its narrowest
        pacer.observe_live(41.0 + i / 10, abandoned=False)
    assert decide(pacer, replace(view, now=110.0), 4.0) > 3  # dials ahead of the ready agents
    for i in range(15):  # room used up: one per ready agent again
        pacer.observe_live(111.0 + i, abandoned=True)
    assert pacer.over_cap(130.0) and decide(pacer, replace(view, now=130.0), 4.0) == 3


def test_the_target_shrinks_with_the_room_left() -> None:
    wide, narrow = roomy(400), roomy(400)
    for i in range(10):  # 10 of 410 abandoned: 2.4 %, room 12.3 - 10 = 2.3 abandons
        narrow.observe_live(1.0 + i, abandoned=True)
    assert narrow.headroom(20.0) == pytest.approx(0.03 * 410 - 10)
    assert 0 < narrow.target(20.0) < wide.target(20.0)


def test_ready_agents_get_more_than_one_dial_each_when_few_answer() -> None:
    pacer = roomy()
    for i in range(200):  # one dial in five answered by a person
        pacer.observe_end(float(i), pacing.LIVE if i % 5 == 0 else pacing.NO_ANSWER, 8.0 if i % 5 == 0 else 25.0)
    n = pacer.dials(PacingView(300.0, ready=10, present=10))
    assert n > 10
    # the same agents all talking, just begun (talk ~120 s): nobody to connect in the next seconds
    for _ in range(50):
        pacer.observe_talk(120.0)
    assert pacer.dials(PacingView(300.0, ready=0, present=10, talking=(1.0,) * 10, wrap_up=10.0)) == 0


def test_dials_in_flight_count_against_the_next_decision() -> None:
    pacer = roomy()
    for i in range(100):
        pacer.observe_end(float(i), pacing.LIVE if i % 2 else pacing.NO_ANSWER, 6.0 if i % 2 else 25.0)
    alone = pacer.dials(PacingView(200.0, ready=5, present=5))
    ringing = pacer.dials(PacingView(200.0, ready=5, present=5, in_flight=(1.0,) * 6))
    assert 0 <= ringing < alone


def test_the_gain_falls_with_abandoned_answers_and_rises_with_served_ones() -> None:
    pacer = HoldfastPacer()
    start = pacer.gain
    for i in range(5):
        pacer.observe_live(float(i), abandoned=True)
    assert pacer.gain < start
    low = pacer.gain
    for i in range(300):
        pacer.observe_live(10.0 + i, abandoned=False)
    assert pacer.gain > low


def test_the_margin_tightens_as_the_measured_rate_nears_the_cap() -> None:
    pacer = HoldfastPacer(cap=0.03)
    for i in range(1000):
        pacer.observe_live(float(i), abandoned=False)
    far = pacer.target(1000.0)
    for i in range(25):  # 25 / 1025 = 2.4 %: near the 3 % cap
        pacer.observe_live(1000.0 + i, abandoned=True)
    near = pacer.target(1100.0)
    assert near < far < 0.03
    assert not pacer.over_cap(1100.0)
    for i in range(10):  # 35 / 1035 = 3.4 %: over the cap
        pacer.observe_live(1200.0 + i, abandoned=True)
    assert pacer.over_cap(1300.0)


def test_the_24_h_window_forgets_but_the_30_day_window_still_judges() -> None:
    pacer = HoldfastPacer(cap=0.03)
    for i in range(100):
        pacer.observe_live(float(i), abandoned=i < 10)  # 10 %
    assert pacer.over_cap(200.0)
    later = 2 * DAY
    assert pacer.day.rate(later) == 0.0
    assert pacer.month.rate(later) == pytest.approx(0.10)
    assert pacer.over_cap(later)
    assert pacer.month.rate(31 * DAY) == 0.0 and pacer.headroom(31 * DAY) == 0.0  # forgotten: a fresh window


def test_amd_false_positives_count_as_abandoned_live_answers() -> None:
    plain, wary = HoldfastPacer(amd_false_positive=0.0), HoldfastPacer(amd_false_positive=0.2)
    for p in (plain, wary):
        for i in range(100):
            p.observe_live(float(i), abandoned=False)
        for i in range(50):
            p.observe_end(200.0 + i, pacing.MACHINE, 12.0)
    assert plain.measured(300.0) == 0.0
    assert wary.measured(300.0) == pytest.approx(10 / 110)  # 50 verdicts x 0.2 persons, all abandoned
    assert wary.over_cap(300.0) and wary.gain < plain.gain


def test_estimates_follow_a_list_that_gets_worse() -> None:
    pacer = HoldfastPacer()
    for i in range(600):
        pacer.observe_end(float(i), pacing.LIVE if i % 2 else pacing.NO_ANSWER, 8.0 if i % 2 else 25.0)
    before = pacer.est.share(pacing.LIVE)
    for i in range(600):
        pacer.observe_end(600.0 + i, pacing.LIVE if i % 10 == 0 else pacing.NO_ANSWER, 8.0 if i % 10 == 0 else 25.0)
    after = pacer.est.share(pacing.LIVE)
    assert before == pytest.approx(0.5, abs=0.05)
    assert after < 0.2


# ------------------------------------------------------------------ the dialler in predictive mode


def _predictive(agents: int = 2, contacts: int = 40, **fields: object) -> DiallerHarness:
    camp = campaign(mode=PREDICTIVE, **fields)
    return DiallerHarness(
        dialler_settings(camp, agents=agents, wrap_up=5.0), [contact(i) for i in range(1, contacts + 1)]
    )


def test_predictive_dials_ahead_of_ready_agents_and_connects_auto_answering_ones() -> None:
    h = _predictive(agents=5)
    learned = roomy(at=h.now)  # windows with room (a fresh one dials one per ready agent)
    for i in range(200):  # one dial in five answered by a person
        learned.observe_end(0.0, pacing.LIVE if i % 5 == 0 else pacing.NO_ANSWER, 8.0 if i % 5 == 0 else 25.0)
    lives_learned = learned.est.ends[pacing.LIVE].total
    h.engine.pacer_factory = lambda _c: learned
    for a in range(1, 6):
        h.ready(f"a{a}")
    dials = h.dials()
    assert len(dials) > 5  # 20 % live answers: more than one line per agent
    assert len({d.number for d in dials}) == len(dials)  # nobody dialled twice at once
    out = h.at(6).answer(dials[0].leg_id)
    ring = h.one(out, c.OriginateAgent)
    assert ring.auto_answer
    out = h.at(0.4).answer(ring.leg_id)
    assert h.one(out, c.BridgeLegs).customer_leg == dials[0].leg_id
    pacer = h.engine.pacers["spring"]
    assert isinstance(pacer, HoldfastPacer)
    assert (pacer.day.lives, pacer.day.abandoned) == (201.0, 0.0)
    assert pacer.est.ends[pacing.LIVE].total == lives_learned + 1  # the answer after 6 s was learned


def test_predictive_abandoned_answer_hears_the_message_and_the_pacer_counts_it() -> None:
    h = _predictive(agents=1)
    bold = roomy(60, at=h.now)  # room for 1.8 abandons
    bold.log_gain = math.log(pacing.GAIN_MAX)  # a loop that has learned to dial hard
    h.engine.pacer_factory = lambda _c: bold
    dials = h.dials(h.ready("a1"))
    assert len(dials) >= 2
    h.at(5).answer(dials[0].leg_id)
    h.at(0.5).answer(h.of(h.log, c.OriginateAgent)[-1].leg_id)
    h.at(0.5).answer(dials[1].leg_id)  # the only agent is talking
    out = h.run_until(h.now + 2.1)
    assert any(p.items[0].name == "dialler_information" for p in h.of(out, c.PlayPrompt))
    pacer = h.engine.pacers["spring"]
    assert isinstance(pacer, HoldfastPacer)
    assert pacer is bold and (pacer.day.lives, pacer.day.abandoned) == (62.0, 1.0)
    assert pacer.over_cap(h.now)  # 1 of 62: room 0.86 abandons, under one -> one per ready agent
    # one per ready agent from now on: nobody is ready, so nothing more is dialled
    before = len(h.dials())
    for d in dials[2:]:
        h.fail(d.leg_id, AttemptOutcome.NO_ANSWER)
    assert len(h.dials()) == before


def test_a_running_predictive_campaign_looks_again_every_second() -> None:
    h = _predictive(agents=1)
    h.ready("a1")
    deadline = h.engine.next_deadline()
    assert deadline is not None and deadline <= h.now + 1.0 + 1e-9


def test_power_campaigns_have_no_pacer() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=CampaignMode.POWER)), [contact(i) for i in range(1, 4)])
    h.ready("a1")
    assert h.engine.pacer("spring") is None and not h.engine.pacers


def test_the_margin_closes_on_the_room_a_busy_window_runs_near_the_cap() -> None:
    """The target's margin follows the judged window's room: wide while a few abandons would reach
    the cap, narrow once thousands of live answers leave room for many."""
    cap = 0.03
    targets = []
    for lives in (100, 200, 300, 400, 500, 2000):  # room 3, 6, 9, 12, 15, 60 abandons
        pacer = roomy(lives, cap=cap)
        targets.append(pacer.target(1.0))
    assert targets[0] == pytest.approx(cap * (1 - pacing.MARGIN_MAX))
    assert targets[-2] == targets[-1] == pytest.approx(cap * (1 - pacing.MARGIN_BASE))
    assert targets == sorted(targets) and targets[1] < targets[2] < targets[3]
    eaten = roomy(500, cap=cap)  # 15 of room; 8 abandons eat 8 of it (and add 0.24)
    for _ in range(8):
        eaten.observe_live(2.0, abandoned=True)
    assert eaten.target(3.0) < targets[3]  # 7.24 of room: the margin widens again
