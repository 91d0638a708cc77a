"""Prometheus metrics: gauges read from the engine at scrape time, counters from activities.

Metrics knows the engine only through a callable bound by whoever owns it (the service), so
this module imports nothing of app.telephony: the committer and the service both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.core.commands import Activity
from app.core.engine import Engine
from app.core.states import AgentState

EngineSource = Callable[[], Engine]  # the engine as it is at scrape time
AriSource = Callable[[], dict[str, int]]  # AriClient.metrics: its counters at scrape time
AriBreakdown = Callable[[], dict[str, dict[str, int]]]  # AriClient.breakdown: counters by kind

# AriClient counters exported as Prometheus counters (the cost per call: REST round trips and
# events Asterisk sent us), name -> help.
ARI_COUNTERS = {
    "rest_requests": "ARI REST requests made",
    "rest_failures": "ARI REST requests that failed",
    "events_received": "ARI events received over the websocket",
    "events_delivered": "ARI events handed to the service (copies dropped)",
}
# AriClient.breakdown's counters, name -> (label, help).
ARI_BREAKDOWN = {
    "rest_requests": ("kind", "ARI REST requests made, by what they do"),
    "events_received": ("type", "ARI events received over the websocket, by type"),
    "event_copies_dropped": ("type", "ARI events received twice (two subscriptions) and dropped, by type"),
}


class _EngineCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        source = self._metrics.engine_source
        waiting = GaugeMetricFamily("holdfast_callers_waiting", "Callers on hold per queue", labels=["queue"])
        callbacks = GaugeMetricFamily("holdfast_callbacks_waiting", "Callbacks waiting per queue", labels=["queue"])
        agents = GaugeMetricFamily("holdfast_agents", "Agents per state", labels=["state"])
        if source is not None:
            engine = source()
            for queue in engine.queues:
                callers = engine.callers_waiting(queue)
                waiting.add_metric([queue], callers)
                callbacks.add_metric([queue], len(engine.orders[queue]) - callers)
            for state in AgentState:
                agents.add_metric([state.value], sum(1 for a in engine.agents.values() if a.state is state))
        yield waiting
        yield callbacks
        yield agents
        ari = self._metrics.ari_source
        if ari is not None:
            values = ari()
            for name, help_text in ARI_COUNTERS.items():
                counter = CounterMetricFamily(f"holdfast_ari_{name}", help_text)
                counter.add_metric([], values.get(name, 0))
                yield counter
        breakdown = self._metrics.ari_breakdown
        if breakdown is not None:
            kinds = breakdown()
            for name, (label, help_text) in ARI_BREAKDOWN.items():
                counter = CounterMetricFamily(f"holdfast_ari_{name}_by_{label}", help_text, labels=[label])
                for kind, count in sorted(kinds.get(name, {}).items()):
                    counter.add_metric([kind], count)
                yield counter


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.engine_source: EngineSource | None = None
        self.ari_source: AriSource | None = None
        self.ari_breakdown: AriBreakdown | None = None
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
        # Several Asterisk servers: each one's state (1: connected and reconciled), by its name.
        self.asterisk_server_up = Gauge(
            "holdfast_asterisk_server_up",
            "1 while an Asterisk server is connected and reconciled",
            ["server"],
            registry=self.registry,
        )
        self.event_latency = Histogram(
            "holdfast_event_handling_seconds",
            "Time the engine takes for one event",
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=self.registry,
        )
        self.commit_batch = Histogram(
            "holdfast_commit_batch_steps",
            "Engine steps stored per store transaction (group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.acted_before_stored = Counter(
            "holdfast_steps_acted_before_stored",
            "Engine steps acted on before their commit (an inbound caller bridged with the agent who answered)",
            registry=self.registry,
        )
        # Someone guessing passwords shows as wrong_password, then throttled_* (app/web/login_guard.py).
        self.logins = Counter(
            "holdfast_logins",
            "Log-ins to the live page and the API, by result (ok, wrong_password, throttled_user, "
            "throttled_address, line_full)",
            ["result"],
            registry=self.registry,
        )
        # After a step back of the wall clock the service's clock runs ahead of it until it catches
        # up (app/telephony/steady_clock.py): how far, so an alert can tell.
        self.clock_ahead = Gauge(
            "holdfast_clock_ahead_seconds",
            "Seconds the service's clock is ahead of the wall clock (catching up after a step back)",
            registry=self.registry,
        )
        # Legs Asterisk cut because the phone sent no audio for rtp_timeout (asterisk-conf/README.md,
        # "Dead legs"): a spike of callers' is a carrier's media fault, an agent's a broken phone.
        self.legs_cut_no_audio = Counter(
            "holdfast_legs_cut_no_audio",
            "Call legs Asterisk hung up because the phone sent no audio (rtp_timeout), by side "
            "(caller_waiting; customer: a caller or callback customer in a call; agent)",
            ["side"],
            registry=self.registry,
        )
        self.registry.register(_EngineCollector(self))

    def bind(self, engine_source: EngineSource) -> None:
        """Gauges read the engine `engine_source()` returns, at every scrape."""
        self.engine_source = engine_source

    def bind_ari(self, ari_source: AriSource, breakdown: AriBreakdown | None = None) -> None:
        """ARI counters read from `ari_source()` (and by kind from `breakdown()`) at every scrape."""
        self.ari_source = ari_source
        self.ari_breakdown = breakdown

    def bind_clock(self, ahead: Callable[[], float]) -> None:
        self.clock_ahead.set_function(ahead)

    def _count_no_audio(self, activity: Activity) -> None:
        """An `ended` line of a call cut for lack of audio (an agent's is counted at agent_line_dead)."""
        if activity.data.get("line") == "no_audio":
            self.legs_cut_no_audio.labels("caller_waiting").inc()
        elif activity.data.get("hung_up_by") == "customer_no_audio":
            self.legs_cut_no_audio.labels("customer").inc()

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
            self._count_no_audio(activity)
        elif activity.kind == "abandoned" and activity.data.get("line") == "no_audio":
            self.legs_cut_no_audio.labels("caller_waiting").inc()  # given the automatic callback instead
        elif activity.kind == "agent_line_dead":
            self.legs_cut_no_audio.labels("agent").inc()
