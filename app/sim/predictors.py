"""Baseline wait predictors, judged against Holdfast's estimator on the same sample paths.

- full information: E[W | n ahead] = sum_{i=0..n} 1/(s mu + i theta) for M/M/s+M with the TRUE
  mu, theta and the number of agents actually present: the best any predictor given only the
  caller's place can do when the model holds (the practical limit).
- app_queue: Asterisk's `holdtime`, updated to (3 old + last)/4 each time a caller is answered,
  where `last` is that caller's time on hold; everybody is told the same figure.
- last to enter service (LES): the wait of the caller most recently taken by an agent.
- queue length: (n + 1) * mean handle time / agents (true mean handle time; ignores abandonment).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class FullInformation:
    mu: float  # 1 / mean handle time (talk + wrap-up)
    theta: float  # 1 / mean patience
    name: str = "full_info"
    # the scenario's factors at time t (non-stationary scenarios): it knows the true CURRENT mu and theta
    handle_factor: Callable[[float], float] | None = None
    patience_factor: Callable[[float], float] | None = None

    def predict(self, ahead: int, now: float, agents: int) -> float:
        if agents <= 0:
            return 86400.0
        mu, theta = self.mu, self.theta
        if self.handle_factor is not None:
            mu /= self.handle_factor(now)
        if self.patience_factor is not None:
            theta /= self.patience_factor(now)
        base = agents * mu
        return sum(1.0 / (base + i * theta) for i in range(ahead + 1))

    def on_service_start(self, waited: float, now: float) -> None:
        pass


@dataclass(slots=True)
class AppQueue:
    holdtime: float = 0.0
    name: str = "app_queue"

    def predict(self, ahead: int, now: float, agents: int) -> float:
        return self.holdtime

    def on_service_start(self, waited: float, now: float) -> None:
        self.holdtime = (3 * self.holdtime + waited) / 4


@dataclass(slots=True)
class LastToEnterService:
    last: float = 0.0
    name: str = "les"

    def predict(self, ahead: int, now: float, agents: int) -> float:
        return self.last

    def on_service_start(self, waited: float, now: float) -> None:
        self.last = waited


@dataclass(slots=True)
class QueueLength:
    mean_handle: float
    name: str = "queue_length"

    def predict(self, ahead: int, now: float, agents: int) -> float:
        if agents <= 0:
            return 86400.0
        return (ahead + 1) * self.mean_handle / agents

    def on_service_start(self, waited: float, now: float) -> None:
        pass
