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
A long memory follows real changes slowly, so each ratio is watched by a change-point test
(`_Ratio`): two one-sided CUSUMs of the likelihood ratio for "the rate moved by `change_ratio`
(x1.3 or /1.3)", scaled by the data's own over-dispersion. When one passes `change_threshold`
(8 log-likelihood units: about one false alarm per 50,000 stationary observations, exponential or
lognormal cv 1.5), the long memory restarts from the observations since that CUSUM last stood at
zero (its estimate of when the change began) and grows long again from there. A +50 % shift in
handle time is called after a median of ~80 completions and -30 % after ~140; the restarted
estimate holds post-change data only, so it is unbiased (the earlier test restarted from a
200-observation exponential probe that still held a fifth of the old data: -19 % bias for long).
Before the alarm the estimate already leans towards the data since the change-point estimate, by the
posterior probability of a change (`_Ratio.value`): with 10 agents an alarm takes about an hour
after a +50 % step, and waiting for it kept the estimate off for most of that hour.
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


SOFT_SPAN = 1800.0  # seconds: with `soft`, the prior rate of changes (one per SOFT_SPAN * e^soft seconds)


class _Ratio:
    """sum(a) / sum(b) over a long memory, restarted from the data since a change when a CUSUM finds one.

    The quantity learned is a rate: events per exposure (completions per agent second for handle
    time, stored as a = exposure, b = events; abandons per second waited for patience, a = events,
    b = exposure). Two one-sided CUSUMs of the log-likelihood ratio for "the rate is now `ratio`
    times the long memory's" (Poisson events over the exposure: d ln c - (c - 1) rate t per
    observation) watch it, each divided by the observed over-dispersion (sum of squared residuals /
    events, 1 for exponential data) so heavy-tailed handle times do not raise false alarms. Each
    CUSUM keeps the sums since it last stood at zero: at an alarm those are the observations since
    the change began (the CUSUM's change-point estimate), and the long memory restarts from them
    alone, so no pre-change data biases the new estimate (restarting from a short exponential probe
    kept a fifth of the old data in it). The memory then grows long again.
    """

    __slots__ = (
        "_cusum",
        "_exposure_first",
        "_h",
        "_hold",
        "_keep",
        "_last",
        "_logs",
        "_ratios",
        "_since",
        "_since_start",
        "_soft",
        "long",
        "resets",
    )

    MIN_OBS = 50.0  # observations in the long memory before it is trusted as the CUSUM's reference

    def __init__(
        self,
        window: float,
        ratio: float,
        threshold: float,
        exposure_first: bool,
        prior: tuple[float, float] | None,
        soft: float | None = None,
    ) -> None:
        self._keep = 1.0 - 1.0 / window
        self._exposure_first = exposure_first
        self._ratios = (ratio, 1.0 / ratio)  # rate up, rate down
        self._logs = (math.log(ratio), -math.log(ratio))
        self._h = threshold
        self._soft = soft
        self._hold = self.MIN_OBS  # the CUSUMs start when the long memory holds this many observations
        self._cusum = [0.0, 0.0]
        self._since = [_Sums(), _Sums()]
        self._since_start = [0.0, 0.0]  # time of the first observation in each CUSUM's since-data
        self._last = 0.0  # time of the last observation
        self.long = _Sums()
        self.resets = 0
        if prior is not None:
            self.long.add(prior[0], prior[1], 1.0)

    def value(self, extra_a: float = 0.0) -> float:
        """The ratio (with `extra_a` added to sum(a)), moved towards the data since the leading
        CUSUM's change-point estimate by the posterior probability that there was a change: odds
        (span / SOFT_SPAN) e^(score - soft), i.e. the CUSUM's likelihood ratio for "the rate moved
        by the change ratio, from the change-point estimate on" times the prior odds of a change in
        the `span` seconds those data cover (changes expected once per SOFT_SPAN e^soft seconds:
        about 200 hours with soft 6). Why: with 10 agents on 6-minute calls the alarm (score 8)
        comes 30-190 minutes after a +50 % step; the evidence builds up well before it. Weighing by
        the span keeps the short excursions of a busy stationary CUSUM (minutes of data) from moving
        the estimate, which cost the long-queue rows of the benchmark a few percent without it. At
        the alarm the memory restarts from these same data, which by then mostly carry the estimate.
        """
        long = self.long
        base = (long.a + extra_a) / long.b if long.b > 0 else 0.0
        if self._soft is None:
            return base
        side = 0 if self._cusum[0] >= self._cusum[1] else 1
        score, since = self._cusum[side], self._since[side]
        span = self._last - self._since_start[side]
        if score <= 0.0 or since.b <= 0 or span <= 0.0:
            return base
        odds = span / SOFT_SPAN * math.exp(score - self._soft)  # posterior odds that the change is real
        p = odds / (1.0 + odds)
        return (1.0 - p) * base + p * (since.a + extra_a) / since.b

    def _events_exposure(self, s: _Sums) -> tuple[float, float, float]:
        """(events, exposure, squared residuals around the rate) of a memory."""
        if self._exposure_first:
            t, d, tt, dd = s.a, s.b, s.aa, s.bb
        else:
            d, t, dd, tt = s.a, s.b, s.aa, s.bb
        rate = d / t if t > 0 else 0.0
        return d, t, max(dd - 2.0 * rate * s.ab + rate * rate * tt, 0.0)

    def add(self, a: float, b: float, now: float) -> None:
        self._last = now
        long = self.long
        if long.w >= self._hold and long.a > 0 and long.b > 0 and self._watch(a, b):
            return  # restarted from the data since the change, this observation included
        long.add(a, b, self._keep)

    def _watch(self, a: float, b: float) -> bool:
        """Feed one observation to the CUSUMs; True if they called a change and the memory restarted."""
        d_all, t_all, spread = self._events_exposure(self.long)
        rate = d_all / t_all
        # quasi-likelihood: exponential data have spread ~ events; heavier tails scale the test down
        dispersion = max(spread / d_all, 1.0) if d_all > 0 else 1.0
        d, t = (b, a) if self._exposure_first else (a, b)
        for side in (0, 1):
            c = self._ratios[side]
            score = self._cusum[side] + (d * self._logs[side] - (c - 1.0) * rate * t) / dispersion
            if score <= 0.0:
                self._cusum[side] = 0.0
                self._since[side] = _Sums()
                continue
            if self._cusum[side] <= 0.0:
                self._since_start[side] = self._last
            self._cusum[side] = score
            self._since[side].add(a, b, 1.0)
            if score > self._h:
                restart = self._since[side]
                self.long = restart.copy()
                # let the new reference settle before it is tested against
                self._hold = min(max(self.MIN_OBS, 2.0 * restart.w), 0.5 / (1.0 - self._keep))
                self._cusum = [0.0, 0.0]
                self._since = [_Sums(), _Sums()]
                self.resets += 1
                return True
        return False


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
        change_ratio: float = 1.3,
        change_threshold: float = 8.0,
        soft: float | None = 6.0,  # score at which 30 min of new data get weight 1/2; None: at the alarm only
    ) -> None:
        self._prior = prior_handle_time
        self._handle_window = handle_window
        self._patience_window = patience_window
        self._change_ratio = change_ratio
        self._change_threshold = change_threshold
        self._soft = soft
        self._stats: dict[str, _QueueStats] = {}

    def _for(self, queue: str) -> _QueueStats:
        stats = self._stats.get(queue)
        if stats is None:
            c, h, soft = self._change_ratio, self._change_threshold, self._soft
            stats = self._stats[queue] = _QueueStats(
                handle=_Ratio(self._handle_window, c, h, exposure_first=True, prior=(self._prior, 1.0), soft=soft),
                patience=_Ratio(self._patience_window, c, h, exposure_first=False, prior=None, soft=soft),
                in_service=_InService(),
            )
        return stats

    def _wait_observed(self, stats: _QueueStats, waited: float, abandoned: bool, now: float) -> None:
        if waited <= 0.0 and not abandoned:
            return  # taken at once: says nothing about patience
        stats.patience.add(1.0 if abandoned else 0.0, max(waited, 0.0), now)

    def on_served(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=False, now=now)

    def on_abandoned(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=True, now=now)

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
        stats.handle.add(in_service.accrued + extra, 1.0, now)
        in_service.accrued = 0.0

    def mean_handle_time(self, queue: str) -> float:
        """Agent seconds per call: censored estimate, also counting the time spent by calls in progress."""
        stats = self._for(queue)
        return stats.handle.value(stats.in_service.accrued) if stats.handle.long.b > 0 else self._prior

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
