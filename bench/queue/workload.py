"""The benchmark's workload: seeded, pure, and identical for both systems.

A load is N agents with a mean talk time, a mean patience and an offered load rho measured over the
full agent cycle (answer delay + talk + wrap-up), so the arrival rate is lambda = rho * N / cycle. The
workload is a warm start of one caller per agent at t=0 plus Poisson arrivals for `duration`
seconds; every caller carries a pre-drawn exponential patience and talk time. The same seed gives
the same callers whichever system runs them: the comparison is paired, caller by caller.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ANSWER_DELAY = 0.5  # the agent's phone answers this long after it starts ringing
WRAP_UP = 5.0  # seconds of after-call work, in both systems' configuration
CALLER_PREFIX = "+4590"  # caller ids are CALLER_PREFIX + 6-digit index: agents' legs show who called


@dataclass(frozen=True)
class Load:
    name: str
    agents: int
    talk_mean: float
    patience_mean: float
    rho: float

    @property
    def cycle(self) -> float:
        """Mean time an agent is occupied per call."""
        return ANSWER_DELAY + self.talk_mean + WRAP_UP

    @property
    def arrival_rate(self) -> float:
        return self.rho * self.agents / self.cycle


LOADS: dict[str, Load] = {
    "a": Load("a", agents=10, talk_mean=20.0, patience_mean=60.0, rho=0.95),
    "b": Load("b", agents=20, talk_mean=10.0, patience_mean=30.0, rho=1.1),
    "c": Load("c", agents=50, talk_mean=15.0, patience_mean=60.0, rho=1.0),
}


@dataclass(frozen=True)
class Caller:
    index: int
    at: float  # seconds after the start of the run
    patience: float  # hangs up this long after being answered unless bridged to an agent
    talk: float  # the agent talks this long after answering, then hangs up

    @property
    def caller_id(self) -> str:
        return caller_id(self.index)


def caller_id(index: int) -> str:
    return f"{CALLER_PREFIX}{index:06d}"


def caller_index(number: str) -> int | None:
    """The caller's index from a caller id as either Asterisk shows it (last 6 digits), else None."""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 6 or not digits[:-6].endswith(CALLER_PREFIX[1:]):
        return None
    return int(digits[-6:])


def make_workload(load: Load, duration: float, seed: int) -> list[Caller]:
    """Warm start (one caller per agent at t=0) plus Poisson arrivals over [0, duration)."""
    rng = random.Random(f"{seed}:{load.name}")  # string seeds hash deterministically
    times = [0.0] * load.agents
    t = rng.expovariate(load.arrival_rate)
    while t < duration:
        times.append(t)
        t += rng.expovariate(load.arrival_rate)
    return [
        Caller(i, at, rng.expovariate(1 / load.patience_mean), rng.expovariate(1 / load.talk_mean))
        for i, at in enumerate(times)
    ]
