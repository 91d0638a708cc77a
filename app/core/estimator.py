"""Estimated wait: what a caller is told, and what drives the callback offer.

Theory of operation: model the queue as M/M/s+M (Erlang-A) with parameters learned online, and
use the full-information conditional expectation for a caller with n requests ahead of them:

    E[W | n ahead] = sum_{i=0..n} 1 / (s*mu + i*theta)

(the time until each of the n callers ahead, then the caller, is taken: with k still waiting
ahead, the next departure from the queue comes at rate s*mu + k*theta). s is the number of agents
serving the queue (from the engine), 1/mu the mean time an agent spends per request (talk +
wrap-up) and theta the abandonment rate of one waiting caller. Callers with a free agent ahead of
them wait about nothing.

Learning. Both parameters are ratios of sums that forget slowly, counted in observations rather
than seconds (a quiet night teaches nothing, so it should not erase what the day taught):
- mu: 1 / mean of completed handle times (the prior counts as one pseudo-observation, so early
  estimates are the plain running mean).
- theta: maximum-likelihood rate for exponential patience with censoring: abandons / total time
  waited by everyone who left the queue (served callers' waits are censored patience). Callers
  taken at once carry no information about patience and do not age the sums.
The benchmark (`make bench`, docs/bench-wait-estimate.md) shows why the memory must be long: the
wait of a caller deep in the queue is a sum of many small steps (its own randomness is about
1/sqrt(n+1) of the mean), so a few percent of noise in mu is as large as the queue's own randomness.
A long memory follows real changes slowly, so each ratio is kept at two speeds (`_Ratio`): a long
memory (`handle_window` / `patience_window` observations) that is used, and shorter probes
(`probe_windows`) that are only watched. When a probe differs from the long memory by more than
`change_z` standard errors (a change-point test; the standard error comes from the observations'
own spread, so heavy-tailed handle times do not raise false alarms), the long memory is replaced by
the probe's and grows long again from there. Stationary queues thus get the precision of the long
memory, and a real shift in handle time or patience is followed within a few hundred observations.
Everything is O(1) per observation and deterministic.
A short moving average (Asterisk app_queue's (3 old + last)/4) does much worse because it ignores
the caller's position and the agents present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

NO_AGENTS_WAIT = 24 * 3600.0  # "very long": nobody is serving the queue


class WaitEstimator(Protocol):
    def on_served(self, queue: str, waited: float, now: float) -> None: ...

    def on_abandoned(self, queue: str, waited: float, now: float) -> None: ...

    def on_handled(self, queue: str, handle_time: float, now: float) -> None: ...

    def estimate(self, queue: str, ahead: int, agents: int, free_agents: int) -> float: ...


@dataclass(slots=True)
class _Sums:
    """Exponentially weighted sums of pairs (a, b), for the ratio sum(a) / sum(b) and its variance."""

    a: float = 0.0
    b: float = 0.0
    aa: float = 0.0
    ab: float = 0.0
    bb: float = 0.0
    w: float = 0.0  # sum of weights ...
    w2: float = 0.0  # ... and of squared weights (effective sample size w*w/w2)

    def add(self, a: float, b: float, keep: float) -> None:
        k2 = keep * keep
        self.a = self.a * keep + a
        self.b = self.b * keep + b
        self.aa = self.aa * keep + a * a
        self.ab = self.ab * keep + a * b
        self.bb = self.bb * keep + b * b
        self.w = self.w * keep + 1.0
        self.w2 = self.w2 * k2 + 1.0

    def ratio(self) -> float:
        return self.a / self.b if self.b > 0 else 0.0

    def variance(self, r: float) -> float:
        """Delta-method variance of sum(a)/sum(b) if the true ratio is r."""
        if self.b <= 0 or self.w <= 0:
            return math.inf
        spread = max(self.aa - 2.0 * r * self.ab + r * r * self.bb, 0.0)
        return (self.w2 / self.w) * spread / (self.b * self.b)

    def copy(self) -> _Sums:
        return _Sums(self.a, self.b, self.aa, self.ab, self.bb, self.w, self.w2)


class _Ratio:
    """sum(a) / sum(b) over a long memory, reset to a shorter probe's when the two clearly disagree."""

    __slots__ = ("_keep", "_min_probe", "_probe_keeps", "_z2", "long", "probes", "resets")

    def __init__(self, window: float, probe_windows: tuple[float, ...], z: float, prior: tuple[float, float] | None):
        self._keep = 1.0 - 1.0 / window
        self._probe_keeps = tuple(1.0 - 1.0 / p for p in probe_windows)
        self._z2 = z * z
        self._min_probe = 30.0  # observations in a probe before it is trusted to call a change
        self.long = _Sums()
        self.probes = [_Sums() for _ in probe_windows]
        self.resets = 0
        if prior is not None:
            self.long.add(prior[0], prior[1], 1.0)
            for probe in self.probes:
                probe.add(prior[0], prior[1], 1.0)

    def value(self) -> float:
        return self.long.ratio()

    def add(self, a: float, b: float) -> None:
        long = self.long
        long.add(a, b, self._keep)
        r = long.ratio()
        for probe, keep in zip(self.probes, self._probe_keeps, strict=True):
            probe.add(a, b, keep)
            if probe.w < self._min_probe or probe.b <= 0 or long.w < 4.0 * probe.w:
                continue  # too little data, or the long memory is not yet much longer than the probe
            diff = probe.ratio() - r
            # variance of (probe - long): the two share data; for EW memories of n_p and n_l
            # observations it is var(probe) * (1 + n_p/n_l - 4 n_p/(n_p + n_l)), >= 0.45 var(probe) here
            share = probe.w / long.w
            factor = 1.0 + share - 4.0 * share / (1.0 + share)
            if diff * diff > self._z2 * factor * probe.variance(r):
                self.long = probe.copy()
                self.resets += 1
                return  # one reset per observation; the other probes keep their own memories


