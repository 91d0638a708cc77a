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
- Leg ids are handed out by the engine; events about legs no longer expected are ignored.
- Dialler campaigns (dialler.py, campaigns.py) share the agents and the dispatch decision: a
  contact's dial is a request of kind CONTACT; contacts come in small windows from the store.
- Where the rules live: callers.py (arrival, offers, the callback menu, hang-ups), calls.py
  (dispatch, agent first, whisper, customer attempts), staff.py (agents' moves, admins' actions),
  recovery.py (restore after a restart, lost legs, reload), dialler.py (campaigns' contacts);
  engine_base.py holds the state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from app.core import eligibility, hours
from app.core.callers import CallerFlow
from app.core.commands import (
    Command,
    PlayPrompt,
    PromptItem,
)
from app.core.dialler import DiallerFlow
from app.core.errors import (
    CallbacksDisabled,
    CoreError,
    DailyLimitReached,
    DuplicateNumber,
    DuplicateRequest,
    IllegalAgentTransition,
    IllegalRequestAction,
    InvalidPosition,
    InvalidPriority,
    UnknownRequest,
)
from app.core.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentOwnCall,
    AgentPaused,
    AgentReachability,
    AgentReady,
    CallbackMoved,
    CallbackRemoved,
    CallbackRepositioned,
    CallbackRequested,
    CallerArrived,
    CallerHungUp,
    CallFoundUnbridged,
    CallFoundUnrecorded,
    CampaignControl,
    ClockAhead,
    ContactDialNow,
    ContactDisposed,
    ContactsChanged,
    ContactSkipped,
    ContactsLoaded,
    DncUpdated,
    DtmfReceived,
    Event,
    LegAnswered,
    LegFailed,
    LegHungUp,
    LegLost,
    LegsReconciled,
    PromptFinished,
    RingUnconfirmed,
    SettingsChanged,
    TelephonyDown,
    TelephonyUp,
    Tick,
    WrapUpExtended,
)
from app.core.recovery import Recovery
from app.core.request import PRIORITY_MAX, PRIORITY_MIN, Request
from app.core.settings import CallbackMode, CallbackOrder, QueueSettings
from app.core.staff import StaffFlow
from app.core.states import AgentState, Outcome, RequestKind, RequestState


def _check_priority(priority: int) -> None:
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidPriority(f"priority {priority} is out of range; allowed {PRIORITY_MIN} to {PRIORITY_MAX}")


def _check_callbacks_enabled(q: QueueSettings) -> None:
    if not q.callback.enabled:
        raise CallbacksDisabled(
            f"queue {q.name!r} does not take callbacks (queues.{q.name}.callback.enabled is false); "
            "choose another queue or enable callbacks there"
        )
    if q.callback.mode is CallbackMode.TICKET:  # its callers' requests become tickets, never queued callbacks
        raise CallbacksDisabled(
            f"queue {q.name!r} makes tickets instead of callbacks (queues.{q.name}.callback.mode is ticket); "
            "choose another queue"
        )


class IneligibleNumber(IllegalRequestAction):
    def __init__(self, verdict: eligibility.Verdict) -> None:
        super().__init__(f"number refused: {verdict.refusal}")
        self.verdict = verdict


