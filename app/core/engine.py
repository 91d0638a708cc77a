"""The engine: events in, commands out, deadlines reported. Pure and deterministic.

Theory of operation:
- `handle(event)` first runs every timer due by `event.now`, then the event, then dispatch: any
  ready agent is matched with the first dispatchable request (see dispatch.py). It returns the
  commands for the shell, in order. An illegal event raises a CoreError before changing state;
  one made moot by a deadline due before it is dropped with an `event_ignored` activity.
- An inbound caller is answered, held with music and keeps a place. When an agent is picked, the
  agent is rung; on answer both are bridged. A caller who takes a callback keeps the same place
  (same request, same key): the callback is dispatched exactly when the caller would have been.
- A callback rings the agent first; when the agent answers they hear a whisper, then the customer
  is dialled. Answered (or voicemail) ends the request; busy / no answer / failure counts an
  attempt; with attempts left the request waits `sec_between_retries` out of the queue, then
  rejoins at the END (with an optional VIP bump). Agent trouble never counts as an attempt.
- Leg ids are handed out here; events about legs no longer expected are ignored.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from app.core import dispatch, eligibility, hours, offer
from app.core.agents import Agent, pick_agent
from app.core.commands import (
    Activity,
    Answer,
    BridgeLegs,
    Command,
    Hangup,
    JoinHolding,
    Notify,
    OriginateAgent,
    OriginateCustomer,
    PlayPrompt,
    PromptItem,
)
from app.core.errors import (
    CoreError,
    DuplicateRequest,
    IllegalAgentTransition,
    IllegalRequestAction,
    UnknownAgent,
    UnknownQueue,
    UnknownRequest,
)
from app.core.estimator import ErlangAEstimator, TracksWorkInProgress, WaitEstimator
from app.core.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentReachability,
    AgentReady,
    CallbackMoved,
    CallbackRemoved,
    CallbackRequested,
    CallerArrived,
    CallerHungUp,
    DtmfReceived,
    Event,
    LegAnswered,
    LegFailed,
    LegHungUp,
    LegLost,
    LegsReconciled,
    PromptFinished,
    SettingsChanged,
    Tick,
    WrapUpExtended,
)
from app.core.ordering import PlaceKey, PlaceOrder, place_key
from app.core.request import IN_SERVICE, Attempt, Menu, Request
from app.core.settings import CoreSettings, QueueSettings
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestKind, RequestState
from app.core.timers import Timers

CUSTOMER_TIMEOUT_MARGIN = 10.0  # our own guard beyond the originate timeout given to Asterisk
MAX_KEYED_DIGITS = 20
REQUEST_TIMERS = ("offer", "announce", "menu", "ring", "customer", "not_before", "expire")


class IneligibleNumber(IllegalRequestAction):
    def __init__(self, verdict: eligibility.Verdict) -> None:
        super().__init__(f"number refused: {verdict.refusal}")
        self.verdict = verdict


class Engine:
    def __init__(self, settings: CoreSettings, estimator: WaitEstimator | None = None) -> None:
        self.settings = settings
        self.queues: dict[str, QueueSettings] = {q.name: q for q in settings.queues}
        self.orders: dict[str, PlaceOrder] = {q.name: PlaceOrder() for q in settings.queues}
        self.agents: dict[str, Agent] = {a.id: Agent(a) for a in settings.agents}
        self.requests: dict[str, Request] = {}  # active ones; ended ones leave
        self.estimator: WaitEstimator = estimator or ErlangAEstimator()
        self.closed_since: dict[str, float | None] = {}
        self._callers_waiting = {q.name: 0 for q in settings.queues}
        self._legs: dict[str, tuple[str, str]] = {}  # leg id -> (request id, "agent"/"customer")
        self._timers = Timers()
        self._seq = 0
        self._leg_seq = 0
        self._random = {q.name: random.Random(q.callback.random_seed) for q in settings.queues}
        self._started = False
        self._out: list[Command] = []
        # Requests changed since the shell last asked: it stores them before acting (commit before act).
        self._touched: dict[str, Request] = {}
        self._now = 0.0
        self._handlers = self._handler_table()

    # ------------------------------------------------------------------ public interface

    def handle(self, event: Event) -> list[Command]:
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"unknown event {type(event).__name__}")
        self._validate(event)
        self._out = []
        self._touched = {}
        self._now = event.now
        if not self._started:
            self._start(event.now)
        self._timers.pop_due(event.now, self._on_timer)
        try:
            # A deadline due before the event may have made it moot (the callback expired, the
            # wrap-up ended, a requested logout took effect). It was legal when sent, so it is
            # dropped, not refused: refusing now would lose the timers' commands.
            self._validate(event)
        except CoreError as moot:
            self._activity("event_ignored", None, event=type(event).__name__, reason=str(moot))
        else:
            handler(event)
        self._dispatch()
        out, self._out = self._out, []
        return out

    def restore(
        self, requests: Iterable[Request], agents: Iterable[tuple[str, AgentState, str | None]], now: float
    ) -> None:
        """Take back what was stored before a restart, before the first event.

        Places, attempts and legs come back as they were; deadlines are set afresh from `now`
        (a ring or a dial in progress gets its full timeout again). The shell then reports every
        expected leg that no longer exists as `LegLost`, so nothing is dialled twice and nobody is
        forgotten.
        """
        if self._started:
            raise IllegalRequestAction("restore must come before the first event")
        requests = [r for r in requests if r.state is not RequestState.ENDED]
        stranded = [f"{r.id} ({r.queue!r})" for r in requests if r.queue not in self.queues]
        if stranded:  # dropping them silently would forget promised callbacks
            raise UnknownQueue(
                "stored requests are in queues no longer configured: "
                + ", ".join(stranded[:5])
                + "; put the queues back in the settings, move the requests, then remove the queues"
            )
        self._now = now
        self._start(now)
        self._leg_seq = max(self._leg_seq, int(now * 1000))  # leg ids stay unique across restarts
        for q in self.queues.values():  # a close sweep due before the restart must still come
            closed_at = self.closed_since.get(q.name)
            if closed_at is not None:
                self._timers.set("close_sweep", q.name, max(now, closed_at + q.max_wait_after_close))
        for agent_id, state, reason in agents:
            agent = self.agents.get(agent_id)
            if agent is None:
                continue  # removed from the settings since
            if state in (AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP):
                state, reason = AgentState.READY, None  # re-linked below if its request is in service
            agent.set_state(state, now, reason)
        for req in requests:
            self.requests[req.id] = req
            self._seq = max(self._seq, req.place[2])
            for leg, role in ((req.customer_leg, "customer"), (req.agent_leg, "agent")):
                if leg is not None:
                    self._legs[leg] = (req.id, role)
                    # the clock may have gone back: never hand out a restored leg's id again
                    seq = leg.rpartition(":")[2][1:]
                    if seq.isdigit():
                        self._leg_seq = max(self._leg_seq, int(seq))
            self._restore_timers(req, now)
        for req in self.requests.values():
            if req.state is RequestState.WAITING:
                self._enter_queue(req)
            elif req.state in IN_SERVICE:
                agent = self.agents.get(req.agent_id or "")
                if agent is None:
                    continue
                agent.request_id = req.id
                ringing = req.state is RequestState.RINGING_AGENT
                agent.set_state(AgentState.RINGING if ringing else AgentState.BUSY, now)
                if req.state is RequestState.CONNECTED:
                    self._report_call_started(req)  # so the estimator counts its end consistently

    def _restore_timers(self, req: Request, now: float) -> None:
        q = self.queues[req.queue]
        if req.is_callback and req.callback_requested_at is not None:
            self._timers.set("expire", req.id, max(now, req.callback_requested_at + q.callback.max_age))
        if req.state is RequestState.QUARANTINE or (req.state is RequestState.WAITING and req.not_before > now):
            self._timers.set("not_before", req.id, max(now, req.not_before))
        if req.state is RequestState.WAITING and not req.is_callback:
            if req.next_offer_at is not None:
                self._timers.set("offer", req.id, max(now, req.next_offer_at))
            if q.announce.position or q.announce.estimated_wait:
                self._timers.set("announce", req.id, max(now, req.next_announce_at or now))
            if req.menu is not None:  # else the caller stays in the menu: no offers, no announcements
                self._timers.set("menu", req.id, max(now, req.menu.deadline))
        elif req.state is RequestState.RINGING_AGENT:
            self._timers.set("ring", req.id, now + q.ring_timeout)
        elif req.state is RequestState.DIALLING_CUSTOMER:
            self._timers.set("customer", req.id, now + q.callback.customer_ring_timeout + CUSTOMER_TIMEOUT_MARGIN)

    def expected_legs(self) -> list[tuple[str, str, str, bool]]:
        """Legs the engine believes are up: (leg id, request id, role, answered)."""
        out = []
        for req in self.requests.values():
            if req.customer_leg is not None:
                answered = req.kind is RequestKind.INBOUND or req.state is RequestState.CONNECTED
                out.append((req.customer_leg, req.id, "customer", answered))
            if req.agent_leg is not None:
                out.append((req.agent_leg, req.id, "agent", req.state is not RequestState.RINGING_AGENT))
        return out

    def take_touched(self) -> list[Request]:
        """The requests changed (or ended) since the last call, in their current state."""
        touched, self._touched = list(self._touched.values()), {}
        return touched

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    def position(self, request_id: str) -> int | None:
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.WAITING:
            return None
        return self.orders[req.queue].position(req.place)

    def waiting(self, queue: str) -> list[Request]:
        return [self.requests[rid] for rid in self.orders[queue]]

    def iter_waiting(self, queue: str) -> Iterator[Request]:
        return (self.requests[rid] for rid in self.orders[queue])

    def callers_waiting(self, queue: str) -> int:
        return self._callers_waiting[queue]

    def estimated_wait(self, request_id: str) -> float | None:
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.WAITING:
            return None
        ahead = self.orders[req.queue].position(req.place) - 1
        return self._estimate(req.queue, ahead)

    def agents_serving(self, queue: str) -> int:
        """Agents who will take the queue's callers: logged in, not paused, and not leaving after this call."""
        return sum(
            1
            for a in self.agents.values()
            if a.serves(queue) and a.after_call is None and a.state not in (AgentState.LOGGED_OFF, AgentState.PAUSED)
        )

    # ------------------------------------------------------------------ plumbing

    def _handler_table(self) -> dict[type[Event], Callable[[Any], None]]:
        return {
            CallerArrived: self._caller_arrived,
            DtmfReceived: self._dtmf,
            CallerHungUp: self._caller_hung_up,
            PromptFinished: self._prompt_finished,
            LegAnswered: self._leg_answered,
            LegFailed: self._leg_failed,
            LegHungUp: self._leg_hung_up,
            LegLost: self._leg_lost,
            LegsReconciled: self._legs_reconciled,
            AgentLoggedIn: self._agent_ready,
            AgentReady: self._agent_ready,
            AgentPaused: self._agent_paused,
            AgentLoggedOut: self._agent_logged_out,
            AgentReachability: self._agent_reachability,
            WrapUpExtended: self._wrap_up_extended,
            CallbackRemoved: self._callback_removed,
            CallbackMoved: self._callback_moved,
            CallbackRequested: self._callback_requested,
            SettingsChanged: self._settings_changed,
            Tick: lambda event: None,
        }

    def _validate(self, event: Event) -> None:
        """Refuse illegal events before anything changes."""
        if isinstance(event, SettingsChanged):
            self._check_new_settings(event.settings)
        elif isinstance(event, CallerArrived):
            if event.request_id in self.requests:
                raise DuplicateRequest(f"request {event.request_id} already exists")
            self._queue(event.queue)
        elif isinstance(event, CallbackRequested):
            if event.request_id in self.requests:
                raise DuplicateRequest(f"request {event.request_id} already exists")
            rules = self._queue(event.queue).eligibility
            verdict = eligibility.check(event.number, rules)
            if not verdict.eligible:
                raise IneligibleNumber(verdict)
        elif isinstance(event, (AgentLoggedIn, AgentReady, AgentPaused, AgentLoggedOut)):
            agent = self._agent(event.agent_id)
            if isinstance(event, AgentPaused) and agent.state in (AgentState.LOGGED_OFF, AgentState.RINGING):
                raise IllegalAgentTransition(f"agent {agent.id} is {agent.state}; cannot pause now")
            if isinstance(event, (AgentReady, AgentLoggedIn)) and agent.state in (
                AgentState.RINGING,
                AgentState.BUSY,
            ):
                raise IllegalAgentTransition(f"agent {agent.id} is {agent.state}; finish the call first")
        elif isinstance(event, (AgentReachability, WrapUpExtended)):
            agent = self._agent(event.agent_id)
            if isinstance(event, WrapUpExtended) and agent.state is not AgentState.WRAP_UP:
                raise IllegalAgentTransition(f"agent {agent.id} is {agent.state}, not in wrap-up")
        elif isinstance(event, (CallbackRemoved, CallbackMoved)):
            req = self.requests.get(event.request_id)
            if req is None:
                raise UnknownRequest(f"no waiting request {event.request_id}")
            if not req.is_callback or req.state not in (RequestState.WAITING, RequestState.QUARANTINE):
                raise IllegalRequestAction(
                    f"request {req.id} is a {req.kind} in state {req.state}; only waiting callbacks"
                )
            if isinstance(event, CallbackMoved):
                self._queue(event.to_queue)

    def _queue(self, name: str) -> QueueSettings:
        try:
            return self.queues[name]
        except KeyError:
            raise UnknownQueue(f"no queue named {name!r}") from None

    def _agent(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id!r}") from None

    def _emit(self, *commands: Command) -> None:
        self._out.extend(commands)

    def _activity(self, kind: str, req: Request | None = None, agent: str | None = None, **data: object) -> None:
        self._record(kind, req, agent, data)

    def _record(self, kind: str, req: Request | None, agent: str | None, data: dict[str, object]) -> None:
        if req is not None:  # every change of a request records an activity: that marks it for storing
            self._touched[req.id] = req
        self._emit(
            Activity(
                kind=kind,
                request_id=req.id if req else None,
                agent_id=agent if agent is not None else (req.agent_id if req else None),
                queue=req.queue if req else None,
                at=self._now,
                data=data,
            )
        )

    def _new_leg(self, req: Request, role: str) -> str:
        self._leg_seq += 1
        leg = f"{req.id}:{role[0]}{self._leg_seq}"
        self._legs[leg] = (req.id, role)
        return leg

    def _leg(self, leg_id: str) -> tuple[Request, str] | None:
        owner = self._legs.get(leg_id)
        if owner is None:
            return None
        req = self.requests.get(owner[0])
        if req is None:
            return None
        if leg_id not in (req.agent_leg, req.customer_leg):
            return None
        return req, owner[1]

    def _forget_leg(self, leg_id: str | None) -> None:
        if leg_id is not None:
            self._legs.pop(leg_id, None)

    def _start(self, now: float) -> None:
        self._started = True
        for q in self.queues.values():
            if hours.is_open(q.hours, now):
                self.closed_since[q.name] = None
            else:  # closed since the last closing time, or since now if it never opened lately
                self.closed_since[q.name] = hours.last_close_before(q.hours, now) or now
            self._schedule_hours(q, now)

    def _schedule_hours(self, q: QueueSettings, now: float) -> None:
        change = hours.next_change(q.hours, now)
        if change is not None:
            self._timers.set("hours", q.name, change)

    def _is_open(self, queue: str) -> bool:
        return self.closed_since.get(queue) is None

    # ------------------------------------------------------------------ places

    def _next_place(self, req_priority: int, place_time: float) -> PlaceKey:
        self._seq += 1
        return place_key(req_priority, place_time, self._seq)

    def _enter_queue(self, req: Request) -> None:
        req.state = RequestState.WAITING
        self.orders[req.queue].add(req.place, req.id)
        if not req.is_callback:
            self._callers_waiting[req.queue] += 1

    def _leave_queue(self, req: Request) -> None:
        if req.state is RequestState.WAITING:
            self.orders[req.queue].remove(req.place)
            if not req.is_callback:
                self._callers_waiting[req.queue] -= 1

    def _end(self, req: Request, outcome: Outcome, **data: object) -> None:
        self._leave_queue(req)
        req.state = RequestState.ENDED
        req.outcome = outcome
        req.ended_at = self._now
        req.menu = None
        self._timers.cancel_all(req.id, REQUEST_TIMERS)
        self._forget_leg(req.agent_leg)
        self._forget_leg(req.customer_leg)
        del self.requests[req.id]
        self._record("ended", req, None, {"outcome": outcome.value, **data})

    def _estimate(self, queue: str, ahead: int) -> float:
        free = sum(1 for a in self.agents.values() if a.available and a.serves(queue))
        return self.estimator.estimate(queue, ahead, self.agents_serving(queue), free)

    def _tracks_work_in_progress(self) -> TracksWorkInProgress | None:
        """The estimator, if it also counts calls in progress (a cheap check: estimate() runs often)."""
        est = self.estimator
        return cast(TracksWorkInProgress, est) if hasattr(est, "on_call_ended") else None

    def _report_call_started(self, req: Request) -> None:
        wip = self._tracks_work_in_progress()
        if wip is not None:
            wip.on_call_started(req.queue, self._now)

    def _report_handled(self, req: Request, wrap_up: float) -> None:
        """Handle time = talk + wrap-up, reported when the call ends."""
        started = req.service_started_at if req.service_started_at is not None else self._now
        handle_time = self._now - started + wrap_up
        wip = self._tracks_work_in_progress()
        if wip is not None:
            wip.on_call_ended(req.queue, started, handle_time, self._now)
        else:
            self.estimator.on_handled(req.queue, handle_time, self._now)

    # ------------------------------------------------------------------ callers

    def _new_request(
        self, request_id: str, queue: str, priority: int, number: str | None, customer_leg: str | None = None
    ) -> Request:
        """A new contact, placed now; it becomes a callback later if it takes one."""
        req = Request(
            id=request_id,
            queue=queue,
            kind=RequestKind.INBOUND,
            priority=priority,
            arrived_at=self._now,
            queued_since=self._now,
            place=self._next_place(priority, self._now),
            caller_number=number,
            customer_leg=customer_leg,
        )
        self.requests[req.id] = req
        return req

    def _caller_arrived(self, e: CallerArrived) -> None:
        q = self.queues[e.queue]
        req = self._new_request(e.request_id, q.name, e.priority, e.caller_number, customer_leg=e.request_id)
        self._legs[req.id] = (req.id, "customer")
        self._emit(Answer(req.id))
        if not self._is_open(q.name):
            self._emit(PlayPrompt(req.id, (PromptItem("closed"),), hangup_after=True))
            req.state = RequestState.ENDED  # it never took a place, so there is none to give up
            self._end(req, Outcome.CLOSED, arrived_while_closed=True)
            return
        self._emit(JoinHolding(req.id, q.name))
        self._enter_queue(req)
        self._activity("arrived", req, caller=e.caller_number, position=self.position(req.id))
        first_offer = offer.first_offer_at(q.callback, e.now)
        if first_offer is not None:
            req.next_offer_at = first_offer
            self._timers.set("offer", req.id, first_offer)
        if q.announce.position or q.announce.estimated_wait:
            self._timers.set("announce", req.id, e.now)

    def _caller_hung_up(self, e: CallerHungUp) -> None:
        req = self.requests.get(e.request_id)
        if req is None or req.kind is not RequestKind.INBOUND:
            return  # already a callback, or gone: the old line ending is expected
        q = self.queues[req.queue]
        if req.state is RequestState.WAITING:
            waited = req.gross_wait(e.now)
            self.estimator.on_abandoned(req.queue, req.net_wait(e.now), e.now)
            after = q.callback.abandon_callback_after
            if q.callback.enabled and after is not None and waited >= after:
                verdict = eligibility.check(req.caller_number, q.eligibility)
                if verdict.eligible and verdict.number is not None:
                    self._activity("abandoned", req, waited=waited, callback=True)
                    self._promise_callback(req, verdict.number, automatic=True)
                    return
            self._end(req, Outcome.ABANDONED, waited=waited)
        elif req.state is RequestState.RINGING_AGENT:
            self.estimator.on_abandoned(req.queue, req.net_wait(e.now), e.now)
            self._emit(Hangup(req.agent_leg or "", "caller_gone"))  # before _take_agent forgets the leg
            agent = self._take_agent(req)
            if agent is not None:
                self._release_agent(agent, None)
            self._end(req, Outcome.ABANDONED, waited=req.gross_wait(e.now))
        elif req.state is RequestState.CONNECTED:
            self._finish_call(req, hung_up_by="customer")

    def _dtmf(self, e: DtmfReceived) -> None:
        req = self.requests.get(e.request_id)
        if req is None or req.kind is not RequestKind.INBOUND or req.state is not RequestState.WAITING:
            return
        q = self.queues[req.queue]
        cb = q.callback
        leg = req.customer_leg or req.id
        menu = req.menu
        if menu is None:
            if not cb.enabled or e.digit != cb.key:
                return
            verdict = eligibility.check(req.caller_number, q.eligibility)
            if not verdict.eligible:
                self._activity("callback_refused", req, reason=str(verdict.refusal))
                self._emit(PlayPrompt(leg, (PromptItem("callback_unavailable"),)))
                return
            self._activity("callback_key", req)
            if not cb.allow_other_number:
                assert verdict.number is not None
                self._promise_callback(req, verdict.number, automatic=False)
                return
            self._open_menu(req, "choose")
            self._emit(PlayPrompt(leg, (PromptItem("callback_choose_number"),)))
            return
        if menu.step == "choose":
            if e.digit == "1":
                verdict = eligibility.check(req.caller_number, q.eligibility)
                assert verdict.number is not None
                self._promise_callback(req, verdict.number, automatic=False)
            elif e.digit == "2":
                self._open_menu(req, "enter")
                self._emit(PlayPrompt(leg, (PromptItem("callback_enter_number"),)))
            elif e.digit == "*":
                self._close_menu(req)
            return
        # step "enter": digits until "#"
        if e.digit.isdigit() and len(menu.digits) < MAX_KEYED_DIGITS:
            menu.digits += e.digit
            self._touch_menu(req)
        elif e.digit == "*":
            self._close_menu(req)
        elif e.digit == "#":
            verdict = eligibility.check(menu.digits, q.eligibility)
            if verdict.eligible and verdict.number is not None:
                self._promise_callback(req, verdict.number, automatic=False, entered=True)
                return
            menu.invalid_entries += 1
            self._activity("callback_number_refused", req, reason=str(verdict.refusal))
            if menu.invalid_entries == 1:
                menu.digits = ""
                self._touch_menu(req)
                self._emit(
                    PlayPrompt(leg, (PromptItem("callback_number_invalid"), PromptItem("callback_enter_number")))
                )
            else:
                self._close_menu(req)
                self._emit(PlayPrompt(leg, (PromptItem("callback_unavailable"),)))

    def _open_menu(self, req: Request, step: str) -> None:
        req.menu = Menu(step=step)
        self._touch_menu(req)

    def _touch_menu(self, req: Request) -> None:
        assert req.menu is not None
        req.menu.deadline = self._now + self.settings.menu_timeout
        self._timers.set("menu", req.id, req.menu.deadline)

    def _close_menu(self, req: Request) -> None:
        req.menu = None
        self._timers.cancel("menu", req.id)

    def _promise_callback(self, req: Request, number: str, automatic: bool, entered: bool = False) -> None:
        """The caller keeps their place as a callback; their line ends after the confirmation."""
        cb = self.queues[req.queue].callback
        line = req.customer_leg
        if req.state is RequestState.WAITING and not req.is_callback:
            self._callers_waiting[req.queue] -= 1
        req.kind = RequestKind.CALLBACK
        req.callback_number = number
        req.callback_requested_at = self._now
        req.not_before = self._now + cb.callback_delay
        req.menu = None
        req.customer_leg = None
        self._forget_leg(line)
        for kind in ("offer", "announce", "menu"):
            self._timers.cancel(kind, req.id)
        self._timers.set("expire", req.id, self._now + cb.max_age)
        if req.not_before > self._now:
            self._timers.set("not_before", req.id, req.not_before)
        self._activity(
            "callback_accepted",
            req,
            number=number,
            automatic=automatic,
            entered_number=entered,
            position=self.position(req.id),
        )
        if line is not None and not automatic:
            self._emit(PlayPrompt(line, (PromptItem("callback_confirmed"),), hangup_after=True))

    def _callback_requested(self, e: CallbackRequested) -> None:
        q = self.queues[e.queue]
        verdict = eligibility.check(e.number, q.eligibility)
        assert verdict.number is not None
        req = self._new_request(e.request_id, q.name, e.priority, e.number)
        self._enter_queue(req)
        self._activity("arrived", req, caller=e.number, position=self.position(req.id), channel="web")
        self._promise_callback(req, verdict.number, automatic=True)

    # ------------------------------------------------------------------ legs

    def _prompt_finished(self, e: PromptFinished) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if req.state is RequestState.WHISPER and role == "agent":
            self._dial_customer(req)

    def _leg_answered(self, e: LegAnswered) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if role == "agent" and req.state is RequestState.RINGING_AGENT:
            self._timers.cancel("ring", req.id)
            self.agents[req.agent_id or ""].start_call(e.now)
            if req.is_callback:
                req.state = RequestState.WHISPER
                self._activity("agent_answered", req)
                items = (PromptItem("callback_whisper"), PromptItem("number", req.callback_number))
                self._emit(PlayPrompt(e.leg_id, items, report_finish=True))
            else:
                self._connect(req)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
            self._timers.cancel("customer", req.id)
            attempt = req.attempts[-1]
            attempt.outcome = AttemptOutcome.VOICEMAIL if e.voicemail else AttemptOutcome.ANSWERED
            attempt.ended_at = e.now
            self._activity("attempt_outcome", req, attempt=attempt.number, outcome=attempt.outcome.value)
            message = self.queues[req.queue].callback.voicemail_message
            if e.voicemail and message:
                self._emit(PlayPrompt(e.leg_id, (PromptItem(message),), hangup_after=True))
                self._emit(Hangup(req.agent_leg or "", "voicemail"))
                agent = self._take_agent(req)
                if agent is not None:
                    self._release_agent(agent, None)
                self._end(req, Outcome.SERVED, voicemail=True)
                return
            self._connect(req)

    def _connect(self, req: Request) -> None:
        assert req.customer_leg is not None and req.agent_leg is not None
        req.state = RequestState.CONNECTED
        req.service_started_at = self._now
        self.estimator.on_served(req.queue, req.net_wait(self._now), self._now)
        self._report_call_started(req)
        self._emit(BridgeLegs(req.id, req.customer_leg, req.agent_leg))
        net_wait = req.net_wait(self._now)
        self._activity(
            "connected",
            req,
            gross_wait=req.gross_wait(self._now),
            net_wait=net_wait,
            within_sla=net_wait <= self.queues[req.queue].service_level,  # SLA is judged on net wait
        )

    def _leg_failed(self, e: LegFailed) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if role == "agent" and req.state is RequestState.RINGING_AGENT:
            self._agent_did_not_answer(req, hangup=False, cause=e.cause)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
            self._customer_attempt_failed(req, e.outcome, cause=e.cause)

    def _leg_hung_up(self, e: LegHungUp) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if req.state is RequestState.CONNECTED:
            self._finish_call(req, hung_up_by=role)
        elif role == "agent" and req.state is RequestState.WHISPER:
            self._agent_abandoned_callback(req)
        elif role == "agent" and req.state is RequestState.DIALLING_CUSTOMER:
            self._emit(Hangup(req.customer_leg or "", "agent_gone"))
            self._timers.cancel("customer", req.id)
            req.attempts[-1].outcome = AttemptOutcome.AGENT_NO_ANSWER
            req.attempts[-1].ended_at = self._now
            self._forget_leg(req.customer_leg)
            req.customer_leg = None
            self._agent_abandoned_callback(req)
        elif role == "agent" and req.state is RequestState.RINGING_AGENT:
            self._agent_did_not_answer(req, hangup=False, cause=None)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
            self._customer_attempt_failed(req, AttemptOutcome.FAILED, cause=None)

    def _leg_lost(self, e: LegLost) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if req.state is RequestState.CONNECTED:
            self._finish_call(req, hung_up_by=f"{role}_lost")
            return
        if role == "customer" and req.kind is RequestKind.INBOUND:
            # The caller's line is gone (e.g. Asterisk restarted): no callback can be promised now.
            if req.state is RequestState.RINGING_AGENT:
                self._emit(Hangup(req.agent_leg or "", "caller_lost"))
                agent = self._take_agent(req)
                if agent is not None:
                    self._release_agent(agent, None)
            self._end(req, Outcome.DROPPED, reason=e.reason)
            return
        # An originated leg of a request in service: back to its place, nothing counted. The
        # other originated leg (agent or callback customer) is hung up; a caller on hold stays.
        if req.state is RequestState.DIALLING_CUSTOMER:
            req.attempts[-1].outcome = AttemptOutcome.INTERRUPTED
            req.attempts[-1].ended_at = self._now
            self._timers.cancel("customer", req.id)
            other = req.agent_leg if role == "customer" else req.customer_leg
            if other is not None:
                self._emit(Hangup(other, "interrupted"))
            self._forget_leg(req.customer_leg)
            req.customer_leg = None
        agent = self._take_agent(req)
        if agent is not None:
            self._release_agent(agent, None)
        self._activity("interrupted", req, leg=role, reason=e.reason)
        self._return_to_place(req)

    def _take_agent(self, req: Request) -> Agent | None:
        agent = self.agents.get(req.agent_id or "")
        self._timers.cancel("ring", req.id)
        self._forget_leg(req.agent_leg)
        req.agent_leg = None
        req.agent_id = None
        return agent

    def _return_to_place(self, req: Request) -> None:
        if req.is_callback and req.callback_requested_at is not None:
            if self._now >= req.callback_requested_at + self.queues[req.queue].callback.max_age:
                self._expire(req)  # its expiry timer came up while it was in service
                return
        self._enter_queue(req)

    def _agent_did_not_answer(self, req: Request, hangup: bool, cause: int | None) -> None:
        if hangup:
            self._emit(Hangup(req.agent_leg or "", "ring_timeout"))
        agent_id = req.agent_id
        agent = self._take_agent(req)
        if agent is not None:
            agent.not_responding(self._now)
            self._activity("agent_paused", None, agent=agent.id, reason="not_responding")
        self._activity("agent_no_answer", req, agent=agent_id, cause=cause)
        self._return_to_place(req)

    def _agent_abandoned_callback(self, req: Request) -> None:
        agent_id = req.agent_id
        agent = self._take_agent(req)
        if agent is not None:
            self._release_agent(agent, self.queues[req.queue].wrap_up)
        self._activity("agent_left_callback", req, agent=agent_id)
        self._return_to_place(req)

    def _dial_customer(self, req: Request) -> None:
        q = self.queues[req.queue]
        assert req.callback_number is not None and req.agent_id is not None
        req.state = RequestState.DIALLING_CUSTOMER
        attempt = Attempt(number=req.counted_attempts + 1, started_at=self._now, agent_id=req.agent_id)
        req.attempts.append(attempt)
        req.customer_leg = self._new_leg(req, "customer")
        self._timers.set("customer", req.id, self._now + q.callback.customer_ring_timeout + CUSTOMER_TIMEOUT_MARGIN)
        self._activity("attempt_started", req, attempt=attempt.number, number=req.callback_number)
        self._emit(
            OriginateCustomer(
                leg_id=req.customer_leg,
                request_id=req.id,
                number=req.callback_number,
                caller_id_number=q.callback.caller_id,
                timeout=q.callback.customer_ring_timeout,
                queue=q.name,
                attempt=attempt.number,
                amd=q.callback.amd,
            )
        )

    def _customer_attempt_failed(self, req: Request, outcome: AttemptOutcome, cause: int | None) -> None:
        q = self.queues[req.queue]
        cb = q.callback
        self._timers.cancel("customer", req.id)
        attempt = req.attempts[-1]
        attempt.outcome = outcome
        attempt.ended_at = self._now
        self._forget_leg(req.customer_leg)
        req.customer_leg = None
        self._emit(Hangup(req.agent_leg or "", "customer_unreachable"))
        agent = self._take_agent(req)
        if agent is not None:
            self._release_agent(agent, None)
        self._activity("attempt_outcome", req, attempt=attempt.number, outcome=outcome.value, cause=cause)
        assert req.callback_requested_at is not None
        if self._now >= req.callback_requested_at + cb.max_age:
            self._expire(req)
        elif (outcome is AttemptOutcome.BUSY and cb.give_up_on_busy) or req.counted_attempts >= cb.max_attempts:
            self._emit(Notify("missed_callback", req.id, req.queue, req.callback_number))
            self._end(req, Outcome.MISSED, attempts=req.counted_attempts, last=outcome.value)
        else:
            req.state = RequestState.QUARANTINE
            req.not_before = self._now + cb.sec_between_retries
            self._timers.set("not_before", req.id, req.not_before)
            self._activity("quarantine", req, until=req.not_before)

    def _finish_call(self, req: Request, hung_up_by: str) -> None:
        data: dict[str, object] = {"hung_up_by": hung_up_by}
        # the other side is hung up: the customer's or the agent's leg ended (or was lost)
        other = req.agent_leg if hung_up_by in ("customer", "customer_lost") else req.customer_leg
        if other is not None:
            self._emit(Hangup(other, f"{hung_up_by}_hung_up"))
        q = self.queues[req.queue]
        agent = self._take_agent(req)
        if agent is not None:
            data["agent"] = agent.id
            self._report_handled(req, q.wrap_up)
            self._release_agent(agent, q.wrap_up)
        self._end(req, Outcome.SERVED, **data)

    def _release_agent(self, agent: Agent, wrap_up: float | None) -> None:
        """Free the agent; a wrap-up always gets its timer, or the agent would stay in it for good."""
        before = agent.state
        agent.release(self._now, wrap_up)
        if agent.wrap_up_until is not None:
            self._timers.set("wrap_up", agent.id, agent.wrap_up_until)
        self._activity("agent_state", None, agent=agent.id, state=agent.state.value, previous=before.value)

    # ------------------------------------------------------------------ agents

    def _agent_ready(self, e: AgentReady | AgentLoggedIn) -> None:
        agent = self.agents[e.agent_id]
        before = agent.state
        agent.go_ready(e.now)
        self._timers.cancel("wrap_up", agent.id)
        if before is not agent.state:
            self._activity("agent_state", None, agent=agent.id, state=agent.state.value, previous=before.value)

    def _agent_paused(self, e: AgentPaused) -> None:
        agent = self.agents[e.agent_id]
        before = agent.state
        agent.pause(e.now, e.reason)
        if agent.state is not AgentState.PAUSED:  # during a call: the wrap-up end logs the change
            self._activity("agent_state_requested", None, agent=agent.id, state="paused", reason=e.reason)
            return
        self._activity("agent_state", None, agent=agent.id, state="paused", previous=before.value, reason=e.reason)

    def _agent_logged_out(self, e: AgentLoggedOut) -> None:
        agent = self.agents[e.agent_id]
        before = agent.state
        if agent.state in (AgentState.BUSY, AgentState.WRAP_UP):
            agent.after_call, agent.after_call_reason = AgentState.LOGGED_OFF, None
            self._activity("agent_state_requested", None, agent=agent.id, state="logged_off")
            return
        if agent.state is AgentState.RINGING:
            req = self.requests[agent.request_id or ""]
            self._emit(Hangup(req.agent_leg or "", "agent_logged_out"))
            self._take_agent(req)
            agent.request_id = None
            self._return_to_place(req)
        agent.set_state(AgentState.LOGGED_OFF, e.now)
        self._activity("agent_state", None, agent=agent.id, state="logged_off", previous=before.value)

    def _agent_reachability(self, e: AgentReachability) -> None:
        agent = self.agents[e.agent_id]
        if agent.reachable != e.reachable:
            agent.reachable = e.reachable
            self._activity("agent_reachability", None, agent=agent.id, reachable=e.reachable)

    def _wrap_up_extended(self, e: WrapUpExtended) -> None:
        agent = self.agents[e.agent_id]
        room = self.settings.max_wrap_up_extension - agent.wrap_up_extended
        extra = max(0.0, min(e.seconds, room))
        assert agent.wrap_up_until is not None
        agent.wrap_up_extended += extra
        agent.wrap_up_until += extra
        self._timers.set("wrap_up", agent.id, agent.wrap_up_until)

    # ------------------------------------------------------------------ admin

    def _callback_removed(self, e: CallbackRemoved) -> None:
        req = self.requests[e.request_id]
        self._end(req, Outcome.REMOVED, by=e.by, reason=e.reason)

    def _callback_moved(self, e: CallbackMoved) -> None:
        req = self.requests[e.request_id]
        old = req.queue
        self._leave_queue(req)
        req.queue = e.to_queue
        req.place = self._next_place(req.priority, e.now)
        if req.state is RequestState.WAITING:
            self._enter_queue(req)
        self._activity("moved", req, from_queue=old, to_queue=e.to_queue, by=e.by, reason=e.reason, place_kept=False)

    # ------------------------------------------------------------------ reload

    def _check_new_settings(self, new: CoreSettings) -> None:
        names = {q.name for q in new.queues}
        problems = []
        for req in self.requests.values():
            if req.queue not in names:
                problems.append(f"queue {req.queue!r} still has request {req.id} ({req.state}); move or end it first")
        agents = {a.id for a in new.agents}
        for agent in self.agents.values():
            if agent.id not in agents and agent.state is not AgentState.LOGGED_OFF:
                problems.append(f"agent {agent.id!r} is {agent.state}; log them out before removing them")
        if problems:
            raise IllegalRequestAction("settings not applied: " + "; ".join(problems[:5]))

    def _settings_changed(self, e: SettingsChanged) -> None:
        """Apply new settings to everything going on: places, attempts and agents' states stay."""
        new = e.settings
        self.settings = new
        self.queues = {q.name: q for q in new.queues}
        for name in self.queues:
            self.orders.setdefault(name, PlaceOrder())
            self._callers_waiting.setdefault(name, 0)
            self._random.setdefault(name, random.Random(self.queues[name].callback.random_seed))
        for name in [n for n in self.orders if n not in self.queues]:
            del self.orders[name], self._callers_waiting[name], self._random[name]
            self.closed_since.pop(name, None)
            self._timers.cancel("hours", name)  # its handler would look the queue up
            self._timers.cancel("close_sweep", name)
        for a in new.agents:
            if a.id in self.agents:
                self.agents[a.id].settings = a
            else:
                self.agents[a.id] = Agent(a)
        for agent_id in [i for i in self.agents if i not in {a.id for a in new.agents}]:
            del self.agents[agent_id]
        for q in self.queues.values():  # hours may have changed: recompute open/closed and the next change
            was_open = self.closed_since.get(q.name) is None
            if hours.is_open(q.hours, e.now):
                self.closed_since[q.name] = None
            elif was_open or q.name not in self.closed_since:
                # open until this reload: it closes now, so callers holding get max_wait_after_close
                closed_at = e.now if q.name in self.closed_since else hours.last_close_before(q.hours, e.now) or e.now
                self.closed_since[q.name] = closed_at
                self._timers.set("close_sweep", q.name, closed_at + q.max_wait_after_close)
            self._timers.cancel("hours", q.name)
            self._schedule_hours(q, e.now)
        for req in list(self.requests.values()):  # a lowered max_attempts: no attempt beyond it
            cb = self.queues[req.queue].callback
            waiting = req.state in (RequestState.WAITING, RequestState.QUARANTINE)
            if req.is_callback and waiting and req.attempts and req.counted_attempts >= cb.max_attempts:
                self._emit(Notify("missed_callback", req.id, req.queue, req.callback_number))
                last = req.attempts[-1].outcome
                self._end(req, Outcome.MISSED, attempts=req.counted_attempts, last=last.value if last else None)
        self._activity("settings_changed", None, queues=sorted(self.queues), agents=sorted(self.agents))

    # ------------------------------------------------------------------ timers

    def _on_timer(self, kind: str, subject: str, at: float) -> None:
        saved = self._now
        self._now = at
        try:
            {
                "offer": self._offer_due,
                "announce": self._announce_due,
                "menu": self._menu_due,
                "ring": self._ring_due,
                "customer": self._customer_due,
                "wrap_up": self._wrap_up_due,
                "not_before": self._not_before_due,
                "expire": self._expire_due,
                "hours": self._hours_due,
                "close_sweep": self._close_sweep_due,
            }[kind](subject)
        finally:
            self._now = saved

    def _offer_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.kind is not RequestKind.INBOUND or req.state is not RequestState.WAITING:
            return
        q = self.queues[req.queue]
        estimate = self.estimated_wait(req.id) or 0.0
        decision = offer.decide(q.callback, estimate, self._now, req.offers, req.menu is not None)
        if decision.offer_now:
            verdict = eligibility.check(req.caller_number, q.eligibility)
            if verdict.eligible:
                req.offers += 1
                self._activity("offered", req, estimate=round(estimate, 1), key=q.callback.key)
                self._emit(PlayPrompt(req.customer_leg or req.id, (PromptItem("callback_offer", q.callback.key),)))
        req.next_offer_at = decision.next_at
        if decision.next_at is not None:
            self._timers.set("offer", req.id, decision.next_at)

    def _announce_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.kind is not RequestKind.INBOUND or req.state is not RequestState.WAITING:
            return
        q = self.queues[req.queue]
        if req.menu is None:
            items: list[PromptItem] = []
            if q.announce.position:
                items += [PromptItem("position"), PromptItem("count", self.position(req.id))]
            if q.announce.estimated_wait:
                minutes = max(1, round((self.estimated_wait(req.id) or 0.0) / 60))
                items += [PromptItem("estimated_wait"), PromptItem("minutes", minutes)]
            self._emit(PlayPrompt(req.customer_leg or req.id, tuple(items)))
            self._activity("announced", req, items=[f"{i.name}={i.value}" for i in items if i.value is not None])
        req.next_announce_at = self._now + q.announce.interval
        self._timers.set("announce", req.id, req.next_announce_at)

    def _menu_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.menu is not None:
            self._activity("callback_menu_timeout", req, step=req.menu.step)
            req.menu = None

    def _legs_reconciled(self, e: LegsReconciled) -> None:
        # A whisper may have ended while we were down, and its end will never be reported: the
        # agent is still there (else LegLost came first), so the customer is dialled now.
        for req in list(self.requests.values()):
            if req.state is RequestState.WHISPER:
                self._dial_customer(req)

    def _ring_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.state is RequestState.RINGING_AGENT:
            self._agent_did_not_answer(req, hangup=True, cause=None)

    def _customer_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.state is RequestState.DIALLING_CUSTOMER:
            self._emit(Hangup(req.customer_leg or "", "ring_timeout"))
            self._customer_attempt_failed(req, AttemptOutcome.NO_ANSWER, cause=None)

    def _wrap_up_due(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        if agent.state is AgentState.WRAP_UP:
            agent.finish_wrap_up(self._now)
            self._activity("agent_state", None, agent=agent.id, state=agent.state.value, previous="wrap_up")

    def _not_before_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.QUARANTINE:
            return  # a callback delay simply ends; dispatch runs after every event
        cb = self.queues[req.queue].callback
        req.priority += cb.vip_on_retry
        req.place = self._next_place(req.priority, self._now)  # the END of the queue
        req.queued_since = self._now
        self._enter_queue(req)
        self._activity("requeued", req, position=self.position(req.id), priority=req.priority)

    def _expire_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.state in (RequestState.WAITING, RequestState.QUARANTINE):
            self._expire(req)

    def _expire(self, req: Request) -> None:
        self._emit(Notify("callback_expired", req.id, req.queue, req.callback_number))
        self._end(req, Outcome.EXPIRED, attempts=req.counted_attempts)

    def _hours_due(self, queue: str) -> None:
        q = self.queues[queue]
        if hours.is_open(q.hours, self._now):
            self.closed_since[queue] = None
            self._activity("queue_opened", None, queue_name=queue)
        else:
            self.closed_since[queue] = self._now
            self._timers.set("close_sweep", queue, self._now + q.max_wait_after_close)
            self._activity("queue_closed", None, queue_name=queue)
        self._schedule_hours(q, self._now)

    def _close_sweep_due(self, queue: str) -> None:
        if self._is_open(queue):
            return
        for req in self.waiting(queue):
            if req.kind is RequestKind.INBOUND:
                self._emit(PlayPrompt(req.customer_leg or req.id, (PromptItem("closed"),), hangup_after=True))
                self._emit(Notify("closed", req.id, req.queue, req.caller_number))
                self._end(req, Outcome.CLOSED)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        if not any(a.available for a in self.agents.values()):
            return
        while True:
            choice = self._best_candidate()
            if choice is None:
                return
            req, agent = choice
            self._ring_agent(req, agent)

    def _best_candidate(self) -> tuple[Request, Agent] | None:
        agents = list(self.agents.values())
        best: tuple[Request, Agent] | None = None
        for name, order in self.orders.items():
            if not order:
                continue
            agent = pick_agent(agents, name)
            if agent is None:
                continue
            req = dispatch.candidate(self, name)
            if req is not None and (best is None or req.place < best[0].place):
                best = (req, agent)
        return best

    def _ring_agent(self, req: Request, agent: Agent) -> None:
        q = self.queues[req.queue]
        self._leave_queue(req)
        req.state = RequestState.RINGING_AGENT
        req.agent_id = agent.id
        req.agent_leg = self._new_leg(req, "agent")
        if req.first_dispatched_at is None:
            req.first_dispatched_at = self._now
        agent.start_ringing(req.id, self._now)
        self._timers.set("ring", req.id, self._now + q.ring_timeout)
        if req.is_callback:
            name, number = "Callback", req.callback_number or ""
        else:
            name, number = q.label, req.caller_number or ""
        self._activity("agent_ringing", req, agent=agent.id)
        self._emit(
            OriginateAgent(
                leg_id=req.agent_leg,
                request_id=req.id,
                agent_id=agent.id,
                caller_id_name=name,
                caller_id_number=number,
                timeout=q.ring_timeout,
                queue=q.name,
            )
        )

    # ------------------------------------------------------------------ views for dispatch

    def dispatch_now(self) -> float:
        return self._now

    def callbacks_in_service(self, queue: str) -> int:
        return sum(1 for r in self.requests.values() if r.queue == queue and r.is_callback and r.state in IN_SERVICE)

    def agents_logged_in(self, queue: str) -> int:
        return sum(1 for a in self.agents.values() if a.serves(queue) and a.state is not AgentState.LOGGED_OFF)

    def ready_agents(self, queue: str) -> int:
        return sum(1 for a in self.agents.values() if a.available and a.serves(queue))

    def random_for(self, queue: str) -> random.Random:
        return self._random[queue]

    def is_open(self, queue: str) -> bool:
        return self._is_open(queue)