@dataclass(slots=True)
class _QueueStats:
    handle: _Ratio  # sum of handle times / number of calls handled (prior: one call)
    patience: _Ratio  # abandons / seconds waited by callers who left the queue


class ErlangAEstimator:
    """Learns handle time and patience per queue; see the module comment."""

    def __init__(
        self,
        prior_handle_time: float = 180.0,
        handle_window: float = 2000.0,
        patience_window: float = 5000.0,
        probe_windows: tuple[float, ...] = (200.0,),
        change_z: float = 4.0,
    ) -> None:
        self._prior = prior_handle_time
        self._handle_window = handle_window
        self._patience_window = patience_window
        self._probe_windows = probe_windows
        self._z = change_z
        self._stats: dict[str, _QueueStats] = {}

    def _for(self, queue: str) -> _QueueStats:
        stats = self._stats.get(queue)
        if stats is None:
            probes, z = self._probe_windows, self._z
            stats = self._stats[queue] = _QueueStats(
                handle=_Ratio(self._handle_window, probes, z, prior=(self._prior, 1.0)),
                patience=_Ratio(self._patience_window, probes, z, prior=None),
            )
        return stats

    def _wait_observed(self, stats: _QueueStats, waited: float, abandoned: bool) -> None:
        if waited <= 0.0 and not abandoned:
            return  # taken at once: says nothing about patience
        stats.patience.add(1.0 if abandoned else 0.0, max(waited, 0.0))

    def on_served(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=False)

    def on_abandoned(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=True)

    def on_handled(self, queue: str, handle_time: float, now: float) -> None:
        self._for(queue).handle.add(max(handle_time, 1.0), 1.0)

    def mean_handle_time(self, queue: str) -> float:
        return self._for(queue).handle.value()

    def abandon_rate(self, queue: str) -> float:
        return self._for(queue).patience.value()

    def changes_detected(self, queue: str) -> tuple[int, int]:
        """How often the (handle time, patience) memories were reset by the change test."""
        stats = self._for(queue)
        return stats.handle.resets, stats.patience.resets

    def estimate(self, queue: str, ahead: int, agents: int, free_agents: int) -> float:
        if ahead < free_agents:
            return 0.0
        if agents <= 0:
            return NO_AGENTS_WAIT
        service_rate = agents / self.mean_handle_time(queue)
        theta = self.abandon_rate(queue)
        waiting_ahead = ahead - free_agents
        if theta <= 0.0:
            return (waiting_ahead + 1) / service_rate
        return sum(1.0 / (service_rate + i * theta) for i in range(waiting_ahead + 1))
