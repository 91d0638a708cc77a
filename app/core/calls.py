"""Serving a request: dispatch, ringing the agent, the whisper, dialling the customer, attempts.

Theory of operation: the first dispatchable request (dispatch.py) gets the best ready agent
(agents.py), who is rung first. An inbound caller is bridged on answer; a callback's agent hears
a whisper, then the customer is dialled. Busy / no answer / failure count an attempt (a dial
whose end Asterisk never reports does not: `_unreported_dial_outcome`); with
attempts left the request waits `sec_between_retries` out of the queue, then rejoins at the END
(optional VIP bump); otherwise it ends `missed`. Agent trouble never counts against the customer.
Every dial is an attempt record numbered in order (1, 2, 3…), counted or not.

While the customer's phone rings the agent hears ringback (the "ringback" tone item), stopped
before the two are bridged. When the attempt fails the agent hears why (customer unreachable,
tried again later or not) and their leg is hung up after that prompt; the agent is released at
once, nothing waits for the prompt to end (the leg is already forgotten).

A recorded call (queue or campaign `record_calls`) with a recording announcement
(`recording.announce`): once the customer has answered, they hear the announcement first and
the agent waits in silence; the two are bridged, and so the recording starts, when it has been
played (PromptFinished on the customer's leg). A hang-up meanwhile ends the call as any hang-up
of a connected call does. (An inbound caller heard it on arrival: callers.py.)

An agent who lets the request ring out, rejects it, or hangs up during the whisper or while the
customer is dialled has refused it: the request goes back to its place and the agent is paused
`not_responding` after the queue's `max_agent_refusals` in a row (agents.py). An agent leg that
failed because the phone cannot be reached (causes.py) marks the agent unreachable instead. Not a
refusal either: a ring Asterisk never confirmed (`RingUnconfirmed`: frozen, overloaded), or one
answered just as it ran out (`agent_answered_late`); a refusal counted for one is taken back.
"""

from __future__ import annotations

from app.core import causes, dispatch, eligibility
from app.core.agents import NOT_RESPONDING, Agent, pick_agent
from app.core.commands import (
    BridgeLegs,
    Hangup,
    OriginateAgent,
    OriginateCustomer,
    PlayPrompt,
    PromptItem,
    StopPrompt,
)
from app.core.engine_base import CUSTOMER_TIMEOUT_MARGIN, LATE_NO_ANSWER_MARGIN, EngineBase
from app.core.events import (
    LegAnswered,
    LegFailed,
    LegHungUp,
    PromptFinished,
    RingUnconfirmed,
)
from app.core.request import PRIORITY_MAX, Attempt, Request
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestKind, RequestState

# Seconds an agent leg hung up at the ring timeout is remembered: its answer may come that late
# after a stall of Asterisk (its events are sent when it resumes; a longer stall drops the
# websocket, and the resync after it settles the rest).
RING_OUT_MEMORY = 120.0