class Engine(DiallerFlow, CallerFlow, StaffFlow, Recovery):
    """Events in, commands out; see the module comment and the flows it is made of."""

    def handle(self, event: Event) -> list[Command]:
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"unknown event {type(event).__name__}")
        self._validate(event)
        self._out = []
        # What a step changed is the shell's to store with it (step_of takes both after every
        # step): what one step left untaken never leaks into the next.
        self._touched = {}
        self._progress = {}
        self._now = event.now
        if not self._started:
            self._start(event.now)
        timers_ran = self._timers.pop_due(event.now, self._on_timer)
        try:
            # A deadline due before the event may have made it moot (the callback expired, the
            # wrap-up ended, a requested logout took effect). It was legal when sent, so it is
            # dropped, not refused: refusing now would lose the timers' commands. (With no timer
            # run nothing changed since the check above.)
            if timers_ran:
                self._validate(event)
        except CoreError as moot:
            self._activity("event_ignored", None, event_type=type(event).__name__, reason=str(moot))
        else:
            handler(event)
        if self.telephony_up:  # a dial while Asterisk is away would be refused or lost with it
            self._dispatch()
        out, self._out = self._out, []
        return out

    def _handler_table(self) -> dict[type[Event], Callable[[Any], None]]:
        return {
            CallerArrived: self._caller_arrived,
            DtmfReceived: self._dtmf,
            CallerHungUp: self._caller_hung_up,
            PromptFinished: self._prompt_finished,
            LegAnswered: self._leg_answered,
            LegFailed: self._any_leg_failed,
            LegHungUp: self._leg_hung_up,
            LegLost: self._any_leg_lost,
            LegsReconciled: self._legs_reconciled,
            CallFoundUnbridged: self._call_found_unbridged,
            CallFoundUnrecorded: self._call_found_unrecorded,
            RingUnconfirmed: self._ring_unconfirmed,
            AgentLoggedIn: self._agent_ready,
            AgentReady: self._agent_ready,
            AgentPaused: self._agent_paused,
            AgentLoggedOut: self._agent_logged_out,
            AgentReachability: self._agent_reachability,
            AgentOwnCall: self._agent_own_call,
            WrapUpExtended: self._wrap_up_extended,
            CallbackRemoved: self._callback_removed,
            CallbackMoved: self._callback_moved,
            CallbackRepositioned: self._callback_repositioned,
            CallbackRequested: self._callback_requested,
            SettingsChanged: self._all_settings_changed,
            ContactsLoaded: self._contacts_loaded,
            ContactsChanged: self._contacts_changed,
            DncUpdated: self._dnc_updated,
            CampaignControl: self._campaign_control,
            ContactDialNow: self._contact_dial_now,
            ContactSkipped: self._contact_skipped,
            ContactDisposed: self._contact_disposed,
            TelephonyDown: self._telephony_down,
            TelephonyUp: self._telephony_up,
            ClockAhead: self._clock_ahead,
            Tick: lambda event: None,
        }

    def _any_leg_failed(self, e: LegFailed) -> None:
        if self.telephony_up:
            self._leg_failed(e)
        else:  # refused or ended while Asterisk was stopping: nobody's doing, nothing counted
            self._any_leg_lost(LegLost(e.now, e.leg_id, "telephony_down"))

    def _telephony_down(self, e: TelephonyDown) -> None:
        if self.telephony_up:
            self.telephony_up = False
            self._activity("telephony_down", None, reason=e.reason)

    def _telephony_up(self, e: TelephonyUp) -> None:
        if not self.telephony_up:
            self.telephony_up = True
            self._activity("telephony_up", None)

    def _clock_ahead(self, e: ClockAhead) -> None:
        if e.seconds != self.clock_ahead:
            self.clock_ahead = e.seconds
            self._activity("clock_ahead", None, seconds=round(e.seconds, 3))
            for q in self.queues.values():  # opening hours follow the wall clock: it moved against ours
                self._follow_hours(q, self._calendar(e.now))

    def _any_leg_lost(self, e: LegLost) -> None:
        if not self._contact_leg_lost(e):
            self._leg_lost(e)

    def _all_settings_changed(self, e: SettingsChanged) -> None:
        self._settings_changed(e)
        self._apply_campaigns(e.settings)

    def restore(
        self, requests: Iterable[Request], agents: Iterable[tuple[str, AgentState, str | None]], now: float
    ) -> None:
        super().restore(requests, agents, now)
        self._restore_dialler(now)

    def restore_promises(self, promises: Iterable[tuple[str, float]], now: float) -> None:
        """The callbacks and tickets promised per number (number, at) in the last 24 h before a
        restart, so the daily cap (callback.max_per_number_per_day) survives it. Before the first
        event, like restore."""
        self.promises.restore(promises, now)

    def check(self, event: Event) -> None:
        """Raise what `handle(event)` would refuse it with now, changing nothing (read-only)."""
        self._validate(event)

    def _validate(self, event: Event) -> None:
        """Refuse illegal events before anything changes."""
        dialler = (
            CampaignControl,
            DncUpdated,
            ContactsLoaded,
            ContactsChanged,
            ContactDialNow,
            ContactSkipped,
            ContactDisposed,
        )
        if isinstance(event, dialler):
            self._validate_dialler(event)
        elif isinstance(event, SettingsChanged):
            self._check_new_settings(event.settings)
            self._check_new_campaigns(event.settings)
        elif isinstance(event, ClockAhead):
            if not 0.0 <= event.seconds < math.inf:
                raise CoreError(f"clock ahead by {event.seconds} s: must be a finite number of seconds, 0 or more")
        elif isinstance(event, CallerArrived):
            if event.request_id in self.requests:
                raise DuplicateRequest(f"request {event.request_id} already exists", event.request_id)
            self._queue(event.queue)
            _check_priority(event.priority)
        elif isinstance(event, CallbackRequested):
            if event.request_id in self.requests:
                raise DuplicateRequest(f"request {event.request_id} already exists", event.request_id)
            q = self._queue(event.queue)
            _check_callbacks_enabled(q)
            _check_priority(event.priority)
            verdict = eligibility.check(event.number, q.eligibility)
            if not verdict.eligible:
                raise IneligibleNumber(verdict)
            if not q.callback.allow_duplicate_numbers:
                self._check_not_queued(q.name, verdict.number)
            if verdict.number is not None and self.over_daily_limit(q, verdict.number, event.now):
                raise self._daily_limit_reached(q, verdict.number, event.now)
        elif isinstance(event, (AgentLoggedIn, AgentReady, AgentPaused, AgentLoggedOut)):
            agent = self._agent(event.agent_id)
            if isinstance(event, AgentPaused) and agent.state is AgentState.LOGGED_OFF:
                raise IllegalAgentTransition(f"agent {agent.id} is {agent.state}; cannot pause now")
            if isinstance(event, (AgentReady, AgentLoggedIn)) and agent.state in (
                AgentState.RINGING,
                AgentState.BUSY,
            ):
                raise IllegalAgentTransition(f"agent {agent.id} is {agent.state}; finish the call first")
        elif isinstance(event, (AgentReachability, AgentOwnCall, WrapUpExtended)):
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
                target = self._queue(event.to_queue)
                _check_callbacks_enabled(target)
                if not target.callback.allow_duplicate_numbers and target.name != req.queue:
                    self._check_not_queued(target.name, req.callback_number)
        elif isinstance(event, CallbackRepositioned):
            self._check_repositioning(event)

    def _check_repositioning(self, e: CallbackRepositioned) -> None:
        req = self.requests.get(e.request_id)
        if req is None:
            raise UnknownRequest(f"no waiting request {e.request_id}")
        if not req.is_callback or req.state is not RequestState.WAITING:
            what = "in quarantine until its next attempt" if req.state is RequestState.QUARANTINE else str(req.state)
            raise IllegalRequestAction(
                f"request {req.id} is a {req.kind} {what}; only a callback holding a place can be moved"
            )
        order = self.queues[req.queue].callback.order
        if order is not CallbackOrder.KEEP_PLACE:
            raise IllegalRequestAction(
                f"queue {req.queue!r} serves callbacks {order.value}, not by place: a position means nothing there"
            )
        held = len(self.orders[req.queue])
        if isinstance(e.position, bool) or not isinstance(e.position, int) or not 1 <= e.position <= held:
            raise InvalidPosition(f"position {e.position!r}: queue {req.queue!r} has {held} waiting; use 1-{held}")

    def _daily_limit_reached(self, q: QueueSettings, number: str, now: float) -> DailyLimitReached:
        limit = q.callback.max_per_number_per_day
        free_at = self.promises.free_again_at(number, now, limit)
        return DailyLimitReached(
            f"{number} was promised {self.promises.count(number, now)} callbacks in the last 24 h, and queue "
            f"{q.name!r} allows {limit} a day (callback.max_per_number_per_day); "
            f"the next may be asked in {math.ceil(free_at - now)} s",
            free_at,
        )

    def _check_not_queued(self, queue: str, number: str | None) -> None:
        existing = self.callbacks_to(queue, number) if number is not None else set()
        if existing:
            req = self.requests[min(existing)]
            raise DuplicateNumber(
                f"{number} already has callback {req.id} in queue {queue!r} ({req.state}); "
                "remove that one first, or set callback.allow_duplicate_numbers",
                req.id,
            )

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
                "review": self._review_due,
                "connect": self._connect_due,
                "contacts": self._contacts_due,
                "pace": self._pace_due,
                "reserve": self._reservation_due,
            }[kind](subject)
        finally:
            self._now = saved

    def _hours_due(self, queue: str) -> None:
        # At the change it was set for, even if now less the lead rounds to just before it.
        calendar = max(self._calendar(self._now), self._hours_next.pop(queue, -math.inf))
        self._follow_hours(self.queues[queue], calendar)

    def _follow_hours(self, q: QueueSettings, calendar: float) -> None:
        """Open or close the queue as its hours say at `calendar` (wall-clock time), if that is a change."""
        was_open, opens = self._is_open(q.name), hours.is_open(q.hours, calendar)
        if opens and not was_open:
            self.closed_since[q.name] = None
            self._activity("queue_opened", None, queue_name=q.name)
        elif not opens and was_open:
            self.closed_since[q.name] = self._now
            self._timers.set("close_sweep", q.name, self._now + q.max_wait_after_close)
            self._activity("queue_closed", None, queue_name=q.name)
        self._schedule_hours(q, calendar)

    def _close_sweep_due(self, queue: str) -> None:
        if self._is_open(queue):
            return
        # The queue may open at this very instant (a one-hour lunch with max_wait_after_close 1h):
        # its hours timer, due now too, may not have run yet. Callers who held through the break
        # are served, not told "closed" as the doors open.
        if hours.is_open(self.queues[queue].hours, self._calendar(self._now)):
            return
        for req in self.waiting(queue):
            if req.kind is RequestKind.INBOUND:
                self._emit(PlayPrompt(req.customer_leg or req.id, (PromptItem("closed"),), hangup_after=True))
                self._notify("closed", req, req.caller_number)
                self._end(req, Outcome.CLOSED)
