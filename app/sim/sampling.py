"""Seeded sampling of the scenario's random quantities; one stream per purpose.

Separate streams (arrivals, patience, handle times, agent behaviour, callbacks) keep runs
comparable: changing, say, the callback answer probability does not reshuffle arrival times.
String seeds are hashed with SHA-512 by `random.Random`, so they do not depend on PYTHONHASHSEED.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from app.sim.scenario import Dist


def stream(seed: int, purpose: str) -> random.Random:
    return random.Random(f"holdfast-sim:{seed}:{purpose}")


def sampler(dist: Dist, rng: random.Random) -> Callable[[], float]:
    """A zero-argument function drawing from `dist` with `rng`."""
    if dist.kind == "fixed":
        value = dist.mean
        return lambda: value
    if dist.kind == "exponential":
        rate = 1.0 / dist.mean
        expo = rng.expovariate
        return lambda: expo(rate)
    if dist.kind == "lognormal":
        sigma = math.sqrt(math.log(1.0 + dist.cv**2))
        mu = math.log(dist.mean) - sigma**2 / 2
        lognorm = rng.lognormvariate
        return lambda: lognorm(mu, sigma)
    if dist.kind == "weibull":
        scale = dist.mean / math.gamma(1.0 + 1.0 / dist.shape)
        shape = dist.shape
        weib = rng.weibullvariate
        return lambda: weib(scale, shape)
    raise ValueError(dist.kind)
