"""Callers on the line: arrival, offers and announcements, the callback menu, promises and hang-ups.

Theory of operation: a caller is answered and held with a place. Offers follow offer.py; the key
opens a menu; an accepted callback keeps the same request and place, and the caller's line ends
after the confirmation. A caller who hangs up after `abandon_callback_after` gets a callback
automatically when eligible.

The menu, key by key (every entry gets exactly one response; keys outside the menu are ignored,
except the callback key):
- "choose": 1 books the caller's own number; 2 asks for another number; * leaves the menu (back
  to the music); # is answered with the choose prompt again; any other digit starts keying a number
  at once (as if 2 had been pressed), so a caller who skips the 2 is never booked on their own number
  by a 1 further on in what they key.
- "enter": digits until #. # answers once: the confirmation, or "invalid" and the prompt again, or
  (the second time) "unavailable" and back to the music. * with digits keyed starts the number
  again (the prompt again); * with nothing keyed leaves the menu. More than MAX_KEYED_DIGITS
  digits make the entry invalid, never a shortened number.

Restarts (see recovery.py): the menu is stored (its step; keyed digits are not trusted, since keys
pressed while the service was down are lost), and the caller is re-prompted for that step after
`LegsReconciled`. Keys are ignored until that prompt has been heard to its end with no key
pressed (a key cuts it short and it is played again): a callback is never booked from digits the
caller keyed before the interruption, nor from a half-remembered choice. A caller hearing the
confirmation when the service went down hears it again (the callback is already stored), then
their line is hung up; if their line is gone, nothing else happens.
"""

from __future__ import annotations

import math

from app.core import eligibility, hours, offer
from app.core.commands import (
    Answer,
    Hangup,
    JoinHolding,
    PlayPrompt,
    PromptItem,
)
from app.core.engine_base import MAX_KEYED_DIGITS, EngineBase
from app.core.events import (
    CallbackRequested,
    CallerArrived,
    CallerHungUp,
    DtmfReceived,
)
from app.core.request import Menu, Request
from app.core.settings import CallbackMode, QueueSettings
from app.core.states import Outcome, Refusal, RequestKind, RequestState


def spoken_minutes(seconds: float) -> int:
    """Whole minutes to say for a wait, at least 1; halves go up (round() would say 2 for 150 s
    and 4 for 210 s: banker's rounding)."""
    return max(1, math.floor(seconds / 60 + 0.5))


