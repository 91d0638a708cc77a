"""Outbound campaign simulation on the real core: contacts who answer, machines, busy lines, agents.

Theory of operation:
- The simulator is the shell, as for inbound traffic (simulator.py): it feeds the engine events
  with `now` and carries out its commands. `LoadContacts` is answered at once from an endless
  in-memory list; each contact's behaviour is drawn from its own seeded stream (seed, contact
  number) at the moment it is dialled, so two policies run on the same seed meet the same people:
  contact 1234 answers after the same delay, talks for the same time, or is the same machine.
- A dial ends as a live answer (picked up after a lognormal delay, unless that is past the ring
  time: then no answer), an answering machine (AMD's verdict `amd_time` after the pick-up; a share
  `amd_false_positive` of live answers is also judged a machine: a person hung up on, counted as
  abandoned), busy (a few seconds) or no answer (at the ring time).
- A person is told apart as AMD() does on real calls: they speak a greeting (`greeting`, drawn per
  contact), then AMD() waits `after_greeting_silence` of silence before it says HUMAN. It hears
  a little more than that (it counts whole audio frames): the silence is drawn per person, the
  setting plus up to `silence_overshoot`. The engine hears of the answer only then, as
  `LegAnswered(greeting_ended=...)` (the shell reads the silence from AMDCAUSE), and its 2 s to an
  agent count from the greeting's end (as the regulators count them), so an agent has 2 s less that
  silence. The campaign's AMD tuning carries the configured silence; the pacing plans with the
  silences it measures (dialler.py, pacing.GreetingSilence), as on real calls.
- Agents answer the dialler's call by themselves (auto-answer) after `agent_answer`; a bridged
  call lasts the contact's talk time, then wrap-up is the engine's. Agents may log off mid-shift
  (`logoffs`), and the list may get worse (`changes`: another mix from a given time).
- The campaign runs for `horizon` seconds (then it is paused; calls in progress end). Figures:
  occupancy = talk time / logged-in time within the horizon; abandonment = abandoned / live
  answers (worst rolling 24 h and 30 day windows when the run is that long, else the whole run);
  wait for an agent of each live answer from the end of their greeting, as the engine counts it
  (2 s for abandoned ones); dials per connect.
- Policies: "holdfast" (predictive, pacing.py), "progressive" (power, 1 line per ready agent),
  "ratio:R" (power, R lines per ready agent), "vicidial" (predictive with pacers.VicidialPacer).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from app.core import commands as c
from app.core import events as ev
from app.core.contacts import DueContact
from app.core.engine import Engine
from app.core.pacing import HoldfastPacer
from app.core.settings import (
    CONNECT_WITHIN,
    AgentSettings,
    CampaignMode,
    CampaignSettings,
    CoreSettings,
    QueueSettings,
)
from app.core.states import AgentState, AttemptOutcome
from app.sim.pacers import VicidialPacer
from app.sim.sampling import sampler
from app.sim.scenario import Dist, seconds

QUEUE = "out"
CAMPAIGN = "sim"
DAY = 86400.0
_EVENT, _LOGOFF, _SAMPLE = range(3)


@dataclass(frozen=True, slots=True)
class Mix:
    """How dials end: shares of live answers, machines and busy lines; the rest ring out."""

    live: float = 0.25
    machine: float = 0.15
    busy: float = 0.05

    def __post_init__(self) -> None:
        if min(self.live, self.machine, self.busy) < 0 or self.live + self.machine + self.busy > 1 + 1e-9:
            raise ValueError("outcome shares must be >= 0 and add up to at most 1")


@dataclass(frozen=True, slots=True)
class Change:
    at: float  # seconds into the run
    mix: Mix


@dataclass(frozen=True, slots=True)
class Logoff:
    at: float
    share: float  # of the agents logged in at the start


@dataclass(frozen=True, slots=True)
class OutboundScenario:
    name: str = "outbound"
    seed: int = 1
    agents: int = 20
    horizon: float = 8 * 3600.0
    mix: Mix = field(default_factory=Mix)
    changes: tuple[Change, ...] = ()
    logoffs: tuple[Logoff, ...] = ()
    answer_delay: Dist = field(default_factory=lambda: Dist("lognormal", 10.0, cv=0.6))
    machine_delay: Dist = field(default_factory=lambda: Dist("lognormal", 10.0, cv=0.6))
    amd_time: float = 3.0
    # a person's greeting, pick-up to its end: docs/bench-amd.md measured persons' HUMAN verdicts on
    # real Asterisk (default tuning) at p50 2.26 s / p95 3.39 s after the answer; less amd.conf's
    # 0.8 s silence, 1.46 / 2.59 s. This lognormal has p50 1.39 s / p95 2.62 s
    greeting: Dist = field(default_factory=lambda: Dist("lognormal", 1.5, cv=0.4))
    after_greeting_silence: float = 0.8  # AMD()'s (amd.conf's default): HUMAN comes this long after the greeting
    # and AMD() hears up to this much more silence (uniform): docs/bench-amd.md's persons said
    # HUMAN-800-800 to HUMAN-819-800, 0-19 ms over, as it counts 20 ms frames
    silence_overshoot: float = 0.02
    amd_false_positive: float = 0.0  # true share of live answers AMD calls a machine (sim)
    assumed_false_positive: float = 0.0  # what the campaign's pacing assumes (settings)
    talk: Dist = field(default_factory=lambda: Dist("exponential", 120.0))
    wrap_up: float = 10.0
    ring_time: float = 25.0
    agent_answer: float = 0.5
    abandon_cap: float = 0.03
    max_dial_level: float = 4.0
    policy: str = "holdfast"
    sample_every: float = 300.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OutboundScenario:
        """From YAML (`kind: outbound`); durations as in inbound scenarios ("90s", "8h")."""
        known = {
            "kind", "name", "seed", "agents", "horizon", "live", "machine", "busy", "changes", "logoffs",
            "answer_delay", "machine_delay", "amd_time", "amd_false_positive", "assumed_false_positive",
            "greeting", "after_greeting_silence", "silence_overshoot",
            "talk", "wrap_up", "ring_time", "agent_answer", "abandon_cap", "max_dial_level", "policy",
        }  # fmt: skip
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; allowed {sorted(known)}")
        base = cls()
        mix = Mix(float(raw.get("live", 0.25)), float(raw.get("machine", 0.15)), float(raw.get("busy", 0.05)))
        kw: dict[str, Any] = {"mix": mix}
        for key in ("name", "policy"):
            if key in raw:
                kw[key] = str(raw[key])
        for key in ("seed", "agents"):
            if key in raw:
                kw[key] = int(raw[key])
        durations = ("horizon", "amd_time", "wrap_up", "ring_time", "agent_answer")
        for key in (*durations, "after_greeting_silence", "silence_overshoot"):
            if key in raw:
                kw[key] = seconds(raw[key], key)
        for key in ("amd_false_positive", "assumed_false_positive", "abandon_cap", "max_dial_level"):
            if key in raw:
                kw[key] = float(raw[key])
        for key in ("answer_delay", "machine_delay", "talk", "greeting"):
            if key in raw:
                kw[key] = Dist.parse(raw[key], key)
        kw["changes"] = tuple(
            Change(seconds(ch["at"], "changes.at"), Mix(float(ch["live"]), float(ch.get("machine", mix.machine)),
                                                          float(ch.get("busy", mix.busy))))
            for ch in raw.get("changes") or ()
        )  # fmt: skip
        kw["logoffs"] = tuple(
            Logoff(seconds(x["at"], "logoffs.at"), float(x["share"])) for x in raw.get("logoffs") or ()
        )
        sc = replace(base, **kw)
        sc.core_settings()  # an unknown policy fails here, at load
        return sc

    def mix_at(self, t: float) -> Mix:
        mix = self.mix
        for ch in sorted(self.changes, key=lambda x: x.at):
            if t >= ch.at:
                mix = ch.mix
        return mix

    def core_settings(self) -> CoreSettings:
        policy = self.policy
        mode, lines = CampaignMode.PREDICTIVE, 1.0
        if policy == "progressive":
            mode = CampaignMode.POWER
        elif policy.startswith("ratio:"):
            mode, lines = CampaignMode.POWER, float(policy.split(":", 1)[1])
        elif policy not in ("holdfast", "vicidial"):
            raise ValueError(f"policy {policy!r}; use holdfast, progressive, ratio:R or vicidial")
        campaign = CampaignSettings(
            id=CAMPAIGN,
            queue=QUEUE,
            mode=mode,
            lines_per_agent=lines,
            ring_time=self.ring_time,
            max_attempts=1,
            amd=True,
            amd_after_greeting_silence=self.after_greeting_silence,
            abandon_cap=self.abandon_cap,
            amd_false_positive=self.assumed_false_positive,
            max_dial_level=self.max_dial_level,
            window=max(20, 2 * self.agents),
        )
        return CoreSettings(
            queues=(QueueSettings(name=QUEUE, wrap_up=self.wrap_up),),
            agents=tuple(
                AgentSettings(id=f"a{i:03d}", skills=((QUEUE, 0),), auto_answer=True) for i in range(self.agents)
            ),
            campaigns=(campaign,),
        )


@dataclass(slots=True)
class OutboundResult:
    scenario: OutboundScenario
    dials: int = 0
    connects: int = 0
    lives: int = 0  # live answers (people), including those AMD took for machines
    abandoned: int = 0  # information message + people hung up on as machines
    amd_hung_up: int = 0  # of which AMD false positives
    machines: int = 0
    talk: float = 0.0  # seconds of conversation within the horizon
    logged_in: float = 0.0  # agent-seconds logged in within the horizon
    waits: list[float] = field(default_factory=list)  # answer -> agent, per live answer
    live_log: list[tuple[float, bool]] = field(default_factory=list)  # (t, abandoned)
    timeline: list[dict[str, float]] = field(default_factory=list)
    events: int = 0

    @property
    def occupancy(self) -> float:
        return self.talk / self.logged_in if self.logged_in > 0 else 0.0

    @property
    def talk_minutes_per_agent_hour(self) -> float:
        return 60.0 * self.occupancy

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.lives if self.lives else 0.0

    @property
    def dials_per_connect(self) -> float:
        return self.dials / self.connects if self.connects else math.inf

    def wait_p95(self) -> float:
        if not self.waits:
            return 0.0
        w = sorted(self.waits)
        return w[min(len(w) - 1, math.ceil(0.95 * len(w)) - 1)]

    def worst_window(self, span: float) -> float:
        """The worst abandon rate over any `span` window (the whole run if shorter)."""
        log = self.live_log
        if not log:
            return 0.0
        if log[-1][0] - log[0][0] <= span:
            return self.abandon_rate
        worst, j, ab = 0.0, 0, 0
        for i, (t, a) in enumerate(log):  # windows ending at each answer, once a full span is seen
            ab += a
            while log[j][0] <= t - span:
                ab -= log[j][1]
                j += 1
            if t - log[0][0] >= span:
                worst = max(worst, ab / (i - j + 1))
        return worst

    def summary(self) -> dict[str, float]:
        return {
            "occupancy": self.occupancy,
            "talk_min_per_agent_hour": self.talk_minutes_per_agent_hour,
            "abandon": self.abandon_rate,
            "abandon_worst_24h": self.worst_window(DAY),
            "abandon_worst_30d": self.worst_window(30 * DAY),
            "wait_p95": self.wait_p95(),
            "dials_per_connect": self.dials_per_connect,
            "amd_hung_up": float(self.amd_hung_up),
            "lives": float(self.lives),
        }


@dataclass(slots=True)
class _Leg:
    contact: int
    answered_at: float | None = None
    person: bool = False
    talk: float = 0.0


class OutboundSimulator:
    def __init__(self, scenario: OutboundScenario) -> None:
        self.sc = scenario
        self.engine = Engine(scenario.core_settings())
        if scenario.policy == "vicidial":
            self.engine.pacer_factory = lambda cs: VicidialPacer(cap=cs.abandon_cap)
        if scenario.policy.startswith("ratio:"):
            self.engine.power_capped = False  # a baseline: the fixed ratio whatever it abandons
        self.result = OutboundResult(scenario)
        self.now = 0.0
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._next_contact = 1
        self._legs: dict[str, _Leg] = {}  # customer legs
        self._req_legs: dict[str, list[str]] = {}  # request -> its customer legs
        self._bridged: dict[str, tuple[float, float]] = {}  # customer leg -> (start, talk)
        self._login: dict[str, float] = {}
        self._rng = random.Random(f"holdfast-outbound:{scenario.seed}:agents")

    # ------------------------------------------------------------------ loop

    def _push(self, at: float, kind: int, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, data))

    def run(self) -> OutboundResult:
        sc = self.sc
        for agent in self.engine.agents:
            self._login[agent] = 0.0
            self._feed(ev.AgentLoggedIn(0.0, agent))
        for off in sc.logoffs:
            self._push(off.at, _LOGOFF, off)
        self._push(0.0, _SAMPLE, None)
        stopped = False
        while True:
            deadline = self.engine.next_deadline()
            if self._heap and (deadline is None or self._heap[0][0] < deadline):
                at, _, kind, data = heapq.heappop(self._heap)
            elif deadline is not None:
                at, kind, data = deadline, -1, None
            else:
                break
            if not stopped and at >= sc.horizon:
                self.now = sc.horizon
                stopped = True
                self._feed(ev.CampaignControl(sc.horizon, CAMPAIGN, "pause"))
            if at > sc.horizon + 3 * 3600:
                break  # only idle timers left
            self.now = max(self.now, at)
            if kind == -1:
                self._feed(ev.Tick(at))
            elif kind == _EVENT:
                self._feed(data)
            elif kind == _LOGOFF:
                self._logoff(data)
            elif kind == _SAMPLE:
                self._sample()
                if not stopped:
                    self._push(at + sc.sample_every, _SAMPLE, None)
            if stopped and not self.engine.requests and not any(k == _EVENT for _, _, k, _ in self._heap):
                break
        for since in self._login.values():
            self.result.logged_in += max(0.0, sc.horizon - since)
        for start, talk in self._bridged.values():  # calls still on at the end
            self.result.talk += max(0.0, min(start + talk, sc.horizon) - start)
        return self.result

    def _feed(self, event: ev.Event) -> None:
        self.result.events += 1
        loads: list[c.LoadContacts] = []
        for cmd in self.engine.handle(event):
            kind = type(cmd)
            if kind is c.OriginateCustomer:
                self._dial(cmd)  # type: ignore[arg-type]
            elif kind is c.OriginateAgent:
                at = self.now + self.sc.agent_answer
                self._push(at, _EVENT, ev.LegAnswered(at, cmd.leg_id))  # type: ignore[attr-defined]
            elif kind is c.BridgeLegs:
                self._bridge(cmd)  # type: ignore[arg-type]
            elif kind is c.LoadContacts:
                loads.append(cmd)  # type: ignore[arg-type]
            elif kind is c.Activity:
                self._activity(cmd)  # type: ignore[arg-type]
        for load in loads:
            self._feed(ev.ContactsLoaded(self.now, load.campaign, self._fresh(load.limit)))
        # The service stores each step's contact progress with it; the simulator's contacts are drawn
        # afresh, so it leaves it to the next step, which starts without it.

    def _fresh(self, limit: int) -> tuple[DueContact, ...]:
        out = []
        for _ in range(limit):
            i = self._next_contact
            self._next_contact += 1
            out.append(DueContact(CAMPAIGN, i, f"+4530{i:07d}", f"C{i}", {}, "UTC", 0, 0, None))
        return tuple(out)

    # ------------------------------------------------------------------ contacts

    def _dial(self, cmd: c.OriginateCustomer) -> None:
        sc, now = self.sc, self.now
        self.result.dials += 1
        contact = int(cmd.request_id.split("-")[2])
        rng = random.Random(f"holdfast-outbound:{sc.seed}:contact:{contact}")
        u = rng.random()
        mix = sc.mix_at(now)
        leg = _Leg(contact)
        self._legs[cmd.leg_id] = leg
        self._req_legs.setdefault(cmd.request_id, []).append(cmd.leg_id)
        leg.talk = sampler(sc.talk, rng)()
        if u < mix.live:
            delay = sampler(sc.answer_delay, rng)()
            if delay >= sc.ring_time:
                self._fail(cmd.leg_id, sc.ring_time, AttemptOutcome.NO_ANSWER, 19)
                return
            leg.person = True
            taken_for_machine = rng.random() < sc.amd_false_positive
            greeting = sampler(sc.greeting, rng)()  # drawn last: the draws above stay as they were
            if taken_for_machine:  # AMD takes this person for a machine
                at = now + delay + sc.amd_time
                self._push(at, _EVENT, ev.LegAnswered(at, cmd.leg_id, True))
            else:  # HUMAN, after the greeting and the silence AMD() heard after it
                ended = now + delay + greeting
                at = ended + sc.after_greeting_silence + sc.silence_overshoot * rng.random()  # drawn last
                self._push(at, _EVENT, ev.LegAnswered(at, cmd.leg_id, greeting_ended=ended))
        elif u < mix.live + mix.machine:
            delay = min(sampler(sc.machine_delay, rng)(), sc.ring_time - 1) + sc.amd_time
            self._push(now + delay, _EVENT, ev.LegAnswered(now + delay, cmd.leg_id, True))
        elif u < mix.live + mix.machine + mix.busy:
            self._fail(cmd.leg_id, 2.0 + 3.0 * rng.random(), AttemptOutcome.BUSY, 17)
        else:
            self._fail(cmd.leg_id, sc.ring_time, AttemptOutcome.NO_ANSWER, 19)

    def _fail(self, leg: str, after: float, outcome: AttemptOutcome, cause: int) -> None:
        self._push(self.now + after, _EVENT, ev.LegFailed(self.now + after, leg, outcome, cause))

    def _bridge(self, cmd: c.BridgeLegs) -> None:
        leg = self._legs[cmd.customer_leg]
        self.result.connects += 1
        self._bridged[cmd.customer_leg] = (self.now, leg.talk)
        end = self.now + leg.talk
        self._push(end, _EVENT, ev.LegHungUp(end, cmd.customer_leg))

    def _activity(self, act: c.Activity) -> None:
        kind, r = act.kind, self.result
        if kind == "connected":
            r.lives += 1
            r.waits.append(float(act.data.get("after_answer") or 0.0))
            r.live_log.append((self.now, False))
        elif kind == "dialler_abandoned":
            r.lives += 1
            r.abandoned += 1
            r.waits.append(CONNECT_WITHIN)
            r.live_log.append((self.now, True))
        elif kind == "attempt_outcome" and act.data.get("outcome") == "machine":
            r.machines += 1
        elif kind == "ended" and act.request_id is not None:
            self._ended(act)

    def _ended(self, act: c.Activity) -> None:
        # the request is over: close its customer leg's books (talk time, AMD false positive)
        for leg_id in self._req_legs.pop(act.request_id or "", ()):
            leg = self._legs.pop(leg_id)
            bridged = self._bridged.pop(leg_id, None)
            if bridged is not None:
                start, talk = bridged
                self.result.talk += max(0.0, min(start + talk, self.sc.horizon) - start)
            elif leg.person and act.data.get("last") == "machine":
                r = self.result
                r.lives += 1
                r.abandoned += 1
                r.amd_hung_up += 1
                r.live_log.append((self.now, True))

    # ------------------------------------------------------------------ agents

    def _logoff(self, off: Logoff) -> None:
        present = sorted(a for a in self._login)
        count = min(len(present), round(off.share * self.sc.agents))
        for agent in self._rng.sample(present, count):
            self.result.logged_in += max(0.0, min(self.now, self.sc.horizon) - self._login.pop(agent))
            self._feed(ev.AgentLoggedOut(self.now, agent))

    def _sample(self) -> None:
        r = self.result
        states = [a.state for a in self.engine.agents.values()]
        pacer = self.engine.pacers.get(CAMPAIGN)
        r.timeline.append(
            {
                "t": self.now,
                "busy": float(sum(1 for s in states if s in (AgentState.BUSY, AgentState.RINGING))),
                "present": float(sum(1 for s in states if s not in (AgentState.LOGGED_OFF, AgentState.PAUSED))),
                "lives": float(r.lives),
                "abandoned": float(r.abandoned),
                "dials": float(r.dials),
                "gain": _level(pacer),
            }
        )


def simulate_outbound(scenario: OutboundScenario) -> OutboundResult:
    return OutboundSimulator(scenario).run()


def _level(pacer: object) -> float:
    """The pacer's knob for the timeline: Holdfast's gain, VICIdial's dial level."""
    if isinstance(pacer, HoldfastPacer):
        return pacer.gain
    if isinstance(pacer, VicidialPacer):
        return pacer.level
    return 0.0


