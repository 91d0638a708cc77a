"""A discrete-event contact-centre simulator that drives the real `app.core` engine.

Theory of operation:
- The simulator is the shell: it feeds the engine events with `now` and carries out its commands
  with simulated people. OriginateAgent → the agent answers after `agent_answer_delay` (or lets
  it ring out; the engine's ring timeout pauses them and they come back later). BridgeLegs → the
  call lasts the caller's handle time, then the caller (CallerHungUp) or agent (LegHungUp) ends
  it. A callback offer is taken with probability `callback_accept`; a callback's whisper prompt
  ends after `whisper` seconds and the customer answers with probability `callback_answer`.
  `Tick` is delivered at `engine.next_deadline()` before any later event, so timers run on time.
- Every caller draws a patience; if still waiting when it runs out they hang up.
- Potential wait (the wait had the caller never hung up) is what estimates are judged against.
  For served callers it is the time until an agent was rung for them. For a caller C who hung
  up it is recovered exactly from the same sample path: the queue is FCFS and C's departure
  changes nothing for the callers ahead of C, so had C stayed they would have been taken at the
  first moment after their arrival when either an agent was rung for someone behind C, or an
  agent was left ready with nobody waiting. Both are visible in the real path after C left.
- Seeded streams (sampling.py) make a run reproducible: the same scenario gives the same report.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.core import commands as c
from app.core import events as ev
from app.core.engine import Engine
from app.core.estimator import WaitEstimator
from app.core.states import AgentState, AttemptOutcome, RequestState
from app.sim.sampling import sampler, stream
from app.sim.scenario import Scenario

QUEUE = "sim"

# event kinds in the simulator's own heap
_ARRIVAL, _ABANDON, _LEG_ANSWER, _CALLER_END, _LEG_END, _PROMPT_DONE = range(6)
_LEG_FAIL, _DTMF, _AGENT_OUT, _AGENT_IN, _AGENT_BACK, _SAMPLE = range(6, 12)
_BUSY = (AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP)
_AWAY = (AgentState.LOGGED_OFF, AgentState.PAUSED)
_HOLDING = (RequestState.WAITING, RequestState.RINGING_AGENT)  # a caller's patience can run out


class Predictor(Protocol):
    """A wait predictor judged on the same sample path (the benchmark's baselines)."""

    name: str

    def predict(self, ahead: int, now: float, agents: int) -> float: ...

    def on_service_start(self, waited: float, now: float) -> None: ...


@dataclass(slots=True)
class Caller:
    seq: int
    rid: str
    arrival: float
    patience: float
    handle: float
    busy_on_arrival: bool = False  # found every agent busy (the callers estimates are judged on)
    ahead: int = 0
    agents_present: int = 0
    estimate: float = 0.0  # Holdfast's estimate at arrival (engine.estimated_wait)
    predictions: tuple[float, ...] = ()
    rung_at: float | None = None
    connected_at: float | None = None
    abandoned_at: float | None = None
    potential_wait: float | None = None
    callback: bool = False
    outcome: str | None = None  # the engine's outcome ("served", "abandoned", ...)


@dataclass(slots=True)
class Sample:
    t: float
    waiting: int  # callers on hold
    callbacks: int  # callbacks holding a place
    busy: int  # agents ringing, talking or in wrap-up
    present: int  # agents logged in and not paused


@dataclass(slots=True)
class SimResult:
    scenario: Scenario
    callers: list[Caller]
    samples: list[Sample] = field(default_factory=list)
    end: float = 0.0
    events: int = 0  # events fed to the engine
    offers: int = 0
    callback_attempts: int = 0
    callback_answered: int = 0
    predictor_names: tuple[str, ...] = ()


class Simulator:
    def __init__(
        self,
        scenario: Scenario,
        predictors: Sequence[Predictor] = (),
        estimator: WaitEstimator | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.sc = scenario
        self.engine = Engine(scenario.core_settings(QUEUE), estimator)
        self.predictors = list(predictors)
        self.progress = progress
        seed = scenario.seed
        self._arrival_rng = stream(seed, "arrivals")
        self._agent_rng = stream(seed, "agents")
        self._caller_rng = stream(seed, "caller-choices")
        self._patience = sampler(scenario.patience, stream(seed, "patience")) if scenario.patience else None
        self._handle = sampler(scenario.handle_time, stream(seed, "handle"))
        self._heap: list[tuple[float, int, int, object]] = []
        self._seq = 0
        self.now = 0.0
        self.callers: list[Caller] = []
        self._by_rid: dict[str, Caller] = {}
        self._leg_owner: dict[str, str] = {}  # agent/customer leg -> request id
        self._pending_virtual: list[tuple[int, str]] = []  # abandoned callers without potential wait
        self._absent: set[str] = set()
        self._arrivals_done = False
        self.result = SimResult(scenario, self.callers, predictor_names=tuple(p.name for p in self.predictors))

    # ------------------------------------------------------------------ loop

    def _push(self, at: float, kind: int, data: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, data))

    def run(self) -> SimResult:
        sc = self.sc
        for agent in self.engine.agents:
            self._feed(ev.AgentLoggedIn(0.0, agent))
        for absence in sc.absences:
            self._push(absence.at, _AGENT_OUT, absence)
        self._schedule_next_arrival(0.0)
        self._push(0.0, _SAMPLE, None)
        heap, engine = self._heap, self.engine
        report_every = max(sc.horizon / 200.0, 1.0) if sc.horizon < math.inf else 60.0
        next_report = 0.0
        while True:
            deadline = engine.next_deadline()
            if heap and (deadline is None or heap[0][0] < deadline):
                at, _, kind, data = heapq.heappop(heap)
                if kind == _SAMPLE and self._arrivals_done and not self._active():
                    break  # only the sampler is left: everybody is done
                self._advance(at)
                self._event(kind, data)
            elif deadline is not None:
                self._advance(deadline)
                self._feed(ev.Tick(deadline))
            else:
                break
            if self.progress is not None and self.now >= next_report:
                next_report = self.now + report_every
                self.progress(min(self._done_fraction(), 0.999))
            if self._arrivals_done and (not sc.drain or self.now > sc.horizon + 7 * 86400):
                break
        self._advance(self.now)
        self.result.end = self.now
        if self.progress is not None:
            self.progress(1.0)
        return self.result

    def _done_fraction(self) -> float:
        sc = self.sc
        by_time = self.now / sc.horizon if 0 < sc.horizon < math.inf else 0.0
        by_callers = len(self.callers) / sc.max_callers if sc.max_callers else 0.0
        return max(by_time, by_callers)

    def _active(self) -> bool:
        return bool(self.engine.requests) or any(k != _SAMPLE for _, _, k, _ in self._heap)

    def _advance(self, at: float) -> None:
        if at > self.now:
            self.now = at

    def _event(self, kind: int, data: object) -> None:
        now = self.now
        if kind == _ARRIVAL:
            self._arrive()
        elif kind == _ABANDON:
            req = self.engine.requests.get(str(data))
            if req is not None and not req.is_callback and req.state in _HOLDING:
                self._by_rid[req.id].abandoned_at = now
                self._feed(ev.CallerHungUp(now, req.id))
        elif kind == _LEG_ANSWER:
            self._feed(ev.LegAnswered(now, str(data)))
        elif kind == _LEG_FAIL:
            self._feed(ev.LegFailed(now, str(data), AttemptOutcome.NO_ANSWER, 19))
        elif kind == _CALLER_END:
            self._feed(ev.CallerHungUp(now, str(data)))
        elif kind in (_LEG_END, _PROMPT_DONE):
            self._feed(ev.LegHungUp(now, str(data)) if kind == _LEG_END else ev.PromptFinished(now, str(data)))
        elif kind == _DTMF:
            assert isinstance(data, tuple)
            rid, digits = str(data[0]), str(data[1])
            for digit in digits:
                self._feed(ev.DtmfReceived(now, rid, digit))
            req = self.engine.requests.get(rid)
            if req is not None and req.menu is not None and req.menu.step == "choose":
                self._feed(ev.DtmfReceived(now, rid, "1"))  # "call me back on this number"
            if req is not None and req.is_callback:
                self._by_rid[rid].callback = True
        elif kind == _AGENT_OUT:
            self._absence_starts(data)
        elif kind in (_AGENT_IN, _AGENT_BACK):
            self._agent_returns(str(data), kind == _AGENT_BACK)
        elif kind == _SAMPLE:
            self._sample()

    # ------------------------------------------------------------------ arrivals

    def _schedule_next_arrival(self, now: float) -> None:
        sc = self.sc
        if sc.max_callers is not None and len(self.callers) >= sc.max_callers:
            self._arrivals_done = True
            return
        peak = sc.max_rate
        if peak <= 0:
            self._arrivals_done = True
            return
        t = now
        rng = self._arrival_rng
        varying = bool(sc.amplitude or sc.bursts or sc.ramps)
        while True:  # thinning: candidates at the peak rate, kept with probability rate(t)/peak
            t += rng.expovariate(peak)
            if t >= sc.horizon and sc.max_callers is None:
                self._arrivals_done = True
                return
            if not varying or rng.random() * peak < sc.rate_at(t):
                break
        self._push(t, _ARRIVAL, None)

    def _arrive(self) -> None:
        now = self.now
        seq = len(self.callers)
        rid = f"c{seq}"
        patience = self._patience() * self.sc.patience_factor(now) if self._patience is not None else math.inf
        caller = Caller(seq, rid, now, patience, self._handle())
        self.callers.append(caller)
        self._by_rid[rid] = caller
        # Each caller their own number (Danish mobiles 26 xx xx xx): one number's callbacks merge into one.
        self._feed(ev.CallerArrived(now, rid, QUEUE, f"+4526{seq % 1_000_000:06d}"))
        if caller.rung_at is None:  # every agent busy: judge the estimates on this caller
            estimate = self.engine.estimated_wait(rid)
            # With no agent present the engine has no estimate (None): nothing to judge then.
            caller.busy_on_arrival = estimate is not None
            position = self.engine.position(rid)
            caller.ahead = (position or 1) - 1
            caller.agents_present = self.sc.agents - len(self._absent)
            caller.estimate = estimate or 0.0
            if self.predictors:
                caller.predictions = tuple(p.predict(caller.ahead, now, caller.agents_present) for p in self.predictors)
            if patience < math.inf:
                self._push(now + patience, _ABANDON, rid)
        self._schedule_next_arrival(now)

    # ------------------------------------------------------------------ the engine

    def _feed(self, event: ev.Event) -> None:
        self.result.events += 1
        for cmd in self.engine.handle(event):
            self._obey(cmd)
        if self._pending_virtual and not self.engine.orders[QUEUE] and self.engine.ready_agents(QUEUE):
            # an agent is left ready with nobody waiting: every hung-up caller would be taken now
            for _, rid in self._pending_virtual:
                self._resolve(self._by_rid[rid])
            self._pending_virtual.clear()

    def _resolve(self, caller: Caller) -> None:
        caller.potential_wait = self.now - caller.arrival

    def _obey(self, cmd: c.Command) -> None:
        now = self.now
        kind = type(cmd)
        if kind is c.Activity:
            self._activity(cmd)  # type: ignore[arg-type]
        elif kind is c.OriginateAgent:
            self._ring(cmd)  # type: ignore[arg-type]
        elif kind is c.BridgeLegs:
            self._bridged(cmd)  # type: ignore[arg-type]
        elif kind is c.PlayPrompt:
            prompt: c.PlayPrompt = cmd  # type: ignore[assignment]
            if prompt.report_finish:
                self._push(now + self.sc.whisper, _PROMPT_DONE, prompt.leg_id)
            if prompt.hangup_after:  # the shell hangs the line up once the prompt ends
                self._push(now + self.sc.confirmation, _CALLER_END, prompt.leg_id)
            if prompt.items and prompt.items[0].name == "callback_offer":
                self.result.offers += 1
                if self._caller_rng.random() < self.sc.callback_accept:
                    self._push(now + 3.0, _DTMF, (prompt.leg_id, str(prompt.items[0].value)))
        elif kind is c.OriginateCustomer:
            self.result.callback_attempts += 1
            dial: c.OriginateCustomer = cmd  # type: ignore[assignment]
            if self._caller_rng.random() < self.sc.callback_answer:
                self.result.callback_answered += 1
                self._push(now + self.sc.customer_answer_delay, _LEG_ANSWER, dial.leg_id)
            else:
                self._push(now + dial.timeout, _LEG_FAIL, dial.leg_id)

    def _ring(self, cmd: c.OriginateAgent) -> None:
        now = self.now
        caller = self._by_rid[cmd.request_id]
        if not caller.callback:
            caller.rung_at = now
            if caller.potential_wait is None:
                caller.potential_wait = now - caller.arrival
            for p in self.predictors:
                p.on_service_start(now - caller.arrival, now)
            pending = self._pending_virtual
            while pending and pending[0][0] < caller.seq:  # callers ahead who hung up would go now
                self._resolve(self._by_rid[heapq.heappop(pending)[1]])
        if self.sc.agent_no_answer and self._agent_rng.random() < self.sc.agent_no_answer:
            return  # rings out; the engine pauses the agent (see _activity)
        self._push(now + self.sc.agent_answer_delay, _LEG_ANSWER, cmd.leg_id)

    def _bridged(self, cmd: c.BridgeLegs) -> None:
        caller = self._by_rid[cmd.request_id]
        caller.connected_at = self.now
        end = self.now + caller.handle * self.sc.handle_factor(self.now)  # a shift applies to calls started after it
        if not caller.callback and self._caller_rng.random() < self.sc.caller_hangs_up_share:
            self._push(end, _CALLER_END, caller.rid)
        else:
            self._push(end, _LEG_END, cmd.agent_leg)

    def _activity(self, act: c.Activity) -> None:
        kind = act.kind
        if kind == "ended":
            caller = self._by_rid.get(act.request_id or "")
            if caller is None:
                return
            caller.outcome = act.data.get("outcome")
            if caller.outcome == "abandoned" and caller.potential_wait is None:
                heapq.heappush(self._pending_virtual, (caller.seq, caller.rid))
        elif kind in ("callback_accepted", "abandoned"):  # "abandoned" is logged only when it becomes a callback
            caller = self._by_rid.get(act.request_id or "")
            if caller is not None:
                caller.callback = True
        elif kind == "agent_paused" and act.agent_id is not None:  # let a call ring out: back later
            self._push(self.now + self.sc.agent_back_after, _AGENT_BACK, act.agent_id)

    # ------------------------------------------------------------------ agents

    def _absence_starts(self, absence: object) -> None:
        from app.sim.scenario import Absence

        assert isinstance(absence, Absence)
        present = [a for a in self.engine.agents if a not in self._absent]
        count = min(len(present), round(absence.share * self.sc.agents))
        chosen = self._agent_rng.sample(present, count)
        for agent in sorted(chosen):
            self._absent.add(agent)
            if absence.kind == "pause":
                state = self.engine.agents[agent].state
                if state not in (AgentState.RINGING, AgentState.LOGGED_OFF):
                    self._feed(ev.AgentPaused(self.now, agent, "sim_absence"))
            else:
                self._feed(ev.AgentLoggedOut(self.now, agent))
            self._push(self.now + absence.duration, _AGENT_IN, agent)

    def _agent_returns(self, agent_id: str, after_no_answer: bool) -> None:
        agent = self.engine.agents[agent_id]
        if after_no_answer and (agent_id in self._absent or agent.state is not AgentState.PAUSED):
            return
        if agent.state in (AgentState.RINGING, AgentState.BUSY):
            self._push(self.now + 1.0, _AGENT_BACK if after_no_answer else _AGENT_IN, agent_id)
            return  # still on a call: try again shortly
        self._absent.discard(agent_id)
        if agent.state is AgentState.LOGGED_OFF:
            self._feed(ev.AgentLoggedIn(self.now, agent_id))
        else:
            self._feed(ev.AgentReady(self.now, agent_id))

    def _sample(self) -> None:
        engine = self.engine
        waiting = engine.callers_waiting(QUEUE)
        busy = present = 0
        for agent in engine.agents.values():
            if agent.state in _BUSY:
                busy += 1
            if agent.state not in _AWAY:
                present += 1
        self.result.samples.append(Sample(self.now, waiting, len(engine.orders[QUEUE]) - waiting, busy, present))
        if not self._arrivals_done or self._active():
            self._push(self.now + self.sc.sample_every, _SAMPLE, None)


def simulate(scenario: Scenario, predictors: Sequence[Predictor] = (), **kw: object) -> SimResult:
    return Simulator(scenario, predictors, **kw).run()  # type: ignore[arg-type]
