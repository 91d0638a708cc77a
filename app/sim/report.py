"""Figures from one simulation run, and their text rendering.

Definitions (callers arriving after the warm-up only):
- wait: arrival to being connected with an agent, for served callers; percentiles over them.
- abandoned: callers who hung up while holding (including while an agent was being rung).
- SLA: callers served within the queue's service level / callers who were served or abandoned
  (callers who took a callback are left out of both).
- occupancy: agents ringing, talking or in wrap-up / agents present, time-averaged from samples.
- estimate error: Holdfast's estimate at arrival minus the potential wait, for callers who found
  every agent busy (see simulator.py for how potential waits of abandoning callers are found).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.sim.simulator import SimResult


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    arrivals: int
    served: int
    abandoned: int
    callbacks: int
    still_waiting: int  # holding or being rung when the run stopped
    other: int  # ended otherwise (closed, missed callback, ...)
    mean_wait: float
    p50_wait: float
    p90_wait: float
    p95_wait: float
    max_wait: float
    sla: float
    abandon_rate: float
    occupancy: float
    mean_queue: float
    max_queue: int
    offers: int
    callback_attempts: int
    callback_answered: int
    callbacks_served: int
    judged: int  # callers who found every agent busy and whose potential wait is known
    estimate_rmse: float
    estimate_mae: float
    estimate_bias: float
    simulated_hours: float
    events: int


def summarize(result: SimResult) -> Summary:
    sc = result.scenario
    callers = [x for x in result.callers if x.arrival >= sc.warmup]
    served = [x for x in callers if x.outcome == "served" and not x.callback]
    abandoned = [x for x in callers if x.outcome == "abandoned" and not x.callback]
    callbacks = [x for x in callers if x.callback]
    waiting = [x for x in callers if x.outcome is None and not x.callback]
    other = len(callers) - len(served) - len(abandoned) - len(callbacks) - len(waiting)
    waits = sorted((x.connected_at or x.arrival) - x.arrival for x in served)
    within = sum(1 for w in waits if w <= sc.service_level)
    judged = [x for x in callers if x.busy_on_arrival and x.potential_wait is not None and not x.callback]
    errors = [x.estimate - (x.potential_wait or 0.0) for x in judged]
    samples = [s for s in result.samples if s.t >= sc.warmup] or result.samples
    present = sum(s.present for s in samples)
    n = len(errors)
    return Summary(
        arrivals=len(callers),
        served=len(served),
        abandoned=len(abandoned),
        callbacks=len(callbacks),
        still_waiting=len(waiting),
        other=other,
        mean_wait=sum(waits) / len(waits) if waits else math.nan,
        p50_wait=percentile(waits, 0.5),
        p90_wait=percentile(waits, 0.9),
        p95_wait=percentile(waits, 0.95),
        max_wait=waits[-1] if waits else math.nan,
        sla=within / (len(served) + len(abandoned)) if served or abandoned else math.nan,
        abandon_rate=len(abandoned) / (len(served) + len(abandoned)) if served or abandoned else math.nan,
        occupancy=sum(s.busy for s in samples) / present if present else math.nan,
        mean_queue=sum(s.waiting for s in samples) / len(samples) if samples else math.nan,
        max_queue=max((s.waiting for s in samples), default=0),
        offers=result.offers,
        callback_attempts=result.callback_attempts,
        callback_answered=result.callback_answered,
        callbacks_served=sum(1 for x in callbacks if x.outcome == "served"),
        judged=n,
        estimate_rmse=math.sqrt(sum(e * e for e in errors) / n) if n else math.nan,
        estimate_mae=sum(abs(e) for e in errors) / n if n else math.nan,
        estimate_bias=sum(errors) / n if n else math.nan,
        simulated_hours=result.end / 3600.0,
        events=result.events,
    )


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f} s"


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f} %"


def render(result: SimResult, summary: Summary | None = None) -> str:
    s = summary or summarize(result)
    sc = result.scenario
    lines = [
        f"Scenario {sc.name!r}: {sc.agents} agents, {sc.calls_per_hour:g} calls/h "
        f"(offered load {sc.offered_load:.2f}), seed {sc.seed}, {s.simulated_hours:.1f} h simulated",
        "",
        f"  callers            {s.arrivals}  (after a warm-up of {sc.warmup / 60:g} min)",
        f"  served             {s.served}",
        f"  abandoned          {s.abandoned}  ({_pct(s.abandon_rate)} of served + abandoned)",
        f"  took a callback    {s.callbacks}  (offers {s.offers}, attempts {s.callback_attempts}, "
        f"answered {s.callback_answered}, served {s.callbacks_served})",
        f"  still waiting      {s.still_waiting}",
        f"  other endings      {s.other}",
        "",
        f"  wait (served)      mean {_s(s.mean_wait)}, median {_s(s.p50_wait)}, p90 {_s(s.p90_wait)}, "
        f"p95 {_s(s.p95_wait)}, max {_s(s.max_wait)}",
        f"  SLA                {_pct(s.sla)} served within {sc.service_level:g} s",
        f"  occupancy          {_pct(s.occupancy)}",
        f"  queue length       mean {s.mean_queue:.1f}, max {s.max_queue}",
        "",
        f"  estimated wait     {s.judged} callers found every agent busy; Holdfast's estimate vs potential wait:",
        f"                     RMSE {_s(s.estimate_rmse)}, MAE {_s(s.estimate_mae)}, bias {_s(s.estimate_bias)}",
    ]
    return "\n".join(lines)
