"""After a restart and on reload: restore stored requests, lost legs, new settings.

Theory of operation: `restore` takes back what the shell stored (places, attempts, legs, where a
caller is in the callback menu, agents' states; `restore_after_call` the pauses and log-outs asked
for during a call) and sets deadlines afresh; the shell reports every expected leg
that is gone as `LegLost`, then `LegsReconciled`. New settings apply to everything in progress,
unless they would strand someone (then they are refused).

`LegLost(leg, reason)`, what the core makes of it:
- A leg restored here and lost before `LegsReconciled`, any leg with reason
  `asterisk_restarted`, and any with `command_failed` (Asterisk refused to answer, bridge or
  hold it: the shell hung it up) went with no one's choice: nothing is counted against anyone (a dial in progress
  is `interrupted`, the request goes back to its place; a caller whose line is gone is `dropped`).
- Otherwise (`channel_vanished`: the channel ended while the events websocket was away) the leg
  ended and we missed how: a callback customer's leg that was still being dialled counts as a
  `failed` attempt; an inbound caller's line is their hang-up. Other legs are handled as above.
- A connected call whose leg is lost ends as served.

`TelephonyDown` (Asterisk is stopping, or the events connection dropped) holds every dispatch until
`TelephonyUp` (the shell reconnected and reconciled): a dial placed into a stopping Asterisk would
be refused and counted against a contact who was never rung. A `LegFailed` in between is taken as
`LegLost("telephony_down")`: interrupted, nothing counted.

A customer's dial restored here and lost while its agent's leg came back with it (stored, then
killed before the originate went): the agent keeps the line, and the customer is dialled again
at `LegsReconciled`, the lost dial interrupted (not counted).

`CallFoundUnbridged`: we stopped between storing a call as connected and bridging its legs; both
were taken in again, and are bridged now. `CallFoundUnrecorded`: we stopped between bridging a
call its queue records and starting the recording: recorded from now on (`RecordCall`).

After `LegsReconciled`: a whisper that ended while we were down goes on to the customer; a caller
found in the callback menu is prompted again for the step they were in (callers.py); a caller whose
line was hearing the callback confirmation hears it again and is hung up.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from app.core import eligibility, hours
from app.core.agents import Agent
from app.core.commands import (
    Activity,
    BridgeLegs,
    Command,
    Hangup,
    PlayPrompt,
    PromptItem,
    RecordCall,
    StopPrompt,
)
from app.core.engine_base import CUSTOMER_TIMEOUT_MARGIN, RESUME_GRACE, EngineBase, agent_state_data
from app.core.errors import (
    IllegalRequestAction,
    UnknownQueue,
)
from app.core.events import (
    CallerHungUp,
    CallFoundUnbridged,
    CallFoundUnrecorded,
    LegLost,
    LegsReconciled,
    SettingsChanged,
)
from app.core.ordering import PlaceOrder
from app.core.request import IN_SERVICE, Request
from app.core.settings import CoreSettings, QueueSettings
from app.core.states import AgentState, AttemptOutcome, Outcome, Refusal, RequestKind, RequestState


class Recovery(EngineBase):
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
            self._index_callback(req)
            self._seq = max(self._seq, req.place[2])
            if req.menu is not None:  # keys were lost while down: re-prompt before trusting any
                req.menu.digits = ""
                req.menu.resuming = True
                req.menu.keys_while_resuming = 0
                req.menu.deadline = now + self.settings.menu_timeout + RESUME_GRACE
            for leg, role in ((req.customer_leg, "customer"), (req.agent_leg, "agent"), (req.caller_line, "line")):
                if leg is not None:
                    self._legs[leg] = (req.id, role)
                    self._restored_legs.add(leg)
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
                if agent is None:  # removed from the settings while down: its live call goes on to its end
                    continue
                agent.request_id = req.id
                ringing = req.state is RequestState.RINGING_AGENT
                agent.set_state(AgentState.RINGING if ringing else AgentState.BUSY, now)
                if req.state is RequestState.CONNECTED:
                    self._report_call_started(req)  # so the estimator counts its end consistently

    def restore_wrap_ups(
        self,
        wrapping: Iterable[tuple[str, float]],
        now: float,
        ends: Mapping[str, float] | None = None,
        granted: Mapping[str, float] | None = None,
    ) -> None:
        """After `restore` and `restore_after_call`: agents stored in wrap-up (agent id, since when)
        finish it instead of being ready at once: the notes of the call, or a dialler call's
        disposition, are still being written. It ends when stored (`ends`: agent id to the
        wrap-up's end, the agent's extensions included); a row stored before the end was kept
        has none: the call's queue is not stored with the agent, so the wrap-up is then the
        longest of the agent's queues'. One already over is over.

        The extension already granted counts against `max_wrap_up_extension` as stored (`granted`:
        agent id to seconds), so the cap is the one the agent had before the restart. A row stored
        before it was kept has none: it is then counted back from the end and the longest wrap-up,
        which undercounts it when the call's queue had a shorter one.

        A wrap-up that ran out while we were down, or that `restore_after_call` ended with the
        move asked for during it, ends with the `agent_state` line its live end records (in
        `take_restored`): else the stored agent stays in wrap-up and the log counts them in it
        until their next change. It is dated at the wrap-up's end when that was while we were
        down, else now (the move is made now)."""
        ends, granted = ends or {}, granted or {}
        for agent_id, since in wrapping:
            agent = self.agents.get(agent_id)
            if agent is None or agent.request_id is not None:
                continue  # removed, or re-linked to a call
            wrap_up = max((q.wrap_up for q in self.queues.values() if agent.serves(q.name)), default=0.0)
            end = ends.get(agent_id, since + wrap_up)
            if agent.state is AgentState.READY and end > now:
                agent.set_state(AgentState.WRAP_UP, since)
                agent.wrap_up_until = end
                agent.wrap_up_extended = granted.get(agent_id, max(0.0, end - since - wrap_up))
                self._timers.set("wrap_up", agent.id, agent.wrap_up_until)
                continue
            at = min(end, now)
            agent.state_since = at  # what is stored with the agent and shown: when it changed
            data = agent_state_data(agent, AgentState.WRAP_UP)  # as staff._wrap_up_due's line
            self._emit(Activity(kind="agent_state", agent_id=agent.id, at=at, data=data))

    def take_restored(self) -> list[Command]:
        """What the restore recorded (the agents it moved out of a wrap-up), for the shell to store
        as a step of its own before the first event (whose `handle` would drop it)."""
        out, self._out = self._out, []
        return out

    def restore_after_call(self, moves: Iterable[tuple[str, AgentState, str | None]], now: float) -> None:
        """After `restore`, before the first event: the pauses and log-outs agents asked for during
        a call, as stored with their state (agent id, paused or logged_off, reason).

        An agent re-linked to its call gets its move back for the call's end; one whose call ended
        while we were down (or was in wrap-up: made now, not at the wrap-up's end) makes it now: an
        agent who logged out and went home must not come back ready and be rung for the next caller.
        (`restore_wrap_ups` records a move made here out of a wrap-up.)
        """
        for agent_id, move, reason in moves:
            agent = self.agents.get(agent_id)
            if agent is None or agent.state in (AgentState.PAUSED, AgentState.LOGGED_OFF):
                continue  # removed from the settings since, or not on a call when stored
            agent.after_call, agent.after_call_reason = move, reason
            if agent.request_id is None:
                agent.finish_wrap_up(now)

    def _restore_timers(self, req: Request, now: float) -> None:
        q = self.queues[req.queue]
        if req.menu is not None:  # in any state: a caller rung while in the menu keeps it
            self._timers.set("menu", req.id, max(now, req.menu.deadline))
        if req.is_callback and req.callback_requested_at is not None:
            self._timers.set("expire", req.id, max(now, req.callback_requested_at + q.callback.max_age))
        if req.state is RequestState.QUARANTINE or (req.state is RequestState.WAITING and req.not_before > now):
            self._timers.set("not_before", req.id, max(now, req.not_before))
        if req.state is RequestState.WAITING and not req.is_callback:
            if req.next_offer_at is not None:
                self._timers.set("offer", req.id, max(now, req.next_offer_at))
            if q.announce.position or q.announce.estimated_wait:
                self._timers.set("announce", req.id, max(now, req.next_announce_at or now))
        if req.state is RequestState.RINGING_AGENT:
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
            if req.caller_line is not None:  # the caller's own line, as an inbound caller's looks
                out.append((req.caller_line, req.id, "customer", True))
        return out

    def dial_detects_machines(self, leg_id: str) -> bool:
        """Whether the customer dial `leg_id` is to go through answering-machine detection when
        answered, as its originate asked (OriginateCustomer.amd). For a leg the shell takes in again
        (adopted after a restart, found again after a reconnect), which knows nothing of its dial."""
        found = self._leg(leg_id)
        if found is None or found[1] != "customer" or found[0].customer_leg != leg_id:
            return False
        return self._detects_machines(found[0])

    def _leg_lost(self, e: LegLost) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        # Ended unseen during a websocket gap (the person's doing), or went with a restart (ours or
        # Asterisk's) or a command Asterisk refused ("command_failed": nobody's choice)?
        restarted = e.leg_id in self._restored_legs or e.reason == "asterisk_restarted"
        in_gap = e.reason == "channel_vanished" and not restarted
        if role == "line":
            self._caller_line_ended(req, e.reason)
            return
        if req.state is RequestState.CONNECTED:
            self._finish_call(req, hung_up_by=f"{role}_lost")
            return
        if role == "customer" and req.kind is RequestKind.INBOUND:
            if in_gap:  # the caller hung up while we were not listening
                self._caller_hung_up(CallerHungUp(e.now, req.id))
                return
            # The caller's line is gone (e.g. Asterisk restarted): no callback can be promised now.
            if req.state is RequestState.RINGING_AGENT:
                self._emit(Hangup(req.agent_leg or "", "caller_lost"))
                agent = self._take_agent(req)
                if agent is not None:
                    self._release_agent(agent, None)
            # told, if the queue routes it (e.g. an SMS to a mobile): a cut-off call is not their doing
            self._notify("dropped", req, req.caller_number, reason=e.reason)
            self._end(req, Outcome.DROPPED, reason=e.reason)
            return
        if role == "customer" and req.state is RequestState.DIALLING_CUSTOMER and in_gap:
            self._customer_attempt_failed(req, AttemptOutcome.FAILED, cause=None)
            return
        if role == "customer" and req.state is RequestState.DIALLING_CUSTOMER and self._may_dial_again(req, e):
            self._dial_again_after_reconcile(req, e.reason)
            return
        self._interrupt(req, role, e.reason)

    def _may_dial_again(self, req: Request, e: LegLost) -> bool:
        """A customer's dial taken back after our restart whose channel is not there (stored,
        then killed before the originate went, or it ended while we were down) while the agent's
        leg came back with it: the agent is still on the line, hearing ringback."""
        return (
            e.leg_id in self._restored_legs
            and e.reason != "asterisk_restarted"
            and req.agent_leg is not None
            and req.agent_leg in self._restored_legs
        )

    def _dial_again_after_reconcile(self, req: Request, reason: str) -> None:
        """The dial is interrupted (nothing counted) and placed again once the legs are reconciled,
        as a whisper that ended while we were down: the agent keeps the line instead of being hung
        up and rung again for the same call. If their leg is found gone too, its LegLost comes
        before LegsReconciled and puts the request back in its place, nobody dialled."""
        assert req.agent_leg is not None
        self._interrupt_dial(req)
        self._forget_leg(req.customer_leg)
        req.customer_leg = None
        req.state = RequestState.WHISPER
        self._touched[req.id] = req
        self._emit(StopPrompt(req.agent_leg))  # the ringback tone of the lost dial; the new one brings its own
        self._activity("interrupted", req, leg="customer", reason=reason, dial_again=True)

    def _interrupt(self, req: Request, role: str, reason: str) -> None:
        """An originated leg of a request in service is lost: back to its place, nothing counted.
        The other originated leg (agent or callback customer) is hung up; a caller on hold stays."""
        if req.state is RequestState.DIALLING_CUSTOMER:
            self._interrupt_dial(req)
            other = req.agent_leg if role == "customer" else req.customer_leg
            if other is not None:
                self._emit(Hangup(other, "interrupted"))
            self._forget_leg(req.customer_leg)
            req.customer_leg = None
        agent = self._take_agent(req)
        if agent is not None:
            self._release_agent(agent, None)
        self._activity("interrupted", req, leg=role, reason=reason)
        self._return_to_place(req)

    def _interrupt_dial(self, req: Request) -> None:
        """The customer's dial in progress went with no one's choice: interrupted, nothing counted."""
        req.attempts[-1].outcome = AttemptOutcome.INTERRUPTED
        req.attempts[-1].ended_at = self._now
        self._attempt_interrupted(req)
        self._timers.cancel("customer", req.id)

    def _attempt_interrupted(self, req: Request) -> None:
        """Hook: a dial of this request was interrupted (the dialler keeps its compliance record)."""

    def _legs_reconciled(self, e: LegsReconciled) -> None:
        restored, self._restored_legs = self._restored_legs, set()
        for req in list(self.requests.values()):
            if req.announcing is not None and req.state is RequestState.CONNECTED:
                self._announce_again(req)
            # A whisper may have ended while we were down, and its end will never be reported: the
            # agent is still there (else LegLost came first), so the customer is dialled now.
            if req.state is RequestState.WHISPER:
                self._dial_customer(req)
            if req.caller_line is not None and req.caller_line in restored:
                # The caller was hearing the confirmation: the callback is stored, say so again.
                self._emit(PlayPrompt(req.caller_line, (self._confirmation(req),), hangup_after=True))
                self._activity("callback_confirmation_replayed", req)
            if req.menu is not None and req.menu.resuming:
                line = req.customer_leg
                if line in restored and req.kind is RequestKind.INBOUND and req.state is RequestState.WAITING:
                    self._resume_menu(req)
                else:  # being served already: no prompt to wait for, so no keys to ignore
                    step = req.menu.step
                    self._close_menu(req)
                    self._activity("callback_menu_left", req, step=step)

    def _call_found_unbridged(self, e: CallFoundUnbridged) -> None:
        """Bridged now, and recorded if its queue or campaign records calls (the recording starts
        once both are in the bridge, so it had not started). Not one hearing the recording
        announcement: its end bridges it."""
        req = self.requests.get(e.request_id)
        if (
            req is None
            or req.state is not RequestState.CONNECTED
            or req.customer_leg is None
            or req.agent_leg is None
            or req.announcing is not None
            or req.id in self._announcing
        ):
            return
        self._emit(self._call_bridge(req))
        self._activity("call_bridged_again", req, agent=req.agent_id)

    def recording_due(self, request_id: str) -> RecordCall | None:
        """The recording a connected call of this request is started with when found unrecorded:
        None for a call its queue or campaign does not record, one not connected, or one still
        hearing the recording announcement (its end bridges and records it). The shell asks
        before looking for a live recording at a restart."""
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.CONNECTED or req.customer_leg is None or req.agent_leg is None:
            return None
        if req.announcing is not None or req.id in self._announcing:
            return None
        bridge = self._call_bridge(req)
        return RecordCall(req.id, req.customer_leg, bridge.record_format) if bridge.record else None

    def _call_found_unrecorded(self, e: CallFoundUnrecorded) -> None:
        """Recorded from now on: the talk before the restart is lost to the file, the rest is not."""
        record = self.recording_due(e.request_id)
        if record is not None:
            req = self.requests[e.request_id]
            self._emit(record)
            self._activity("call_recorded_again", req, agent=req.agent_id)

    def _announce_again(self, req: Request) -> None:
        """Connected while the customer heard the recording announcement, and then we restarted:
        its end went unseen, so it is played again and the two are bridged (and recorded) after."""
        assert req.customer_leg is not None and req.agent_leg is not None and req.announcing is not None
        bridge = BridgeLegs(req.id, req.customer_leg, req.agent_leg, record=True, record_format=req.announcing)
        req.announcing = None
        self._touched[req.id] = req
        self._bridge_legs(bridge, self._announcement_for(req))
        self._activity("recording_announcement_replayed", req)

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

    def _tell_of_new_recording(self, req: Request, was: QueueSettings | None) -> None:
        """A caller on the line when a reload starts recording their queue's calls (or gives it a
        notice) hears the notice now, as a caller arriving would: their call will be recorded."""
        notice = self.queues[req.queue].recording_notice
        told = was.recording_notice if was is not None else None
        if notice and notice != told and req.customer_leg is not None:
            self._emit(PlayPrompt(req.customer_leg, (PromptItem(notice),)))

    def _callback_under_new_settings(self, req: Request, now: float) -> None:
        """A callback not yet in service follows the new settings as a new one would: a number they
        no longer allow (put on the blocklist after a complaint) is not called; a lowered max_attempts
        allows no attempt beyond it; a changed max_age counts from its promise."""
        q = self.queues[req.queue]
        cb = q.callback
        verdict = eligibility.check(req.callback_number, q.eligibility)
        if not verdict.eligible:
            refusal = verdict.refusal.value if verdict.refusal else None
            if verdict.refusal is not Refusal.BLOCKED:  # a blocked number is not to be contacted at all
                self._notify(
                    "callback_removed", req, req.callback_number, by="holdfast", reason="not_eligible", refusal=refusal
                )
            self._end(req, Outcome.REMOVED, by="holdfast", reason="not_eligible", refusal=refusal)
            return
        if req.attempts and req.counted_attempts >= cb.max_attempts:
            self._notify("missed_callback", req, req.callback_number)
            last = req.attempts[-1].outcome
            self._end(req, Outcome.MISSED, attempts=req.counted_attempts, last=last.value if last else None)
            return
        if req.callback_requested_at is not None:
            self._timers.set("expire", req.id, max(now, req.callback_requested_at + cb.max_age))

    def _settings_changed(self, e: SettingsChanged) -> None:
        """Apply new settings to everything going on: places, attempts and agents' states stay."""
        new = e.settings
        self.settings = new
        before = self.queues
        self.queues = {q.name: q for q in new.queues}
        for name in self.queues:
            self.orders.setdefault(name, PlaceOrder())
            self._callers_waiting.setdefault(name, 0)
            self._random.setdefault(name, random.Random(self.queues[name].callback.random_seed))
        for name in [n for n in self.orders if n not in self.queues]:
            del self.orders[name], self._callers_waiting[name], self._random[name]
            self.closed_since.pop(name, None)
            self._hours_next.pop(name, None)
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
            if hours.is_open(q.hours, self._calendar(e.now)):
                self.closed_since[q.name] = None
            elif was_open or q.name not in self.closed_since:
                # open until this reload: it closes now, so callers holding get max_wait_after_close
                closed_at = e.now if q.name in self.closed_since else self._last_close(q, e.now)
                self.closed_since[q.name] = closed_at
                self._timers.set("close_sweep", q.name, closed_at + q.max_wait_after_close)
            self._schedule_hours(q, self._calendar(e.now))
        for req in list(self.requests.values()):
            if req.is_callback and req.state in (RequestState.WAITING, RequestState.QUARANTINE):
                self._callback_under_new_settings(req, e.now)
            elif req.kind is RequestKind.INBOUND and req.state in (RequestState.WAITING, RequestState.RINGING_AGENT):
                self._tell_of_new_recording(req, before.get(req.queue))
        self._activity("settings_changed", None, queues=sorted(self.queues), agents=sorted(self.agents))
