"""A simulation scenario: who calls, how long they talk and wait, which agents are there.

Theory of operation: a scenario is plain data, loaded from YAML (`Scenario.from_dict`) or built in
code (the benchmark). Durations accept numbers (seconds) or strings such as "90s", "4m", "1.5h".
Random quantities are `Dist`s given by their mean (and cv / shape), so a scenario reads as the
contact-centre figures a planner knows rather than distribution parameters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from app.core.settings import AgentSettings, CallbackSettings, CoreSettings, QueueSettings

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(value: Any, what: str = "duration") -> float:
    """Parse 90, "90", "90s", "4m", "1.5h", "2d" to seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a duration such as 90s, 4m or 1.5h, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", str(value))
    if match is None:
        raise ValueError(f"{what}: expected a duration such as 90s, 4m or 1.5h, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True, slots=True)
class Dist:
    """A positive random quantity: exponential, lognormal (mean, cv), Weibull (mean, shape) or fixed."""

    kind: str = "exponential"
    mean: float = 60.0
    cv: float = 1.0  # lognormal only
    shape: float = 1.0  # weibull only

    KINDS = ("exponential", "lognormal", "weibull", "fixed")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"distribution kind {self.kind!r}; allowed {', '.join(self.KINDS)}")
        if not self.mean > 0 or not self.cv > 0 or not self.shape > 0:
            raise ValueError(f"{self.kind} distribution needs mean, cv and shape > 0")

    @classmethod
    def parse(cls, raw: Any, what: str) -> Dist:
        if isinstance(raw, (int, float, str)):
            return cls("exponential", seconds(raw, what))
        if not isinstance(raw, dict):
            raise ValueError(f"{what}: expected a mapping such as {{dist: lognormal, mean: 4m, cv: 1}}")
        known = {"dist", "kind", "mean", "cv", "shape"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{what}: unknown keys {sorted(unknown)}; allowed {sorted(known)}")
        return cls(
            kind=str(raw.get("dist", raw.get("kind", "exponential"))),
            mean=seconds(raw.get("mean", 60), f"{what}.mean"),
            cv=float(raw.get("cv", 1.0)),
            shape=float(raw.get("shape", 1.0)),
        )

    @property
    def rate(self) -> float:
        """1/mean: the rate an M/M/s+M model would use for it."""
        return 1.0 / self.mean


@dataclass(frozen=True, slots=True)
class Burst:
    at: float
    duration: float
    factor: float  # the arrival rate is multiplied by this during the burst


@dataclass(frozen=True, slots=True)
class Shift:
    """From `at` until `until`, handle times and patience are multiplied by these factors.

    A handle time is scaled when its call starts (calls already in progress keep theirs); a
    patience when its caller arrives. Factors of overlapping shifts multiply.
    """

    at: float
    handle: float = 1.0
    patience: float = 1.0
    until: float = math.inf


@dataclass(frozen=True, slots=True)
class Ramp:
    """The arrival rate is multiplied by a factor going linearly from 1 at `at` to `factor` at
    `at + duration`, and stays at `factor` after."""

    at: float
    duration: float
    factor: float

    def at_time(self, t: float) -> float:
        if t <= self.at:
            return 1.0
        if t >= self.at + self.duration:
            return self.factor
        return 1.0 + (self.factor - 1.0) * (t - self.at) / self.duration


@dataclass(frozen=True, slots=True)
class Absence:
    """A share of the agents logs out at `at` and comes back `duration` later."""

    at: float
    duration: float
    share: float = 0.2
    kind: str = "logout"  # or "pause"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "scenario"
    seed: int = 1
    agents: int = 10
    calls_per_hour: float = 100.0
    horizon: float = 8 * 3600.0  # arrivals stop here (or after max_callers)
    max_callers: int | None = None
    warmup: float = 0.0  # callers arriving earlier are left out of the statistics
    drain: bool = True  # keep simulating after the last arrival until everyone is done
    # time-varying rate: rate(t) = base * (1 + amplitude * sin(2 pi (t / period) + phase)) * bursts
    amplitude: float = 0.0
    period: float = 86400.0
    phase: float = 0.0
    bursts: tuple[Burst, ...] = ()
    ramps: tuple[Ramp, ...] = ()
    shifts: tuple[Shift, ...] = ()  # changes of handle time and patience at known times
    handle_time: Dist = Dist("exponential", 240.0)  # talk time; wrap-up is added by the engine
    patience: Dist | None = Dist("exponential", 120.0)  # None: nobody hangs up while waiting
    wrap_up: float = 0.0
    service_level: float = 20.0
    caller_hangs_up_share: float = 0.5  # who ends an answered call (either way the same for the engine)
    agent_answer_delay: float = 0.0
    agent_no_answer: float = 0.0  # probability an agent lets the call ring out
    agent_back_after: float = 60.0  # a not-responding agent makes themself ready again after this
    absences: tuple[Absence, ...] = ()
    callback: CallbackSettings = field(default_factory=lambda: CallbackSettings(enabled=False))
    callback_accept: float = 0.0  # probability a caller offered a callback takes it
    callback_answer: float = 0.7  # probability the customer answers a callback attempt
    customer_answer_delay: float = 8.0
    whisper: float = 3.0  # seconds of whisper to the agent before the customer is dialled
    confirmation: float = 5.0  # seconds of "we will call you back" before the caller's line ends
    sample_every: float = 60.0  # queue-length sampling for reports and plots

    # --- derived figures

    @property
    def base_rate(self) -> float:
        return self.calls_per_hour / 3600.0

    def rate_at(self, t: float) -> float:
        rate = self.base_rate
        if self.amplitude:
            rate *= max(0.0, 1.0 + self.amplitude * math.sin(2 * math.pi * t / self.period + self.phase))
        for b in self.bursts:
            if b.at <= t < b.at + b.duration:
                rate *= b.factor
        for r in self.ramps:
            rate *= r.at_time(t)
        return rate

    def handle_factor(self, t: float) -> float:
        factor = 1.0
        for s in self.shifts:
            if s.at <= t < s.until:
                factor *= s.handle
        return factor

    def patience_factor(self, t: float) -> float:
        factor = 1.0
        for s in self.shifts:
            if s.at <= t < s.until:
                factor *= s.patience
        return factor

    @property
    def max_rate(self) -> float:
        factor = 1.0 + abs(self.amplitude)
        for b in self.bursts:
            factor *= max(1.0, b.factor)
        for r in self.ramps:
            factor *= max(1.0, r.factor)
        return self.base_rate * factor

    @property
    def mean_service(self) -> float:
        return self.handle_time.mean + self.wrap_up

    @property
    def offered_load(self) -> float:
        """rho = lambda / (s mu) at the base rate."""
        return self.base_rate * self.mean_service / max(self.agents, 1)

    def core_settings(self, queue: str = "sim") -> CoreSettings:
        q = QueueSettings(
            name=queue,
            service_level=self.service_level,
            wrap_up=self.wrap_up,
            ring_timeout=15.0,
            callback=self.callback,
        )
        agents = tuple(AgentSettings(id=f"a{i + 1}", skills=((queue, 0),)) for i in range(self.agents))
        return CoreSettings(queues=(q,), agents=agents)

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    # --- loading

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        raw = yaml.safe_load(Path(path).read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a scenario is a YAML mapping")
        raw.setdefault("name", Path(path).stem)
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Scenario:
        raw = dict(raw)
        kw: dict[str, Any] = {}
        allowed = {f.name for f in fields(cls)} | {"arrivals", "agent_answer", "callbacks"}
        unknown = set(raw) - allowed
        if unknown:
            raise ValueError(f"unknown scenario keys {sorted(unknown)}; allowed {sorted(allowed)}")
        arrivals = raw.pop("arrivals", None) or {}
        for key in ("calls_per_hour", "amplitude", "phase"):
            if key in arrivals:
                kw[key] = float(arrivals[key])
        if "period" in arrivals:
            kw["period"] = seconds(arrivals["period"], "arrivals.period")
        if "bursts" in arrivals:
            kw["bursts"] = tuple(
                Burst(seconds(b["at"], "burst.at"), seconds(b["duration"], "burst.duration"), float(b["factor"]))
                for b in arrivals["bursts"]
            )
        if "ramps" in arrivals:
            kw["ramps"] = tuple(
                Ramp(seconds(r["at"], "ramp.at"), seconds(r["duration"], "ramp.duration"), float(r["factor"]))
                for r in arrivals["ramps"]
            )
        if "shifts" in raw:
            kw["shifts"] = tuple(
                Shift(
                    seconds(x["at"], "shift.at"),
                    float(x.get("handle", 1.0)),
                    float(x.get("patience", 1.0)),
                    seconds(x["until"], "shift.until") if "until" in x else math.inf,
                )
                for x in raw.pop("shifts")
            )
        answer = raw.pop("agent_answer", None) or {}
        if "delay" in answer:
            kw["agent_answer_delay"] = seconds(answer["delay"], "agent_answer.delay")
        if "no_answer" in answer:
            kw["agent_no_answer"] = float(answer["no_answer"])
        if "back_after" in answer:
            kw["agent_back_after"] = seconds(answer["back_after"], "agent_answer.back_after")
        callbacks = raw.pop("callbacks", None)
        if callbacks is not None:
            cb = dict(callbacks)
            for key, attr in (("accept", "callback_accept"), ("answer", "callback_answer")):
                if key in cb:
                    kw[attr] = float(cb.pop(key))
            timed = (("ring", "customer_answer_delay"), ("whisper", "whisper"), ("confirmation", "confirmation"))
            for key, attr in timed:
                if key in cb:
                    kw[attr] = seconds(cb.pop(key), f"callbacks.{key}")
            durations = {"min_wait_before_offer", "offer_threshold", "reoffer_interval", "sec_between_retries"}
            settings: dict[str, Any] = {"enabled": True, "allow_other_number": False}
            for key, value in cb.items():
                settings[key] = seconds(value, f"callbacks.{key}") if key in durations else value
            kw["callback"] = replace(CallbackSettings(), **settings)
        for key in ("handle_time", "patience"):
            if key in raw:
                kw[key] = None if raw[key] is None else Dist.parse(raw.pop(key), key)
        if "absences" in raw:
            kw["absences"] = tuple(
                Absence(
                    seconds(a["at"], "absence.at"),
                    seconds(a["duration"], "absence.duration"),
                    float(a.get("share", 0.2)),
                    str(a.get("kind", "logout")),
                )
                for a in raw.pop("absences")
            )
        for key in ("horizon", "warmup", "wrap_up", "service_level", "sample_every", "period"):
            if key in raw:
                kw[key] = seconds(raw.pop(key), key)
        kw.update(raw)
        return cls(**kw)
