"""Estimated wait: what a caller is told, and what drives the callback offer.

Theory of operation: model the queue as M/M/s+M (Erlang-A) with parameters learned online, and
use the full-information conditional expectation for a caller with n requests ahead of them:

    E[W | n ahead] = sum_{i=0..n} 1 / (s*mu + i*theta)

where s is the number of agents serving the queue, 1/mu the mean time an agent spends per
request (talk + wrap-up) and theta the abandonment rate of one waiting caller. mu comes from an
exponentially weighted mean of completed handle times; theta is the maximum-likelihood rate for
exponential patience with censoring (abandons / total time waited by everyone who left the
queue), both exponentially weighted so the estimate follows a changing day. This beats a single
moving average of hold times (Asterisk app_queue) because it uses the caller's own position and
the agents actually present. Callers with a free agent ahead of them wait about nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

NO_AGENTS_WAIT = 24 * 3600.0  # "very long": nobody is serving the queue


class WaitEstimator(Protocol):
    def on_served(self, queue: str, waited: float, now: float) -> None: ...

    def on_abandoned(self, queue: str, waited: float, now: float) -> None: ...

    def on_handled(self, queue: str, handle_time: float, now: float) -> None: ...

    def estimate(self, queue: str, ahead: int, agents: int, free_agents: int) -> float: ...


@dataclass(slots=True)
class _QueueStats:
    mean_handle: float
    abandons: float = 0.0
    exposure: float = 0.0  # total seconds waited by callers who left the queue


class ErlangAEstimator:
    """Learns handle time and patience per queue; see the module comment."""

    def __init__(self, prior_handle_time: float = 180.0, weight: float = 0.02) -> None:
        self._prior = prior_handle_time
        self._weight = weight  # how much one new observation moves the means
        self._stats: dict[str, _QueueStats] = {}

    def _for(self, queue: str) -> _QueueStats:
        stats = self._stats.get(queue)
        if stats is None:
            stats = self._stats[queue] = _QueueStats(mean_handle=self._prior)
        return stats

    def _wait_observed(self, stats: _QueueStats, waited: float, abandoned: bool) -> None:
        keep = 1.0 - self._weight
        stats.abandons = stats.abandons * keep + (1.0 if abandoned else 0.0)
        stats.exposure = stats.exposure * keep + max(waited, 0.0)

    def on_served(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=False)

    def on_abandoned(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=True)

    def on_handled(self, queue: str, handle_time: float, now: float) -> None:
        stats = self._for(queue)
        stats.mean_handle += self._weight * (max(handle_time, 1.0) - stats.mean_handle)

    def mean_handle_time(self, queue: str) -> float:
        return self._for(queue).mean_handle

    def abandon_rate(self, queue: str) -> float:
        stats = self._for(queue)
        return stats.abandons / stats.exposure if stats.exposure > 0 else 0.0

    def estimate(self, queue: str, ahead: int, agents: int, free_agents: int) -> float:
        if ahead < free_agents:
            return 0.0
        if agents <= 0:
            return NO_AGENTS_WAIT
        stats = self._for(queue)
        service_rate = agents / stats.mean_handle
        theta = self.abandon_rate(queue)
        waiting_ahead = ahead - free_agents
        return sum(1.0 / (service_rate + i * theta) for i in range(waiting_ahead + 1))
