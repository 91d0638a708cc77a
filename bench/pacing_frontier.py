"""How much occupancy each point of abandonment buys: the pacing rule's frontier, with the gain held.

Issue 15 asks for 85 % occupancy at 3 % abandoned on the anchor (20 agents, 25 % live answers,
120 s talk, 10 s wrap-up). Holdfast's closed loop picks one point on a curve: the gain sets the risk
a new dial may carry, and the loop moves it until the abandon rate meets the target. This benchmark
holds the gain fixed (no learning, no room or fresh-window rules, target 3 %) and sweeps it, so the
curve itself shows: where it crosses 3 % is the best this rule can do on the anchor, whatever the
loop.

Three rules are swept on the same seeds:
- "normal": the shipped rule (app/core/pacing.py): within each horizon, live answers coming less
  agents expected free is taken as normal, and a new dial is placed while its own chance of being
  abandoned (the rise in E[max(0, L - A)] it brings, per live answer) stays under gain x target.
- "counts": the same decision with the counts taken as what they are: live answers coming and
  calls ending as Poisson counts (a sum of many small chances), agents already free or leaving
  wrap-up as a known number, E[max(0, L - A)] summed exactly. It asks whether the normal
  approximation, poor for the handful of answers and agents a 2-12 s horizon holds, is what
  costs occupancy.
- "cancel": the shipped rule, and a dial still ringing after the 15 s the regulators ask for is hung
  up when its own chance of finding no agent, were it answered in the rest of its ring time, is over
  CANCEL_RISK (the same risk terms, with the dial's age). It asks whether cutting late answers, the
  ones the pacer could least plan for, buys occupancy. The simulator does the cancelling: the core
  has no such command (it would need a per-dial timer, and the executor would hang the leg up).
- "oracle": the shipped rule told each call's drawn talk time, so every agent's free time is known
  exactly (no chance term for calls ending). No dialler has this: it bounds what any signal of
  calls about to end (an agent's "finishing" key, speech analytics) could buy this rule.
For scale, power mode's fixed ratios (R lines per ready agent) are swept on the same seeds.

Run: `python -m bench.pacing_frontier` (writes docs/bench-pacing-frontier.md), `--seeds N`,
`--hours H`, `--gains 0.5,1,2`, `--ratios 3,4` (`--ratios ''` for none), `--jobs N`.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.core import events as ev
from app.core import pacing
from app.core.pacing import HoldfastPacer, PacingView
from app.core.settings import CampaignSettings
from app.core.states import AttemptOutcome
from app.sim import outbound
from app.sim.outbound import CAMPAIGN, Mix, OutboundScenario, OutboundSimulator
from bench.machine import machine

RULES = ("normal", "counts", "cancel", "oracle")
MIN_RING = 15.0  # Ofcom: a dial rings at least this long before the dialler may hang it up
CANCEL_RISK = 0.1  # the "cancel" rule hangs up a dial whose own risk is over this (0.03 and 0.2 also tried)
GAINS = (0.35, 0.5, 0.7, 1.0, 1.4, 2.0)
RATIOS = (2.5, 3.0, 3.5, 4.0)  # power mode's lines per ready agent, the curve pacing improves on


class HeldGain(HoldfastPacer):
    """The shipped rule with the gain held at `gain` and the target at the cap: no learning, no room."""

    def __init__(self, cap: float, gain: float, ring_time: float) -> None:
        super().__init__(cap=cap, ring_time=ring_time)
        self.log_gain = math.log(gain)

    def _learn(self, now: float, weight: float, abandoned: float) -> None:
        pass

    def target(self, now: float) -> float:
        return self.cap

    def over_cap(self, now: float) -> bool:
        return False

    def headroom(self, now: float) -> float:
        return math.inf


class HeldGainCounts(HeldGain):
    """The same decision with Poisson counts and an exact E[max(0, L - A)] (see the module comment)."""

    def dials(self, view: PacingView) -> int:
        if self.est.live_later(0.0) <= 1e-6:
            return view.ready
        allowed = self.target(view.now) * self.gain
        checks = [self._counts(view, t) for t in self._horizons()]
        n = 0
        limit = math.ceil(4 * (view.present + 1) / 0.05)
        while n < limit and all(self._risk(terms, n + 1) <= allowed for terms in checks):
            n += 1
        return n

    def _counts(self, view: PacingView, horizon: float) -> tuple[float, float, float, float]:
        """(live answers coming, calls ending in time, agents surely free less contacts waiting, a
        new dial's chance of a live answer in time)."""
        est = self.est
        lives = sum(est.live_within_fast(age, horizon) for age in view.in_flight)
        reach = horizon + view.connect_allowance
        known = view.ready - view.waiting + sum(1 for left in view.wrapping if left <= reach)
        ending = sum(est.ends_within_fast(talked, reach - view.wrap_up) for talked in view.talking)
        return lives, ending, float(known), est.live_within_fast(0.0, horizon)

    @staticmethod
    def _risk(terms: tuple[float, float, float, float], n: int) -> float:
        lives, ending, known, per_dial = terms
        if per_dial <= 1e-9:
            return 0.0
        more = expected_excess(lives + n * per_dial, ending, known)
        less = expected_excess(lives + (n - 1) * per_dial, ending, known)
        return (more - less) / per_dial


class HeldGainOracle(HeldGain):
    """The shipped rule with the agents' free times known (the "oracle" rule, module comment)."""

    def __init__(self, cap: float, gain: float, ring_time: float, talk_left: Callable[[], list[float]]) -> None:
        super().__init__(cap=cap, gain=gain, ring_time=ring_time)
        self.talk_left = talk_left
        self._left: list[float] = []  # read afresh at each decision

    def dials(self, view: PacingView) -> int:
        self._left = self.talk_left()
        if len(self._left) != len(view.talking):
            raise AssertionError(f"oracle knows {len(self._left)} calls, the view {len(view.talking)}")
        return super().dials(view)

    def _window_terms(self, view: PacingView, horizon: float) -> tuple[float, float, float, float]:
        gap, var, per_dial, lives = super()._window_terms(replace(view, talking=()), horizon)
        reach = horizon + view.connect_allowance
        free = sum(1 for left in self._left if left + view.wrap_up <= reach)
        return gap - free, var, per_dial, lives


class OracleSimulator(OutboundSimulator):
    """The anchor whose pacer may read each connected call's drawn talk time."""

    def call_ends(self) -> dict[str, float]:
        """When each call with an agent ends, by its customer leg: a bridged one from its start, one
        whose agent is being rung from now plus the agent's answer (late by at most that answer)."""
        out = {}
        for request_id, legs in self._req_legs.items():
            req = self.engine.requests.get(request_id)
            if req is None or req.agent_id is None or not legs:
                continue
            leg = legs[-1]
            bridged = self._bridged.get(leg)
            if bridged is not None:
                start, talk = bridged
                out[leg] = start + talk
            else:
                out[leg] = self.now + self.sc.agent_answer + self._legs[leg].talk
        return out

    def talk_left(self) -> list[float]:
        return [max(0.0, end - self.now) for end in self.call_ends().values()]


class _Check:
    """The simulator's own event: look at a dial once it has rung MIN_RING seconds."""

    def __init__(self, leg_id: str) -> None:
        self.leg_id = leg_id


class CancellingSimulator(OutboundSimulator):
    """The anchor with the "cancel" rule (module comment): dials still ringing at MIN_RING are
    looked at once, and hung up (a no answer to the core) when their risk is over CANCEL_RISK."""

    def __init__(self, scenario: OutboundScenario, risk: float = CANCEL_RISK) -> None:
        super().__init__(scenario)
        self.risk = risk
        self.dialled_at: dict[str, float] = {}
        self.ends_at: dict[str, float] = {}  # leg -> when its drawn fate (answer, failure) comes
        self.cancelled: dict[str, float] = {}  # leg -> when it was hung up

    def _push(self, at: float, kind: int, data: Any) -> None:
        leg = getattr(data, "leg_id", None)
        if isinstance(data, (ev.LegAnswered, ev.LegFailed)) and leg in self._legs:
            self.ends_at.setdefault(leg, at)
        super()._push(at, kind, data)

    def _dial(self, cmd: Any) -> None:
        self.dialled_at[cmd.leg_id] = self.now
        super()._dial(cmd)
        if self.ends_at.get(cmd.leg_id, 0.0) > self.now + MIN_RING:  # still ringing then: look at it
            self._push(self.now + MIN_RING, outbound._EVENT, _Check(cmd.leg_id))

    def _feed(self, event: Any) -> None:
        if isinstance(event, _Check):
            self._check(event.leg_id)
        elif getattr(event, "leg_id", None) not in self.cancelled:  # a hung-up dial's fate never comes
            super()._feed(event)

    def _check(self, leg_id: str) -> None:
        if leg_id not in self._legs:
            return
        pacer = self.engine.pacers[CAMPAIGN]
        assert isinstance(pacer, HoldfastPacer)
        view = self.engine.pacing_view(self.engine.campaigns[CAMPAIGN])
        if self.own_risk(pacer, view) > self.risk:
            self.cancelled[leg_id] = self.now
            super()._feed(ev.LegFailed(self.now, leg_id, AttemptOutcome.NO_ANSWER, 16))

    def own_risk(self, pacer: HoldfastPacer, view: PacingView) -> float:
        """The worst, over the horizons left in its ring, of the dial's chance that its live answer
        finds no agent: the fall in E[max(0, L - A)] without it, per live answer it brings."""
        worst = 0.0
        for horizon in pacer._horizons():
            if horizon > self.sc.ring_time - MIN_RING + 1e-9:
                break
            gap, var, _, _ = pacer._window_terms(view, horizon)
            q = pacer.est.live_within_fast(MIN_RING, horizon)
            if q > 1e-9:
                without = pacing._over(gap - q, max(0.0, var - q * (1 - q)))
                worst = max(worst, (pacing._over(gap, var) - without) / q)
        return worst


def poisson(mean: float, size: int) -> list[float]:
    out = [math.exp(-mean)]
    for i in range(1, size):
        out.append(out[-1] * mean / i)
    return out


def expected_excess(lives: float, ending: float, known: float) -> float:
    """E[max(0, L - E - known)] for L ~ Poisson(lives), E ~ Poisson(ending): live answers left
    without an agent."""
    nl = int(lives + 8 * math.sqrt(lives) + 12)
    ne = int(ending + 8 * math.sqrt(ending) + 12)
    pl, pe = poisson(lives, nl), poisson(ending, ne)
    below, below_j = [0.0], [0.0]  # P(E < m), E[E; E < m]
    for j, p in enumerate(pe):
        below.append(below[-1] + p)
        below_j.append(below_j[-1] + j * p)
    total = 0.0
    for i, p in enumerate(pl):
        m = i - known  # answers left after the agents surely free: E takes the rest
        if m <= 0:
            continue
        top = min(ne, math.ceil(m))  # values of E below m
        total += p * (m * below[top] - below_j[top])
    return total


def run_one(job: tuple[str, float, int, float]) -> tuple[str, float, int, dict[str, float]]:
    rule, gain, seed, hours = job
    policy = f"ratio:{gain:g}" if rule == "ratio" else "holdfast"
    sc = OutboundScenario(
        name="anchor", agents=20, horizon=hours * 3600, mix=Mix(0.25, 0.15, 0.05), seed=seed, policy=policy
    )
    sim = {"cancel": CancellingSimulator, "oracle": OracleSimulator}.get(rule, OutboundSimulator)(sc)
    if rule == "ratio":
        return rule, gain, seed, sim.run().summary()
    cls = HeldGainCounts if rule == "counts" else HeldGain

    def factory(c: CampaignSettings) -> HoldfastPacer:
        if isinstance(sim, OracleSimulator):
            return HeldGainOracle(cap=c.abandon_cap, gain=gain, ring_time=c.ring_time, talk_left=sim.talk_left)
        return cls(cap=c.abandon_cap, gain=gain, ring_time=c.ring_time)

    sim.engine.pacer_factory = factory
    summary = sim.run().summary()
    if isinstance(sim, CancellingSimulator):
        summary["cancelled"] = len(sim.cancelled) / max(1, sim.result.dials)
    return rule, gain, seed, summary


def crossing(points: list[tuple[float, float]], at: float) -> float | None:
    """Occupancy where the (abandoned, occupancy) curve crosses `at` abandoned, by linear interpolation."""
    points = sorted(points)
    for (a0, o0), (a1, o1) in itertools.pairwise(points):
        if a0 <= at <= a1 and a1 > a0:
            return o0 + (o1 - o0) * (at - a0) / (a1 - a0)
    return None


def render(rows: dict[tuple[str, float], list[dict[str, float]]], seeds: int, hours: float, wall: float) -> str:
    out = [
        "# Pacing frontier: occupancy against abandonment with the gain held",
        "",
        f"Machine: {machine()}. Wall time {wall:.0f} s. Generated by `python -m bench.pacing_frontier`",
        "(bench/pacing_frontier.py, where the rules are described): the anchor (20 agents, 25 % live, 15 %",
        f"machines, 120 s talk, 10 s wrap-up), {seeds} seeds of {hours:g} h each per point, the same seeds",
        "for every point; the gain held (no learning, no room or fresh-window rules). Mean over seeds.",
        "",
        "| rule | gain (ratio: lines per ready agent) | occupancy | abandoned | worst seed | dials per connect"
        " | dials hung up at 15 s |",
        "|---|---|---|---|---|---|---|",
    ]
    curves: dict[str, list[tuple[float, float]]] = {}
    for (rule, gain), results in sorted(rows.items()):
        occ = statistics.fmean(r["occupancy"] for r in results)
        ab = statistics.fmean(r["abandon"] for r in results)
        worst = max(r["abandon"] for r in results)
        curves.setdefault(rule, []).append((ab, occ))
        per_connect = statistics.fmean(r["dials_per_connect"] for r in results)
        cut = f"{100 * statistics.fmean(r['cancelled'] for r in results):.1f} %" if rule == "cancel" else "-"
        out.append(
            f"| {rule} | {gain:g} | {100 * occ:.1f} % | {100 * ab:.2f} % | {100 * worst:.2f} % "
            f"| {per_connect:.2f} | {cut} |"
        )
    out += ["", "Where each curve crosses an abandon rate (interpolated between the points above):", ""]
    for rule, points in curves.items():
        cells = []
        for at in (0.02, 0.03, 0.05):
            occ = crossing(points, at)
            cells.append(f"{100 * at:g} % → {'-' if occ is None else f'{100 * occ:.1f} %'}")
        out.append(f"- {rule}: " + ", ".join(cells))
    out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pacing_frontier", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--hours", type=float, default=4.0)
    p.add_argument("--gains", default=",".join(f"{g:g}" for g in GAINS))
    p.add_argument("--rules", default=",".join(RULES))
    p.add_argument("--ratios", default=",".join(f"{r:g}" for r in RATIOS))
    p.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    p.add_argument("--out", default="docs/bench-pacing-frontier.md")
    args = p.parse_args(argv)
    gains = [float(g) for g in args.gains.split(",")]
    rules = [r for r in args.rules.split(",") if r]
    unknown = set(rules) - set(RULES)
    if unknown:
        p.error(f"unknown rules {sorted(unknown)}; known: {', '.join(RULES)}")
    seeds = range(1, args.seeds + 1)
    jobs = [(rule, gain, seed, args.hours) for rule in rules for gain in gains for seed in seeds]
    jobs += [("ratio", float(r), seed, args.hours) for r in args.ratios.split(",") if r for seed in seeds]
    started = time.perf_counter()
    with multiprocessing.Pool(args.jobs) as pool:
        done = pool.map(run_one, jobs)
    rows: dict[tuple[str, float], list[dict[str, float]]] = {}
    for rule, gain, _, summary in done:
        rows.setdefault((rule, gain), []).append(summary)
    text = render(rows, args.seeds, args.hours, time.perf_counter() - started)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