def render(result: OutboundResult) -> str:
    sc, s = result.scenario, result.summary()
    windows = (
        f"worst 24 h {100 * s['abandon_worst_24h']:.2f} %, worst 30 days {100 * s['abandon_worst_30d']:.2f} %"
        if sc.horizon > DAY
        else "the run is shorter than 24 h: its whole-run rate is its 24 h window's"
    )
    return "\n".join(
        [
            f"Outbound campaign simulation: {sc.name} (seed {sc.seed}, policy {sc.policy})",
            f"  agents             {sc.agents}, {sc.horizon / 3600:g} h, live {100 * sc.mix.live:g} %, "
            f"machines {100 * sc.mix.machine:g} %, busy {100 * sc.mix.busy:g} %",
            f"  occupancy          {100 * s['occupancy']:.1f} % (talk time / logged-in time; ceiling "
            f"{100 * sc.talk.mean / (sc.talk.mean + sc.wrap_up):.1f} %)",
            f"  talk               {s['talk_min_per_agent_hour']:.1f} min per agent hour",
            f"  abandoned          {100 * s['abandon']:.2f} % of {result.lives} live answers "
            f"({result.abandoned}, of which {result.amd_hung_up} hung up on as machines); {windows}",
            f"  wait for an agent  p95 {s['wait_p95']:.2f} s after the answer",
            f"  dials              {result.dials}, {s['dials_per_connect']:.2f} per connect "
            f"({result.connects} connects)",
        ]
    )
