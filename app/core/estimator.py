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
- mu: calls completed / agent seconds spent on the queue's calls (the exposure, a censored
  maximum-likelihood estimate). The engine reports each call's start and end (`TracksWorkInProgress`),
  so the time already spent by calls still in progress counts: each completion is one observation
  of the agent seconds spent since the previous completion, and those counted since the last one
  (up to the last reported start or end: estimate() is not given the time) are added when it is read.
  A mean of *completed* handle times alone is biased short while
  the memory reaches back to a start from empty (the calls still in progress are the long ones:
  about -(agents x mean handle) / calls completed), which kept the memory short; the exposure has no
  such bias, so the memory can be long. A wrap-up is counted when its call ends. The prior counts as
  one pseudo-observation; a call whose start was not reported (e.g. in progress at a restart) and
  `on_handled` count the whole handle time at the end.
- theta: maximum-likelihood rate for exponential patience with censoring: abandons / total time
  waited by everyone who left the queue (served callers' waits are censored patience). Callers
  taken at once carry no information about patience and do not age the sums. Callers still
  waiting are not counted (the engine does not report queue entries to the estimator); an
  experiment that counted them moved the benchmark's tightest row by less than its noise.
The benchmark (`make bench`, docs/bench-wait-estimate.md) shows why the memory must be long: the
wait of a caller deep in the queue is a sum of many small steps (its own randomness is about
1/sqrt(n+1) of the mean), so a few percent of noise in mu is as large as the queue's own randomness.
A long memory follows real changes slowly, so each ratio is kept at two speeds (`_Ratio`): a long
memory (`handle_window` / `patience_window` observations) that is used, and shorter probes
(`probe_windows`) that are only watched. When a probe differs from the long memory by more than
`change_z` standard errors (a change-point test; the standard error comes from the observations'
own spread, so heavy-tailed handle times rarely raise false alarms: with lognormal cv 1.5 one per
10,000-50,000 calls in the unit tests), the long memory is replaced by
the probe's and grows long again from there. Stationary queues thus get the precision of the long
memory, and a real shift in handle time or patience is followed within a few hundred observations.
Everything is O(1) per observation (and per call start) and deterministic. The agents s are those
the engine counts as serving: an agent who asked to log out or pause during a call is not counted.
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


class TracksWorkInProgress(Protocol):
    """Optional: an estimator that also counts the time already spent by calls still in progress.

    The engine reports each call's start (talk begins) and end; an estimator that has these methods
    gets `on_call_started` / `on_call_ended` instead of `on_handled`.
    """

    def on_call_started(self, queue: str, now: float) -> None: ...

    def on_call_ended(self, queue: str, started: float, handle_time: float, now: float) -> None: ...


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
class _InService:
    """Agent seconds spent on the queue's calls since its last completion, including calls in progress."""

    calls: int = 0  # calls reported started and not yet ended
    accrued: float = 0.0  # agent seconds since the last completion, up to `since`
    since: float = 0.0

    def advance(self, now: float) -> None:
        if now > self.since:
            self.accrued += self.calls * (now - self.since)
            self.since = now


@dataclass(slots=True)
class _QueueStats:
    handle: _Ratio  # agent seconds / calls completed (prior: one call)
    patience: _Ratio  # abandons / seconds waited by callers who left the queue
    in_service: _InService


class ErlangAEstimator:
    """Learns handle time and patience per queue; see the module comment."""

    def __init__(
        self,
        prior_handle_time: float = 180.0,
        handle_window: float = 5000.0,
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
                in_service=_InService(),
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
        """A completed call whose start was not reported: its whole handle time is one observation."""
        self._completed(self._for(queue), max(handle_time, 1.0), now)

    def on_call_started(self, queue: str, now: float) -> None:
        in_service = self._for(queue).in_service
        in_service.advance(now)
        in_service.calls += 1

    def on_call_ended(self, queue: str, started: float, handle_time: float, now: float) -> None:
        """A call reported by `on_call_started` ended; handle_time = talk + wrap-up."""
        stats = self._for(queue)
        in_service = stats.in_service
        if in_service.calls <= 0:  # its start was never reported (e.g. a call in progress at a restart)
            self._completed(stats, max(handle_time, 1.0), now)
            return
        in_service.advance(now)
        in_service.calls -= 1
        # its talk time so far was counted while it was in progress; the wrap-up is added now
        self._completed(stats, max(handle_time - (now - started), 0.0), now)

    def _completed(self, stats: _QueueStats, extra: float, now: float) -> None:
        in_service = stats.in_service
        in_service.advance(now)
        stats.handle.add(in_service.accrued + extra, 1.0)
        in_service.accrued = 0.0

    def mean_handle_time(self, queue: str) -> float:
        """Agent seconds per call: censored estimate, also counting the time spent by calls in progress."""
        stats = self._for(queue)
        long = stats.handle.long
        return (long.a + stats.in_service.accrued) / long.b if long.b > 0 else self._prior

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