class CallerFlow(EngineBase):
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
        if q.recording_notice:  # told on arrival that the call will be recorded
            self._emit(PlayPrompt(req.id, (PromptItem(q.recording_notice),)))
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
        if req is not None and req.caller_line == e.request_id:
            self._caller_line_ended(req, "hung_up")
            return
        if req is None or req.kind is not RequestKind.INBOUND:
            return  # already a callback, or gone: the old line ending is expected
        if req.state is RequestState.WAITING:
            self._caller_gave_up(req, e.now, e.no_audio)
        elif req.state is RequestState.RINGING_AGENT:
            self._emit(Hangup(req.agent_leg or "", "caller_gone"))  # before _take_agent forgets the leg
            agent = self._take_agent(req)
            if agent is not None:
                self._release_agent(agent, None)
            # In their place again for the instant they give up: waiting long enough, they get
            # the automatic callback a caller hanging up a second earlier would have got.
            self._enter_queue(req)
            self._caller_gave_up(req, e.now, e.no_audio)
        elif req.state is RequestState.CONNECTED:
            self._finish_call(req, hung_up_by="customer_no_audio" if e.no_audio else "customer")

    def _caller_gave_up(self, req: Request, now: float, no_audio: bool = False) -> None:
        """A caller waiting in the queue hung up: an automatic callback if they waited long enough
        (`abandon_callback_after`) and their number may have one, else abandoned. A line that died
        (`no_audio`: Asterisk cut it for lack of audio) ends the same way and says so, but is no
        measure of how long callers wait before giving up: the patience estimate does not count it."""
        q = self.queues[req.queue]
        waited = req.gross_wait(now)
        if not no_audio:
            self.estimator.on_abandoned(req.queue, req.net_wait(now), now)
        line = {"line": "no_audio"} if no_audio else {}
        after = q.callback.abandon_callback_after
        if q.callback.enabled and after is not None and waited >= after:
            verdict = self.callback_verdict(q, req.caller_number, now)
            if verdict.eligible and verdict.number is not None:
                self._activity("abandoned", req, waited=waited, callback=True, **line)
                self._promise_callback(req, verdict.number, automatic=True)
                return
        self._notify("abandoned", req, req.caller_number)
        self._end(req, Outcome.ABANDONED, waited=waited, **line)

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
            verdict = self.callback_verdict(q, req.caller_number, e.now)
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
            self._prompt_menu(req, leg)
            return
        if menu.resuming:  # keys from before the interruption, or over the re-prompt: not trusted
            menu.keys_while_resuming += 1
            return
        if menu.step == "choose":
            self._choose(req, leg, e.digit)
        else:
            self._enter(req, leg, e.digit)

    def _choose(self, req: Request, leg: str, digit: str) -> None:
        q = self.queues[req.queue]
        if digit == "1":
            verdict = self.callback_verdict(q, req.caller_number, self._now)
            if not verdict.eligible:  # the daily cap, reached while they were in the menu
                self._refuse_in_menu(req, leg, verdict)
                return
            assert verdict.number is not None
            self._promise_callback(req, verdict.number, automatic=False)
        elif digit == "2":
            self._open_menu(req, "enter")
            self._prompt_menu(req, leg)
        elif digit == "*":
            self._close_menu(req)
            self._activity("callback_menu_left", req, step="choose")
        elif digit == "#":
            self._touch_menu(req)
            self._prompt_menu(req, leg)
        elif digit.isdigit():  # keying a number without pressing 2 first
            self._open_menu(req, "enter")
            self._enter(req, leg, digit)

    def _enter(self, req: Request, leg: str, digit: str) -> None:
        menu = req.menu
        assert menu is not None
        if digit.isdigit():
            if len(menu.digits) <= MAX_KEYED_DIGITS:  # one beyond the limit marks the entry too long
                menu.digits += digit
            self._touch_menu(req, store=False)  # digits are not worth a write each: not trusted after a restart
        elif digit == "*":
            if menu.digits:
                menu.digits = ""
                self._touch_menu(req)
                self._prompt_menu(req, leg)
            else:
                self._close_menu(req)
                self._activity("callback_menu_left", req, step="enter")
        elif digit == "#":
            self._entry_done(req, leg, menu)

    def _entry_done(self, req: Request, leg: str, menu: Menu) -> None:
        q = self.queues[req.queue]
        entry = menu.digits
        if not entry or len(entry) > MAX_KEYED_DIGITS:
            verdict = eligibility.Verdict(False, None, Refusal.INVALID)  # nothing keyed is not "hidden"
        else:
            verdict = self.callback_verdict(q, entry, self._now)
        if verdict.eligible and verdict.number is not None:
            self._promise_callback(req, verdict.number, automatic=False, entered=True)
            return
        if verdict.refusal in (Refusal.DAILY_LIMIT, Refusal.CALLBACK_IN_PROGRESS):  # keying it again won't help
            self._refuse_in_menu(req, leg, verdict, digits=len(entry))
            return
        menu.invalid_entries += 1
        self._activity("callback_number_refused", req, reason=str(verdict.refusal), digits=len(entry))
        if menu.invalid_entries == 1:
            menu.digits = ""
            self._touch_menu(req)
            self._prompt_menu(req, leg, PromptItem("callback_number_invalid"))
        else:
            self._close_menu(req)
            self._emit(PlayPrompt(leg, (PromptItem("callback_unavailable"),)))

    def _refuse_in_menu(self, req: Request, leg: str, verdict: eligibility.Verdict, digits: int | None = None) -> None:
        """A number the caller chose cannot be called back: they leave the menu and keep waiting."""
        self._close_menu(req)
        data = {} if digits is None else {"digits": digits}
        self._record("callback_number_refused", req, None, {"reason": str(verdict.refusal), **data})
        self._emit(PlayPrompt(leg, (PromptItem("callback_unavailable"),)))

    def _prompt_menu(self, req: Request, leg: str, *before: PromptItem) -> None:
        """Play the prompt of the menu's step (after `before`), its end reported: the menu's
        silence counts from there (_menu_prompt_finished)."""
        assert req.menu is not None
        step = PromptItem("callback_choose_number" if req.menu.step == "choose" else "callback_enter_number")
        self._emit(PlayPrompt(leg, (*before, step), report_finish=True))

    def _resume_menu(self, req: Request) -> None:
        """After a restart: prompt the caller again for the step they were in, and wait for its end."""
        assert req.menu is not None and req.customer_leg is not None
        req.menu.keys_while_resuming = 0
        self._touch_menu(req)
        self._prompt_menu(req, req.customer_leg)

    def _menu_prompt_finished(self, req: Request) -> None:
        menu = req.menu
        if menu is None:
            return
        if not menu.resuming:  # the menu's silence counts from the end of its prompt, not its start
            self._touch_menu(req, store=False)
            return
        if menu.keys_while_resuming:  # keyed over it: they may not have heard it; play it again
            self._resume_menu(req)
            return
        menu.resuming = False
        self._touch_menu(req)
        self._activity("callback_menu_resumed", req, step=menu.step)

    def _open_menu(self, req: Request, step: str) -> None:
        req.menu = Menu(step=step)
        self._touch_menu(req)

    def _touch_menu(self, req: Request, store: bool = True) -> None:
        assert req.menu is not None
        req.menu.deadline = self._now + self.settings.menu_timeout
        self._timers.set("menu", req.id, req.menu.deadline)
        if store:  # where the caller is in the menu is stored, so a restart can re-prompt from there
            self._touched[req.id] = req

    def _close_menu(self, req: Request) -> None:
        req.menu = None
        self._timers.cancel("menu", req.id)
        self._touched[req.id] = req

    def _caller_line_ended(self, req: Request, how: str) -> None:
        """The caller's line that heard the confirmation is gone: nothing more to do for it."""
        line, req.caller_line = req.caller_line, None
        self._forget_leg(line)
        self._activity("caller_line_ended", req, how=how)

    def _promise_callback(self, req: Request, number: str, automatic: bool, entered: bool = False) -> None:
        """The caller keeps their place as a callback; their line ends after the confirmation."""
        cb = self.queues[req.queue].callback
        if cb.mode is CallbackMode.TICKET:
            self._ticket(req, number, automatic)
            return
        if not cb.allow_duplicate_numbers:
            self._merge_waiting_callbacks(req, number)
        self.promises.note(number, self._now)  # after the merge: it withdrew the promise it replaced
        line = req.customer_leg
        estimate = self.estimated_wait(req.id)  # while still waiting; the callback keeps its place
        if req.state is RequestState.WAITING and not req.is_callback:
            self._callers_waiting[req.queue] -= 1
        req.kind = RequestKind.CALLBACK
        req.callback_number = number
        self._index_callback(req)
        req.callback_requested_at = self._now
        req.not_before = self._now + cb.callback_delay
        req.menu = None
        req.customer_leg = None
        self._forget_leg(line)
        if line is not None and not automatic:  # it hears the confirmation, then ends
            req.caller_line = line
            self._legs[line] = (req.id, "line")
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
        # For a confirmation SMS: when the call back is expected (not before its delay).
        expected = None if estimate is None else self._expected_callback_at(req, estimate)
        self._notify("callback_requested", req, number, **({} if expected is None else {"expected_at": expected}))
        if line is not None and not automatic:
            self._emit(PlayPrompt(line, (self._confirmation(req),), hangup_after=True))

    def _expected_callback_at(self, req: Request, estimate: float) -> float | None:
        """When the callback is expected: its wait passes only while the queue is open, and it is
        not dialled before its delay nor while the queue is closed (None: the hours never open)."""
        q = self.queues[req.queue]
        ahead = self.clock_ahead  # hours are read on the wall clock (EngineBase._calendar)
        waited = hours.open_time_after(q.hours, self._calendar(self._now), estimate)
        if waited is None:
            return None
        at = max(self._calendar(req.not_before), waited)
        if not hours.is_open(q.hours, at):
            opening = hours.next_change(q.hours, at)
            if opening is None:
                return None
            at = opening
        expected = round(at + ahead, 3)
        if req.callback_requested_at is not None and expected >= req.callback_requested_at + q.callback.max_age:
            return None  # it would expire first (closed for Easter): promise no time rather than a wrong one
        return expected

    def _merge_waiting_callbacks(self, req: Request, number: str) -> None:
        """One callback per number in a queue: a caller promised one while their number already
        has one waiting (a web form, an earlier call) keeps a single callback, at the better of the
        two places; otherwise both would ring them, perhaps at once. The older one ends as removed
        by Holdfast, naming the one kept. (While one is being served, the key is refused instead:
        EngineBase.callback_verdict.)"""
        for older in self._queued_callbacks_to(req.queue, number):
            earlier = (
                older.state is RequestState.WAITING and req.state is RequestState.WAITING and older.place < req.place
            )
            self._end(older, Outcome.REMOVED, by="holdfast", reason="merged", kept=req.id)
            if older.callback_requested_at is not None:  # one callback, counted once by the daily cap
                self.promises.withdraw(number, older.callback_requested_at, self._now)
            if earlier:  # the caller takes the older callback's place (and so its priority)
                order = self.orders[req.queue]
                order.remove(req.place)
                req.place, req.priority = older.place, older.priority
                order.add(req.place, req.id)
            self._activity("callback_merged", req, merged=older.id, place_taken=earlier)

    def _ticket(self, req: Request, number: str, automatic: bool) -> None:
        """Ticket mode: staff are asked (a webhook) to call back; the caller hears a confirmation
        that promises no place, and the request ends: Holdfast places no call."""
        trigger = "abandon" if automatic else "key"  # (the API cannot ask: a ticket queue refuses it)
        self.promises.note(number, self._now)
        req.callback_number = number  # stored with the ended request: the daily cap counts it after a restart
        req.callback_requested_at = self._now
        waited = round(self._now - req.arrived_at, 3)
        self._notify("ticket", req, number, trigger=trigger, caller_number=req.caller_number)
        self._activity("ticket_created", req, number=number, trigger=trigger, waited=waited)
        line = req.customer_leg
        if line is not None and not automatic:  # the line is handed to the prompt, which hangs it up
            self._emit(PlayPrompt(line, (PromptItem("callback_confirmed_no_place"),), hangup_after=True))
        self._end(req, Outcome.TICKET, number=number, trigger=trigger)

    def _promises_place(self, q: QueueSettings) -> bool:
        """Whether an offer and its confirmation may say "you keep your place": only where the
        queue keeps it (CallbackSettings.keeps_place) and is open. After closing time a callback
        waits for the next opening while the callers still on the line are served."""
        return q.callback.keeps_place and self._is_open(q.name)

    def _confirmation(self, req: Request) -> PromptItem:
        if self._promises_place(self.queues[req.queue]):
            return PromptItem("callback_confirmed")
        return PromptItem("callback_confirmed_no_place")

    def _callback_requested(self, e: CallbackRequested) -> None:
        q = self.queues[e.queue]
        verdict = eligibility.check(e.number, q.eligibility)
        assert verdict.number is not None
        req = self._new_request(e.request_id, q.name, e.priority, e.number)
        self._enter_queue(req)
        self._activity("arrived", req, caller=e.number, position=self.position(req.id), channel="web")
        self._promise_callback(req, verdict.number, automatic=True)

    def _offer_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.kind is not RequestKind.INBOUND or req.state is not RequestState.WAITING:
            return
        q = self.queues[req.queue]
        if not q.callback.enabled:  # turned off by a reload: no more offers to this caller
            req.next_offer_at = None
            return
        estimate = self.estimated_wait(req.id)
        decision = offer.decide(q.callback, estimate, self._now, req.offers, req.menu is not None)
        if decision.offer_now:
            verdict = self.callback_verdict(q, req.caller_number, self._now)
            if verdict.eligible:
                req.offers += 1
                shown = None if estimate is None else round(estimate, 1)
                self._activity("offered", req, estimate=shown, key=q.callback.key)
                items: tuple[PromptItem, ...] = (PromptItem("callback_offer", q.callback.key),)
                if not self._promises_place(q):  # the plain tail promises the place
                    items += (PromptItem("callback_offer_tail_no_place"),)
                self._emit(PlayPrompt(req.customer_leg or req.id, items))
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
            ahead = self.served_ahead(req)  # what the position and the estimate both count
            if q.announce.position:
                items += [PromptItem("position"), PromptItem("count", ahead + 1)]
            estimate = self._estimate(req.queue, ahead)
            if q.announce.estimated_wait and estimate is not None:  # unknown (nobody serving): say nothing
                minutes = spoken_minutes(estimate)
                items += [PromptItem("estimated_wait"), PromptItem("minutes", minutes)]
            if items:
                self._emit(PlayPrompt(req.customer_leg or req.id, tuple(items)))
                self._activity("announced", req, items=[f"{i.name}={i.value}" for i in items if i.value is not None])
        req.next_announce_at = self._now + q.announce.interval
        self._timers.set("announce", req.id, req.next_announce_at)

    def _menu_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.menu is not None:
            keyed = len(req.menu.digits)
            self._activity("callback_menu_timeout", req, step=req.menu.step, digits=keyed)
            self._close_menu(req)
            if keyed:  # a number begun and never finished: say it was not taken, not silence
                self._emit(PlayPrompt(req.customer_leg or req.id, (PromptItem("callback_number_invalid"),)))