class CallFlow(EngineBase):
    def _prompt_finished(self, e: PromptFinished) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if role == "customer" and req.id in self._announcing:
            bridge = self._announcing.pop(req.id)
            if req.state is RequestState.CONNECTED and bridge.customer_leg == e.leg_id:
                req.announcing = None
                self._touched[req.id] = req
                self._emit(bridge)  # heard: now the conversation, and its recording
                self._activity("recording_announced", req)
        elif req.state is RequestState.WHISPER and role == "agent":
            self._dial_customer(req)
        elif role == "customer" and req.menu is not None:  # a re-prompt after a restart was heard
            self._menu_prompt_finished(req)

    def _leg_answered(self, e: LegAnswered) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            self._answered_after_ring_out(e)
            return
        req, role = found
        if role == "agent" and req.state is RequestState.RINGING_AGENT:
            self._timers.cancel("ring", req.id)
            agent = self.agents.get(req.agent_id or "")
            if agent is not None:  # None: removed from the settings while the service was down
                agent.start_call(e.now)
            if req.is_callback:
                req.state = RequestState.WHISPER
                self._activity("agent_answered", req)
                items = (PromptItem("callback_whisper"), PromptItem("number", req.callback_number))
                self._emit(PlayPrompt(e.leg_id, items, report_finish=True))
            else:
                self._connect(req)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
            self._timers.cancel("customer", req.id)
            # The ringback must end before the bridge: a playback that never ends also holds back
            # the agent channel's joining the bridge.
            self._emit(StopPrompt(req.agent_leg or ""))
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
        agent = self.agents.get(req.agent_id or "")
        if agent is not None:
            agent.refusals = 0  # talked to a customer: refusals start afresh
        req.service_started_at = self._now
        self.estimator.on_served(req.queue, req.net_wait(self._now), self._now)
        self._report_call_started(req)
        q = self.queues[req.queue]
        if req.kind is RequestKind.INBOUND and q.callback.cancel_when_served_by_phone:
            self._cancel_callbacks_of_caller(req)
        # an inbound caller heard the announcement on arrival; a called customer hears it now
        announce = q.recording.announce if req.kind is not RequestKind.INBOUND else None
        self._bridge_legs(self._call_bridge(req), announce)
        net_wait = req.net_wait(self._now)
        self._activity(
            "connected",
            req,
            gross_wait=req.gross_wait(self._now),
            net_wait=net_wait,
            within_sla=net_wait <= self.queues[req.queue].service_level,  # SLA is judged on net wait
        )

    def _bridge_legs(self, bridge: BridgeLegs, announce: str | None) -> None:
        """Bridge agent and customer; a recorded call with an announcement plays it to the
        customer first and bridges when it has been played (see the module comment)."""
        for rid in [rid for rid in self._announcing if rid not in self.requests]:
            del self._announcing[rid]  # ended while announcing: nothing to bridge
        if not (bridge.record and announce):
            self._emit(bridge)
            return
        self._announcing[bridge.request_id] = bridge
        req = self.requests.get(bridge.request_id)
        if req is not None:  # stored: a restart before the prompt ends bridges all the same
            req.announcing = bridge.record_format
            self._touched[req.id] = req
        self._emit(PlayPrompt(bridge.customer_leg, (PromptItem(announce),), report_finish=True))

    def _call_bridge(self, req: Request) -> BridgeLegs:
        """The command that bridges a connected request's customer and agent, recorded when its
        queue records calls."""
        assert req.customer_leg is not None and req.agent_leg is not None
        q = self.queues[req.queue]
        return BridgeLegs(
            req.id, req.customer_leg, req.agent_leg, record=q.record_calls, record_format=q.recording.format
        )

    def _announcement_for(self, req: Request) -> str | None:
        """The recording announcement a called customer of this request hears before the bridge."""
        q = self.queues.get(req.queue)
        return q.recording.announce if q is not None else None

    def _leg_failed(self, e: LegFailed) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if role == "line":
            self._caller_line_ended(req, "failed")
        elif role == "agent" and req.state is RequestState.RINGING_AGENT:
            self._agent_did_not_answer(req, hangup=False, cause=e.cause)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
            # `answered`: the customer picked up and hung up before we could put them through
            # (they heard silence: during detection, or after a stall). Not their no answer or
            # failure: interrupted, so a one-attempt callback is tried again, not missed.
            outcome = AttemptOutcome.INTERRUPTED if e.answered else self._reported_dial_outcome(req, e.outcome)
            self._customer_attempt_failed(req, outcome, cause=e.cause)

    def _dial_ring_time(self, req: Request) -> float | None:
        """The ring time the request's customer dials are given (the dialler answers for contacts)."""
        return self.queues[req.queue].callback.customer_ring_timeout if req.is_callback else None

    def _reported_dial_outcome(self, req: Request, outcome: AttemptOutcome) -> AttemptOutcome:
        """How a dial Asterisk reported ended counts. A no answer reported well past the ring time
        it was given was timed by a stalled Asterisk: its clock ran on while it was frozen, so the
        phone rang for less than that, or was picked up with the answer waiting in the stalled
        Asterisk. Not the customer's doing: interrupted, as a dial whose end never came (its
        quarantine spares the phone a second ring at once; the callback keeps its place)."""
        ring_time = self._dial_ring_time(req)
        if outcome is not AttemptOutcome.NO_ANSWER or ring_time is None:
            return outcome
        after = self._now - req.attempts[-1].started_at
        if after > ring_time + LATE_NO_ANSWER_MARGIN:
            self._activity("dial_reported_late", req, outcome=outcome.value, after=round(after, 1))
            return AttemptOutcome.INTERRUPTED
        return outcome

    def _leg_hung_up(self, e: LegHungUp) -> None:
        found = self._leg(e.leg_id)
        if found is None:
            return
        req, role = found
        if role == "line":
            self._caller_line_ended(req, "hung_up")
        elif req.state is RequestState.CONNECTED:
            self._finish_call(req, hung_up_by=f"{role}_no_audio" if e.no_audio else role)
        elif role == "agent" and req.state is RequestState.WHISPER:
            self._agent_abandoned_callback(req, e.no_audio)
        elif role == "agent" and req.state is RequestState.DIALLING_CUSTOMER:
            self._dial_ended_by_agent(req)
            self._agent_abandoned_callback(req, e.no_audio)
        elif role == "agent" and req.state is RequestState.RINGING_AGENT:
            self._agent_did_not_answer(req, hangup=False, cause=None)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
            self._customer_attempt_failed(req, AttemptOutcome.FAILED, cause=None)

    def _agent_did_not_answer(self, req: Request, hangup: bool, cause: int | None) -> None:
        unconfirmed = req.agent_leg in self._unconfirmed_rings
        if hangup:
            self._emit(Hangup(req.agent_leg or "", "ring_timeout"))
            self._remember_ring_out(req)
        agent_id = req.agent_id
        agent = self._take_agent(req)
        if agent is not None and causes.endpoint_unreachable(cause):
            agent.unreachable_now(self._now)
            self._activity("agent_reachability", None, agent=agent.id, reachable=False, cause=cause)
        elif agent is not None and unconfirmed:
            before = agent.state
            agent.ring_not_counted(self._now)
            self._agent_state_activity(agent, before)
        elif agent is not None:
            self._agent_refused(agent, req)
        extra = {"unconfirmed": True} if unconfirmed else {}
        self._activity("agent_no_answer", req, agent=agent_id, cause=cause, **extra)
        self._return_to_place(req)

    def _ring_unconfirmed(self, e: RingUnconfirmed) -> None:
        """Asterisk never answered the originate ringing an agent: a ring still on does not count
        as a refusal when it runs out; one that ran out already has its refusal taken back."""
        found = self._leg(e.leg_id)
        if found is not None and found[1] == "agent" and found[0].state is RequestState.RINGING_AGENT:
            self._unconfirmed_rings.add(e.leg_id)
        elif e.leg_id in self._rang_out:
            self._take_back_ring_out(e.leg_id, "agent_ring_unconfirmed")

    def _remember_ring_out(self, req: Request) -> None:
        """The agent's leg of `req` is hung up for ringing past the ring timeout: kept a while, in
        case its answer was already on its way (_answered_after_ring_out)."""
        self._rang_out = {leg: v for leg, v in self._rang_out.items() if v[1] > self._now - RING_OUT_MEMORY}
        if req.agent_leg is not None and req.agent_id is not None:
            self._rang_out[req.agent_leg] = (req.agent_id, self._now)

    def _answered_after_ring_out(self, e: LegAnswered) -> None:
        """An agent leg hung up at the ring timeout had been answered: the agent picked up in the
        instant the hang-up was on its way, or during a stall of Asterisk whose events came after it
        resumed. They heard the call drop, but they did answer: the refusal is taken back. Paused
        `not_responding` for it (and nothing since), they are ready again; below the limit, it no
        longer counts towards it. The request itself went back to its place at the timeout."""
        self._take_back_ring_out(e.leg_id, "agent_answered_late")

    def _take_back_ring_out(self, leg_id: str, why: str) -> None:
        """The refusal counted when this agent leg rang out was not one (`why`): paused
        `not_responding` for it (and nothing since), the agent is ready again; below the limit, it
        no longer counts towards it."""
        rang = self._rang_out.pop(leg_id, None)
        agent = self.agents.get(rang[0]) if rang is not None else None
        if rang is None or agent is None:
            return
        if agent.state is AgentState.PAUSED and agent.pause_reason == NOT_RESPONDING and agent.state_since == rang[1]:
            agent.go_ready(self._now)
            self._agent_state_activity(agent, AgentState.PAUSED)
        elif agent.refusals > 0:
            agent.refusals -= 1
        self._activity(why, None, agent=agent.id, leg=leg_id, rang_out_at=rang[1])

    def _agent_refused(self, agent: Agent, req: Request) -> None:
        before = agent.state
        if agent.refused(self._now, self.queues[req.queue].max_agent_refusals):
            self._activity("agent_paused", None, agent=agent.id, reason="not_responding")
            # agent_state too: it is what the store keeps an agent's state by, so a restart keeps the pause
            self._activity(
                "agent_state",
                None,
                agent=agent.id,
                state=agent.state.value,
                previous=before.value,
                reason="not_responding",
            )
        else:
            self._activity("agent_refused", req, agent=agent.id, refusals=agent.refusals, request=req.id)
            self._activity("agent_state", None, agent=agent.id, state=agent.state.value, previous=before.value)

    def _agent_abandoned_callback(self, req: Request, no_audio: bool = False) -> None:
        """The agent hung up before talking to the customer: a refusal, the request keeps its place."""
        self._agent_left(req, no_audio)
        self._return_to_place(req)

    def _agent_left(self, req: Request, no_audio: bool = False, **data: object) -> None:
        """The agent hung up before talking to the customer: freed, and counted as a refusal. Or
        their line died (`no_audio`): paused, not a refusal."""
        agent_id = req.agent_id
        agent = self._take_agent(req)
        if agent is not None and no_audio:
            self._agent_line_dead(agent, req)
            self._release_agent(agent, None)
        elif agent is not None:
            self._agent_refused(agent, req)
        self._activity("agent_left_callback", req, agent=agent_id, **data)

    def _dial_ended_by_agent(self, req: Request) -> None:
        """The customer's phone is hung up because the agent left: not counted against them."""
        self._emit(Hangup(req.customer_leg or "", "agent_gone"))
        self._timers.cancel("customer", req.id)
        req.attempts[-1].outcome = AttemptOutcome.AGENT_NO_ANSWER
        req.attempts[-1].ended_at = self._now
        self._forget_leg(req.customer_leg)
        req.customer_leg = None

    def _dial_customer(self, req: Request) -> None:
        q = self.queues[req.queue]
        assert req.callback_number is not None and req.agent_id is not None
        req.state = RequestState.DIALLING_CUSTOMER
        attempt = Attempt(number=req.next_attempt_number, started_at=self._now, agent_id=req.agent_id)
        req.attempts.append(attempt)
        req.customer_leg = self._new_leg(req, "customer")
        self._timers.set("customer", req.id, self._now + q.callback.customer_ring_timeout + CUSTOMER_TIMEOUT_MARGIN)
        self._activity("attempt_started", req, attempt=attempt.number, number=req.callback_number)
        if req.agent_leg is not None:  # the agent hears the customer's phone ring, not silence
            self._emit(PlayPrompt(req.agent_leg, (PromptItem("ringback"),)))
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
        assert req.callback_requested_at is not None
        expired = self._now >= req.callback_requested_at + cb.max_age
        given_up = (outcome is AttemptOutcome.BUSY and cb.give_up_on_busy) or req.counted_attempts >= cb.max_attempts
        if req.agent_leg is not None:
            # Ringback off, then say why before the agent's leg ends (the shell hangs it up after).
            prompt = "callback_customer_unreachable_final" if expired or given_up else "callback_customer_unreachable"
            self._emit(StopPrompt(req.agent_leg), PlayPrompt(req.agent_leg, (PromptItem(prompt),), hangup_after=True))
        agent = self._take_agent(req)
        if agent is not None:
            self._release_agent(agent, None)
        self._activity("attempt_outcome", req, attempt=attempt.number, outcome=outcome.value, cause=cause)
        if expired:
            self._expire(req)
        elif given_up:
            self._notify("missed_callback", req, req.callback_number)
            self._end(req, Outcome.MISSED, attempts=req.counted_attempts, last=outcome.value)
        else:
            req.state = RequestState.QUARANTINE
            req.not_before = self._now + cb.sec_between_retries
            self._timers.set("not_before", req.id, req.not_before)
            self._activity("quarantine", req, until=req.not_before)

    def _cancel_callbacks_of_caller(self, req: Request) -> None:
        """A caller who got through to an agent no longer needs the callback they asked for in this
        queue (a web form, an earlier call): ringing them later would waste an agent and puzzle
        them. One being served now goes on."""
        if not self._callback_numbers:  # the common case: no callback anywhere, no number to parse
            return
        number = eligibility.check(req.caller_number, self.queues[req.queue].eligibility).number
        if number is None:
            return
        for waiting in self._queued_callbacks_to(req.queue, number):
            self._end(waiting, Outcome.REMOVED, by="holdfast", reason="reached_by_phone", served_by=req.id)

    def _finish_call(self, req: Request, hung_up_by: str) -> None:
        data: dict[str, object] = {"hung_up_by": hung_up_by}
        # the other side is hung up: the customer's or the agent's leg ended (or was lost)
        other = req.agent_leg if hung_up_by.startswith("customer") else req.customer_leg
        if other is not None:
            self._emit(Hangup(other, f"{hung_up_by}_hung_up"))
        q = self.queues[req.queue]
        agent = self._take_agent(req)
        if agent is not None:
            data["agent"] = agent.id
            if hung_up_by == "agent_no_audio":
                self._agent_line_dead(agent, req)
            self._report_handled(req, q.wrap_up)
            self._release_agent(agent, q.wrap_up)
        self._end(req, Outcome.SERVED, **data)

    def _ring_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.state is RequestState.RINGING_AGENT:
            self._agent_did_not_answer(req, hangup=True, cause=None)

    def _customer_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.state is RequestState.DIALLING_CUSTOMER:
            self._emit(Hangup(req.customer_leg or "", "ring_timeout"))
            self._customer_attempt_failed(req, self._unreported_dial_outcome(req), cause=None)

    def _unreported_dial_outcome(self, req: Request) -> AttemptOutcome:
        """The outcome of a dial Asterisk never reported: it was to give up at the ring timeout
        (the originate's own), and our guard, CUSTOMER_TIMEOUT_MARGIN later, saw nothing. A
        frozen or overloaded Asterisk, not the customer, who may even have picked up meanwhile:
        interrupted, not counted, so a callback with its one attempt is kept (tried again after
        its quarantine) instead of ending `missed`."""
        return AttemptOutcome.INTERRUPTED

    def _not_before_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.QUARANTINE:
            return  # a callback delay simply ends; dispatch runs after every event
        cb = self.queues[req.queue].callback
        kept = req.attempts[-1].outcome is AttemptOutcome.INTERRUPTED
        if not kept:
            req.priority = min(PRIORITY_MAX, req.priority + cb.vip_on_retry)
            req.place = self._next_place(req.priority, self._now)  # the END of the queue
        # else a dial Asterisk never reported (frozen): not the customer's doing, so the callback
        # keeps its place, as any interrupted one does; the quarantine only spared their phone a
        # second ring at once
        req.queued_since = self._now
        self._enter_queue(req)
        self._activity("requeued", req, position=self.position(req.id), priority=req.priority, place_kept=kept)

    def _expire_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.state in (RequestState.WAITING, RequestState.QUARANTINE):
            self._expire(req)

    def _dispatch(self) -> None:
        if not any(a.available for a in self.agents.values()):
            return
        while True:
            choice = self._best_candidate()
            if choice is None:
                return
            req, agent = choice
            self._ring_agent(req, agent)

    def _dispatchable_agents(self) -> list[Agent]:
        """The agents dispatch may hand a caller or callback (the dialler keeps some for its dials)."""
        return list(self.agents.values())

    def _best_candidate(self) -> tuple[Request, Agent] | None:
        agents = self._dispatchable_agents()
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
        if req.menu is not None:
            # Keys pressed while the agent rings are not read: a number keyed on both sides of the
            # ring would be put together from what was heard, a stranger's number. The caller is
            # being served anyway; back in the queue they are offered a callback again.
            self._activity("callback_menu_left", req, step=req.menu.step, reason="agent_rung")
            self._close_menu(req)
        self._leave_queue(req)
        if req.first_dispatched_at is None:
            req.first_dispatched_at = self._now
        if req.is_callback:
            name, number = "Callback", req.callback_number or ""
        else:
            name, number = q.label, req.caller_number or ""
        self._ring(req, agent, name, number)

    def _ring(self, req: Request, agent: Agent, name: str, number: str, auto_answer: bool = False) -> None:
        """Ring the agent for this request, showing name and number. `auto_answer` asks the phone to
        answer by itself whatever the agent's settings (a power call's contact is already talking)."""
        q = self.queues[req.queue]
        req.state = RequestState.RINGING_AGENT
        req.agent_id = agent.id
        req.agent_leg = self._new_leg(req, "agent")
        agent.start_ringing(req.id, self._now)
        self._timers.set("ring", req.id, self._now + q.ring_timeout)
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
                auto_answer=auto_answer or agent.settings.auto_answer or q.auto_answer_agents,
            )
        )
