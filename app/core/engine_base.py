"""The engine's state and the plumbing every part of it uses.

Theory of operation: requests live in `requests` while active and keep one place key in their
queue's order (ordering.py); legs are handed out here and looked up by id; every change of a
request records an Activity, which also marks the request for the shell to store. The flows
(callers.py, calls.py, staff.py, recovery.py) add the rules; engine.py puts them together.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any, cast

from app.core import eligibility, hours
from app.core.agents import Agent
from app.core.commands import (
    Activity,
    BridgeLegs,
    Command,
    Notify,
    PromptItem,
)
from app.core.errors import (
    UnknownAgent,
    UnknownQueue,
)
from app.core.estimator import ErlangAEstimator, TracksWorkInProgress, WaitEstimator
from app.core.events import CallerHungUp, Event, LegLost
from app.core.ordering import PlaceKey, PlaceOrder, place_key
from app.core.promise_log import PromiseLog
from app.core.request import IN_SERVICE, Request
from app.core.settings import CoreSettings, DispatchPolicy, QueueSettings
from app.core.states import AgentState, AttemptOutcome, Outcome, Refusal, RequestKind, RequestState
from app.core.timers import Timers

CUSTOMER_TIMEOUT_MARGIN = 10.0  # our own guard beyond the originate timeout given to Asterisk
# A no answer Asterisk reports this long (seconds) past the ring time it was given was timed by a
# stalled Asterisk (its clock ran on while it was frozen): calls.py, _reported_dial_outcome.
LATE_NO_ANSWER_MARGIN = 3.0
MAX_KEYED_DIGITS = 20
# A caller restored in the callback menu keeps it this long past menu_timeout while the shell
# reconnects and reconciles (the re-prompt comes then); closing it sooner would send their
# remaining keys to the top of the menu.
RESUME_GRACE = 60.0
REQUEST_TIMERS = ("offer", "announce", "menu", "ring", "customer", "not_before", "expire", "review", "connect")


def agent_state_data(agent: Agent, before: AgentState) -> dict[str, object]:
    """An `agent_state` line's data: the state, the one before, and a pause's reason."""
    data: dict[str, object] = {"state": agent.state.value, "previous": before.value}
    if agent.state is AgentState.PAUSED and agent.pause_reason:
        data["reason"] = agent.pause_reason
    return data


class EngineBase:
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
        # (queue, callback number) -> active callbacks to it: the duplicate check without a scan
        self._callback_numbers: dict[tuple[str, str], set[str]] = {}
        # Callbacks and tickets promised per number over the last 24 h (callback.max_per_number_per_day)
        self.promises = PromiseLog()
        self._timers = Timers()
        self._seq = 0
        self._leg_seq = 0
        self._random = {q.name: random.Random(q.callback.random_seed) for q in settings.queues}
        self._started = False
        # Legs taken back by restore(): lost before LegsReconciled, they went with the restart.
        self._restored_legs: set[str] = set()
        # Agent legs hung up for ringing too long: leg → (agent, when). Their answer may still come
        # (calls._answered_after_ring_out). Pruned to the last RING_OUT_MEMORY seconds as new ones
        # come; not kept over a restart.
        self._rang_out: dict[str, tuple[str, float]] = {}
        # Agent legs ringing whose originate Asterisk never answered (events.RingUnconfirmed): their
        # ring timeout is no refusal (calls._agent_did_not_answer). Dropped with the leg.
        self._unconfirmed_rings: set[str] = set()
        # False between TelephonyDown and TelephonyUp: no agent is rung and nothing is dialled.
        self.telephony_up = True
        # How far the shell's times may be ahead of the true wall clock (events.ClockAhead).
        self.clock_ahead = 0.0
        # Each queue's next open/closed change, on the wall clock (_schedule_hours).
        self._hours_next: dict[str, float] = {}
        # Recorded calls whose customer hears the recording announcement: the bridge once it ends.
        self._announcing: dict[str, BridgeLegs] = {}
        self._out: list[Command] = []
        # Requests changed since the shell last asked: it stores them before acting (commit before act).
        self._touched: dict[str, Request] = {}
        self._now = 0.0
        self._init_dialler(settings)
        self._handlers = self._handler_table()

    def take_touched(self) -> list[Request]:
        """The requests the step changed (or ended), in their current state."""
        touched, self._touched = list(self._touched.values()), {}
        return touched

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    def position(self, request_id: str) -> int | None:
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.WAITING:
            return None
        return self.orders[req.queue].position(req.place)

    def callbacks_view(self) -> list[Request]:
        """Callbacks not yet in service, for lists (API, live page): queue by queue (by name), those
        waiting in place order (the order they will be served in under keep_place), then those in
        quarantine by when they come back. Read-only: do not change the requests returned."""
        out: list[Request] = []
        for name in sorted(self.orders):
            out += [r for r in self.iter_waiting(name) if r.is_callback]
            quarantined = [r for r in self.requests.values() if r.queue == name and r.state is RequestState.QUARANTINE]
            out += sorted(quarantined, key=lambda r: (r.not_before, r.place))
        return out

    def waiting(self, queue: str) -> list[Request]:
        return [self.requests[rid] for rid in self.orders[queue]]

    def iter_waiting(self, queue: str) -> Iterator[Request]:
        return (self.requests[rid] for rid in self.orders[queue])

    def callers_waiting(self, queue: str) -> int:
        return self._callers_waiting[queue]

    def estimated_wait(self, request_id: str) -> float | None:
        """Seconds until a waiting request is served; None when it is not waiting or no agent
        serves its queue (unknown, not "long": callers are not told a number then)."""
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.WAITING:
            return None
        return self._estimate(req.queue, self.served_ahead(req))

    def served_ahead(self, req: Request) -> int:
        """How many waiting requests will be served before `req` (waiting): what a caller is told
        as their position (less one) and what their estimate counts. Callbacks ahead of a caller
        count only where they take their turn before callers (dispatch `always`, queue open): held
        back for callers on the line, they are served after this one whatever their place."""
        position = self.orders[req.queue].position(req.place)
        q = self.queues[req.queue]
        if req.is_callback or (q.callback.dispatch is DispatchPolicy.ALWAYS and self._is_open(q.name)):
            return position - 1
        ahead = itertools.islice(self.iter_waiting(req.queue), position - 1)
        return sum(1 for other in ahead if not other.is_callback)

    def agents_serving(self, queue: str) -> int:
        """Agents who will take the queue's callers: logged in, not paused, not leaving after this
        call, and with a phone that answers (a softphone closed without logging off serves nobody)."""
        return sum(
            1
            for a in self.agents.values()
            if a.serves(queue)
            and a.reachable
            and a.after_call is None
            and a.state not in (AgentState.LOGGED_OFF, AgentState.PAUSED)
        )

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
        if leg_id not in (req.agent_leg, req.customer_leg, req.caller_line):
            return None
        return req, owner[1]

    def _detects_machines(self, req: Request) -> bool:
        """Whether the request's customer dials go through answering-machine detection (a
        callback's queue asks; the dialler answers for a campaign's contacts)."""
        q = self.queues.get(req.queue)
        return req.kind is RequestKind.CALLBACK and q is not None and q.callback.amd

    def _forget_leg(self, leg_id: str | None) -> None:
        if leg_id is not None:
            self._legs.pop(leg_id, None)
            self._unconfirmed_rings.discard(leg_id)

    def _start(self, now: float) -> None:
        self._started = True
        for q in self.queues.values():
            if hours.is_open(q.hours, self._calendar(now)):
                self.closed_since[q.name] = None
            else:  # closed since the last closing time, or since now if it never opened lately
                self.closed_since[q.name] = self._last_close(q, now)
            self._schedule_hours(q, self._calendar(now))

    def _calendar(self, now: float) -> float:
        """The time opening hours are read at: the wall clock's. While the shell's clock runs ahead
        of it after a step back (events.ClockAhead), callers still phone by the wall clock, and a
        callback at 07:30 wall time is a call before hours whatever the shell's clock says."""
        return now - self.clock_ahead

    def _last_close(self, q: QueueSettings, now: float) -> float:
        """When a queue closed now last closed, on the shell's clock (now if it never opened lately)."""
        closed = hours.last_close_before(q.hours, self._calendar(now))
        return now if closed is None else min(now, closed + self.clock_ahead)

    def _schedule_hours(self, q: QueueSettings, calendar: float) -> None:
        """The timer for the queue's next open/closed change after `calendar` (a wall-clock time).
        The change itself is kept for the timer (_hours_due reads the hours at it): the timer's
        instant less the lead is the change only up to rounding, and just before it nothing flips."""
        change = hours.next_change(q.hours, calendar)
        if change is None:
            self._hours_next.pop(q.name, None)
            self._timers.cancel("hours", q.name)
        else:
            self._hours_next[q.name] = change
            self._timers.set("hours", q.name, change + self.clock_ahead)

    def _is_open(self, queue: str) -> bool:
        return self.closed_since.get(queue) is None

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
        self._forget_leg(req.caller_line)
        del self.requests[req.id]
        self._unindex_callback(req)
        self._record("ended", req, None, {"outcome": outcome.value, **data})

    def _index_callback(self, req: Request) -> None:
        if req.is_callback and req.callback_number is not None:
            self._callback_numbers.setdefault((req.queue, req.callback_number), set()).add(req.id)

    def _unindex_callback(self, req: Request) -> None:
        if req.callback_number is None:
            return
        key = (req.queue, req.callback_number)
        ids = self._callback_numbers.get(key)
        if ids is not None:
            ids.discard(req.id)
            if not ids:
                del self._callback_numbers[key]

    def callback_verdict(self, q: QueueSettings, raw: str | None, now: float) -> eligibility.Verdict:
        """May `raw` be promised a callback in `q` now: eligibility, the queue's daily cap, and no
        callback to that number being served at this moment (its call is under way)."""
        verdict = eligibility.check(raw, q.eligibility)
        if not verdict.eligible or verdict.number is None:
            return verdict
        if self.over_daily_limit(q, verdict.number, now):
            return eligibility.Verdict(False, verdict.number, Refusal.DAILY_LIMIT, verdict.number_type)
        if not q.callback.allow_duplicate_numbers and self._callback_in_service(q.name, verdict.number):
            # (one waiting is merged instead: callers.py _merge_waiting_callbacks)
            return eligibility.Verdict(False, verdict.number, Refusal.CALLBACK_IN_PROGRESS, verdict.number_type)
        return verdict

    def _callback_in_service(self, queue: str, number: str) -> bool:
        return any(self.requests[rid].state in IN_SERVICE for rid in self.callbacks_to(queue, number))

    def callback_in_service_to(self, number: str) -> bool:
        """A callback of any queue is being served to `number` now (its agent rung, the number dialled)."""
        return bool(self._callback_numbers) and any(self._callback_in_service(q, number) for q in self.queues)

    def over_daily_limit(self, q: QueueSettings, number: str, now: float) -> bool:
        limit = q.callback.max_per_number_per_day
        if not limit or eligibility.allowlisted(number, q.eligibility):
            return False
        return self.promises.count(number, now) >= limit

    def callbacks_to(self, queue: str, number: str) -> set[str]:
        """Active callbacks of `queue` to `number` (E.164)."""
        return self._callback_numbers.get((queue, number), set())

    def _queued_callbacks_to(self, queue: str, number: str) -> list[Request]:
        """Callbacks of `queue` to `number` waiting or in quarantine (none being served), by id."""
        found = (self.requests[rid] for rid in sorted(self.callbacks_to(queue, number)))
        return [r for r in found if r.state in (RequestState.WAITING, RequestState.QUARANTINE)]

    def _estimate(self, queue: str, ahead: int) -> float | None:
        """Seconds, or None when nobody serves the queue: then there is no estimate to give, and
        a made-up figure would be spoken to callers as if it were one."""
        serving = self.agents_serving(queue)
        if serving == 0:
            return None
        free = sum(1 for a in self.agents.values() if a.available and a.serves(queue))
        return self.estimator.estimate(queue, ahead, serving, free)

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
        if not req.is_callback:
            self._rearm_caller_prompts(req)
            self._rearm_close_sweep(req.queue)

    def _rearm_close_sweep(self, queue: str) -> None:
        """A caller back in a closed queue after the close sweep ran (they were being rung then)
        is swept too: no other sweep would come before the queue opens again, the next morning."""
        closed_at = self.closed_since.get(queue)
        if closed_at is None or self._timers.get("close_sweep", queue) is not None:
            return
        due = closed_at + self.queues[queue].max_wait_after_close
        if due <= self._now:
            self._timers.set("close_sweep", queue, self._now)

    def _rearm_caller_prompts(self, req: Request) -> None:
        """A caller back in their place after an agent's ring hears their offers and announcements
        again: one that came due during the ring found them out of the queue and set no next one."""
        q = self.queues[req.queue]
        if req.next_offer_at is not None and self._timers.get("offer", req.id) is None:
            self._timers.set("offer", req.id, max(self._now, req.next_offer_at))
        if (q.announce.position or q.announce.estimated_wait) and self._timers.get("announce", req.id) is None:
            self._timers.set("announce", req.id, max(self._now, req.next_announce_at or self._now))

    def _release_agent(self, agent: Agent, wrap_up: float | None) -> None:
        """Free the agent; a wrap-up always gets its timer, or the agent would stay in it for good."""
        before = agent.state
        agent.release(self._now, wrap_up)
        if agent.wrap_up_until is not None:
            self._timers.set("wrap_up", agent.id, agent.wrap_up_until)
        self._agent_state_activity(agent, before)

    def _agent_state_activity(self, agent: Agent, before: AgentState) -> None:
        self._activity("agent_state", None, agent=agent.id, **agent_state_data(agent, before))

    def _agent_line_dead(self, agent: Agent, req: Request) -> None:
        """Asterisk cut the agent's leg of `req` because their phone sent no audio: paused
        `no_audio` after the call, so the next customer is not put through to silence."""
        agent.line_dead()
        self._activity("agent_line_dead", req, agent=agent.id)

    def _notify(self, kind: str, req: Request, number: str | None, **data: object) -> None:
        """A Notify for `req` with the times a message names (its outbox row keeps them)."""
        times: dict[str, Any] = {"arrived_at": req.arrived_at, "waited": round(self._now - req.arrived_at, 3)}
        if req.callback_requested_at is not None:
            times["callback_requested_at"] = req.callback_requested_at
        self._emit(Notify(kind, req.id, req.queue, number, at=self._now, data={**times, **data}))

    def _expire(self, req: Request) -> None:
        self._notify("callback_expired", req, req.callback_number)
        self._end(req, Outcome.EXPIRED, attempts=req.counted_attempts)

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

    # Owned by the flows (calls.py, engine.py); declared here so every part can call them.
    def _dial_customer(self, req: Request) -> None:
        raise NotImplementedError

    def _finish_call(self, req: Request, hung_up_by: str) -> None:
        raise NotImplementedError

    def _bridge_legs(self, bridge: BridgeLegs, announce: str | None) -> None:
        raise NotImplementedError

    def _call_bridge(self, req: Request) -> BridgeLegs:
        raise NotImplementedError

    def _announcement_for(self, req: Request) -> str | None:
        raise NotImplementedError

    def _menu_prompt_finished(self, req: Request) -> None:
        raise NotImplementedError

    def _caller_hung_up(self, e: CallerHungUp) -> None:
        raise NotImplementedError

    def _customer_attempt_failed(self, req: Request, outcome: AttemptOutcome, cause: int | None) -> None:
        raise NotImplementedError

    def _resume_menu(self, req: Request) -> None:
        raise NotImplementedError

    def _interrupt(self, req: Request, role: str, reason: str) -> None:
        raise NotImplementedError

    def _may_dial_again(self, req: Request, e: LegLost) -> bool:
        raise NotImplementedError

    def _dial_again_after_reconcile(self, req: Request, reason: str) -> None:
        raise NotImplementedError

    def _confirmation(self, req: Request) -> PromptItem:
        raise NotImplementedError

    def _close_menu(self, req: Request) -> None:
        raise NotImplementedError

    def number_in_dial(self, number: str) -> bool:
        """Whether a campaign's dial holds `number` now (the dialler answers; without one, none)."""
        return False

    def _caller_line_ended(self, req: Request, how: str) -> None:
        raise NotImplementedError

    def _handler_table(self) -> dict[type[Event], Callable[[Any], None]]:
        raise NotImplementedError

    def _init_dialler(self, settings: CoreSettings) -> None:
        raise NotImplementedError
