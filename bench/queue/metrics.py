"""Turn the timestamps of one run into the figures of the report (pure; no I/O).

All times are seconds on the host's realtime clock, taken from the Asterisk events' own timestamps
(both Asterisks run on this host), so Python's scheduling does not leak into the figures.

- caller INVITE → answered: the SUT creates the caller's channel (INVITE received) → the phone
  sees the call answered (200 OK).
- wait join → bridged: the phone sees the answer (the caller joins the queue) → the SUT has the
  caller's and the agent's channels in one bridge.
- agent 200 OK → bridged: the agent's phone answers → that bridge.
- dispatch latency: an agent's wrap-up ends (its hang-up + WRAP_UP) → its phone is offered the
  next call, counted only when at that moment a caller was waiting (joined, not yet offered to an
  agent, still there) and no other agent was idle: the system had exactly one right move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.queue.workload import WRAP_UP


@dataclass
class AgentLeg:
    agent: str
    caller: int | None
    offered_at: float  # INVITE reached the agent's phone
    up_at: float | None = None  # the phone answered
    ended_at: float | None = None
    hung_up_by_agent: bool = False  # the talk ran out (not the caller or the SUT ending it)


@dataclass
class CallerRecord:
    index: int
    invite_at: float | None = None
    answered_at: float | None = None
    bridged_at: float | None = None
    ended_at: float | None = None
    abandoned: bool = False  # hung up by its patience before any bridge
    failed: str = ""  # why the call could not be placed or was not answered
    legs: list[AgentLeg] = field(default_factory=list)


@dataclass(frozen=True)
class RunFigures:
    calls: int
    answered: int
    bridged: int
    abandoned: int
    lost: int  # not answered, or ended by the SUT before any bridge
    stuck: int  # still up when the run ended
    dispatch: list[float]
    wait: list[float]
    agent_to_bridge: list[float]
    invite_to_answer: list[float]
    cpu: dict[str, float]  # process -> CPU seconds over the run
    # Holdfast's own counters over the run (from its /metrics): REST requests, ARI events
    # received, store transactions (one fsync each) and engine steps stored. Empty for app_queue
    # and for runs made before they were recorded.
    counters: dict[str, float] = field(default_factory=dict)
    # The two latencies again for the Poisson arrivals only, without the warm start (one caller
    # per agent at t=0, then every agent answering at once): that burst is the top of the tails.
    agent_to_bridge_arrivals: list[float] = field(default_factory=list)
    invite_to_answer_arrivals: list[float] = field(default_factory=list)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in [0, 1]); NaN for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _occupied(leg: AgentLeg, t: float) -> bool:
    """Whether the agent of `leg` is unavailable at t because of that leg (ringing, talking, wrap-up)."""
    if leg.offered_at > t:
        return False
    if leg.ended_at is None:
        return True
    wrap = WRAP_UP if leg.hung_up_by_agent else 0.0
    return t < leg.ended_at + wrap


def dispatch_latencies(callers: Sequence[CallerRecord], agents: Sequence[str]) -> list[float]:
    """See the module docstring; one figure per agent wrap-up end that met the condition."""
    legs = [leg for c in callers for leg in c.legs]
    by_agent: dict[str, list[AgentLeg]] = {
        a: sorted((x for x in legs if x.agent == a), key=lambda x: x.offered_at) for a in agents
    }
    out: list[float] = []
    for agent, own in by_agent.items():
        for i, leg in enumerate(own):
            if not leg.hung_up_by_agent or leg.ended_at is None or i + 1 >= len(own):
                continue
            free_at = leg.ended_at + WRAP_UP
            nxt = own[i + 1]
            if nxt.offered_at < free_at:
                continue  # the system did not honour wrap-up (should not happen); not a dispatch
            if not any(_waiting(c, free_at) for c in callers):
                continue
            if any(not any(_occupied(x, free_at) for x in by_agent[other]) for other in agents if other != agent):
                continue
            out.append(nxt.offered_at - free_at)
    return out


def _waiting(c: CallerRecord, t: float) -> bool:
    if c.answered_at is None or c.answered_at > t:
        return False
    if c.ended_at is not None and c.ended_at <= t:
        return False
    return not any(leg.offered_at <= t for leg in c.legs)


def figures(
    callers: Sequence[CallerRecord],
    agents: Sequence[str],
    cpu: dict[str, float],
    counters: dict[str, float] | None = None,
) -> RunFigures:
    """`callers` in workload order: the first len(agents) are the warm start."""
    lost = sum(1 for c in callers if c.failed or (c.bridged_at is None and not c.abandoned and c.ended_at is not None))
    stuck = sum(1 for c in callers if not c.failed and c.ended_at is None) + sum(
        1 for c in callers for leg in c.legs if leg.ended_at is None
    )
    arrivals = [c for c in callers if c.index >= len(agents)]
    return RunFigures(
        calls=len(callers),
        answered=sum(1 for c in callers if c.answered_at is not None),
        bridged=sum(1 for c in callers if c.bridged_at is not None),
        abandoned=sum(1 for c in callers if c.abandoned),
        lost=lost,
        stuck=stuck,
        dispatch=dispatch_latencies(callers, agents),
        wait=[c.bridged_at - c.answered_at for c in callers if c.bridged_at is not None and c.answered_at is not None],
        agent_to_bridge=_agent_to_bridge(callers),
        invite_to_answer=_invite_to_answer(callers),
        cpu=cpu,
        counters=dict(counters or {}),
        agent_to_bridge_arrivals=_agent_to_bridge(arrivals),
        invite_to_answer_arrivals=_invite_to_answer(arrivals),
    )


def _agent_to_bridge(callers: Sequence[CallerRecord]) -> list[float]:
    return [
        c.bridged_at - leg.up_at
        for c in callers
        for leg in c.legs
        if c.bridged_at is not None and leg.up_at is not None and leg.up_at <= c.bridged_at and leg is _bridged_leg(c)
    ]


def _invite_to_answer(callers: Sequence[CallerRecord]) -> list[float]:
    return [c.answered_at - c.invite_at for c in callers if c.answered_at is not None and c.invite_at is not None]


def _bridged_leg(c: CallerRecord) -> AgentLeg | None:
    """The leg that got bridged: the last one answered before the bridge."""
    answered = [
        leg for leg in c.legs if leg.up_at is not None and c.bridged_at is not None and leg.up_at <= c.bridged_at
    ]
    return max(answered, key=lambda leg: leg.up_at or 0.0) if answered else None
