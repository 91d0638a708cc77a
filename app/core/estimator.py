"""Estimated wait: what a caller is told, and what drives the callback offer.

Theory of operation: model the queue as M/M/s+M (Erlang-A) with parameters learned online, and
use the full-information conditional expectation for a caller with n requests ahead of them:

    E[W | n ahead] = sum_{i=0..n} 1 / (s*mu + i*theta)

(the time until each of the n callers ahead, then the caller, is taken: with k still waiting
ahead, the next departure from the queue comes at rate s*mu + k*theta). s is the number of agents
serving the queue (from the engine), 1/mu the mean time an agent spends per request (talk +
wrap-up) and theta the abandonment rate of one waiting caller. Callers with a free agent ahead of
them wait about nothing.

Learning. Both parameters come from sums that forget slowly, counted in observations rather
than seconds (a quiet night teaches nothing, so it should not erase what the day taught):
- mu: mean of completed handle times over roughly the last `handle_window` calls, starting from
  the prior as one pseudo-observation, so early estimates are the plain running mean.
- theta: maximum-likelihood rate for exponential patience with censoring: abandons / total time
  waited by everyone who left the queue (served callers' waits are censored patience), over
  roughly the last `patience_window` callers who waited at all. Callers taken at once carry no
  information about patience and do not age the sums.
The benchmark (`make bench`, docs/bench-wait-estimate.md) shows why the windows are long: the
wait of a caller deep in the queue is a sum of many small steps, so a few percent of noise in mu
or theta is as large as the queue's own randomness. A short moving average (Asterisk app_queue's
(3 old + last)/4) does much worse because it ignores the caller's position and the agents present.
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
    handle_sum: float  # forgetting sums of handle times and of their count (prior included)
    handle_count: float
    abandons: float = 0.0  # forgetting count of abandons ...
    exposure: float = 0.0  # ... and of seconds waited by callers who left the queue


class ErlangAEstimator:
    """Learns handle time and patience per queue; see the module comment."""

    def __init__(
        self,
        prior_handle_time: float = 180.0,
        handle_window: float = 2000.0,
        patience_window: float = 5000.0,
    ) -> None:
        self._prior = prior_handle_time
        self._handle_keep = 1.0 - 1.0 / handle_window
        self._patience_keep = 1.0 - 1.0 / patience_window
        self._stats: dict[str, _QueueStats] = {}

    def _for(self, queue: str) -> _QueueStats:
        stats = self._stats.get(queue)
        if stats is None:
            stats = self._stats[queue] = _QueueStats(handle_sum=self._prior, handle_count=1.0)
        return stats

    def _wait_observed(self, stats: _QueueStats, waited: float, abandoned: bool) -> None:
        if waited <= 0.0 and not abandoned:
            return  # taken at once: says nothing about patience
        keep = self._patience_keep
        stats.abandons = stats.abandons * keep + (1.0 if abandoned else 0.0)
        stats.exposure = stats.exposure * keep + max(waited, 0.0)

    def on_served(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=False)

    def on_abandoned(self, queue: str, waited: float, now: float) -> None:
        self._wait_observed(self._for(queue), waited, abandoned=True)

    def on_handled(self, queue: str, handle_time: float, now: float) -> None:
        stats = self._for(queue)
        keep = self._handle_keep
        stats.handle_sum = stats.handle_sum * keep + max(handle_time, 1.0)
        stats.handle_count = stats.handle_count * keep + 1.0

    def mean_handle_time(self, queue: str) -> float:
        stats = self._for(queue)
        return stats.handle_sum / stats.handle_count

    def abandon_rate(self, queue: str) -> float:
        stats = self._for(queue)
        return stats.abandons / stats.exposure if stats.exposure > 0 else 0.0

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
