"""Prometheus metrics: gauges read from the engine at scrape time, counters from activities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.core.commands import Activity
from app.core.states import AgentState

if TYPE_CHECKING:
    from app.telephony.service import TelephonyService


class _EngineCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        service = self._metrics.service
        waiting = GaugeMetricFamily("holdfast_callers_waiting", "Callers on hold per queue", labels=["queue"])
        callbacks = GaugeMetricFamily("holdfast_callbacks_waiting", "Callbacks waiting per queue", labels=["queue"])
        agents = GaugeMetricFamily("holdfast_agents", "Agents per state", labels=["state"])
        if service is not None:
            engine = service.engine
            for queue in engine.queues:
                callers = engine.callers_waiting(queue)
                waiting.add_metric([queue], callers)
                callbacks.add_metric([queue], len(engine.orders[queue]) - callers)
            for state in AgentState:
                agents.add_metric([state.value], sum(1 for a in engine.agents.values() if a.state is state))
        yield waiting
        yield callbacks
        yield agents


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.service: TelephonyService | None = None
        self.requests_ended = Counter(
            "holdfast_requests_ended",
            "Requests ended, by queue and outcome",
            ["queue", "outcome"],
            registry=self.registry,
        )
        self.answered = Counter(
            "holdfast_answered", "Requests connected to an agent", ["queue"], registry=self.registry
        )
        self.abandoned = Counter(
            "holdfast_abandoned", "Callers who hung up while waiting", ["queue"], registry=self.registry
        )
        self.callbacks_accepted = Counter(
            "holdfast_callbacks_accepted", "Callbacks promised", ["queue"], registry=self.registry
        )
        self.prompts = Counter(
            "holdfast_prompts", "Prompts played, by how they ended (done, failed)", ["state"], registry=self.registry
        )
        self.store_failures = Counter(
            "holdfast_store_failures",
            "Failed commits to the store (retried, then the service stops)",
            registry=self.registry,
        )
        self.ari_reconnects = Counter("holdfast_ari_reconnects", "ARI websocket reconnects", registry=self.registry)
        self.ari_connected = Gauge("holdfast_ari_connected", "1 while the ARI websocket is up", registry=self.registry)
        self.event_latency = Histogram(
            "holdfast_event_handling_seconds",
            "Time the engine takes for one event",
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=self.registry,
        )
        self.registry.register(_EngineCollector(self))

    def bind(self, service: TelephonyService) -> None:
        self.service = service

    def count_activity(self, activity: Activity) -> None:
        queue = activity.queue or ""
        if activity.kind == "connected":
            self.answered.labels(queue).inc()
        elif activity.kind == "callback_accepted":
            self.callbacks_accepted.labels(queue).inc()
        elif activity.kind == "ended":
            outcome = str(activity.data.get("outcome", ""))
            self.requests_ended.labels(queue, outcome).inc()
            if outcome == "abandoned":
                self.abandoned.labels(queue).inc()
