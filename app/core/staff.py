"""Agents' own moves (ready, pause, log out, wrap-up) and admins' actions on waiting callbacks.

An agent who pauses or logs out while being rung gives the request back: their leg is hung up and
the request returns to its place (recorded, so the store no longer has it as ringing). During a
call the move takes effect when the call's wrap-up ends; asking for it records
`agent_state_requested`, which is what the shell stores the agent's move by (a restart keeps it).
A wrap-up extension records `wrap_up_extended` (seconds granted, the new end, the extension in all
and what the cap leaves) for the same reason; the shell answers from it.

A callback put at a position (`CallbackRepositioned`) gets a new place key between the keys of
the requests that will be ahead of and behind it; everyone else keeps theirs, so their order is
unchanged and positions stay 1..n. The new key's sequence is always fresh (never reused: a request
out of the order for a moment, e.g. ringing an agent, comes back to its own key). Only when the two
neighbours tie on priority and place time is there no room between them: then the neighbour behind
and those tied with it after it get fresh sequences too, in their order. The key's rank may then
differ from the callback's own priority: a retry after quarantine gets a key from its priority again.
"""

from __future__ import annotations

from app.core.agents import Agent
from app.core.commands import Hangup
from app.core.engine_base import EngineBase
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
    WrapUpExtended,
)
from app.core.ordering import PlaceKey, PlaceOrder
from app.core.states import AgentState, Outcome, RequestState


class StaffFlow(EngineBase):
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
        if agent.state is AgentState.RINGING:
            self._give_back(agent, "agent_paused")
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
            self._give_back(agent, "agent_logged_out")
        agent.set_state(AgentState.LOGGED_OFF, e.now)
        self._activity("agent_state", None, agent=agent.id, state="logged_off", previous=before.value)

    def _give_back(self, agent: Agent, why: str) -> None:
        """The ringing agent leaves: hang up their leg, the request goes back to its place."""
        req = self.requests[agent.request_id or ""]
        self._emit(Hangup(req.agent_leg or "", why))
        self._take_agent(req)
        agent.request_id = None
        agent.set_state(AgentState.READY, self._now)  # for a moment: the caller sets the new state
        self._activity("agent_gave_back", req, agent=agent.id, why=why)
        self._return_to_place(req)

    def _agent_reachability(self, e: AgentReachability) -> None:
        agent = self.agents[e.agent_id]
        if agent.reachable != e.reachable:
            agent.reachable = e.reachable
            self._activity("agent_reachability", None, agent=agent.id, reachable=e.reachable)

    def _agent_own_call(self, e: AgentOwnCall) -> None:
        agent = self.agents[e.agent_id]
        if agent.own_call != e.on_call:
            agent.own_call = e.on_call
            self._activity("agent_own_call", None, agent=agent.id, on_call=e.on_call)

    def _wrap_up_extended(self, e: WrapUpExtended) -> None:
        agent = self.agents[e.agent_id]
        room = self.settings.max_wrap_up_extension - agent.wrap_up_extended
        extra = max(0.0, min(e.seconds, room))
        assert agent.wrap_up_until is not None
        if extra <= 0:
            return  # the cap is reached: nothing changes
        agent.wrap_up_extended += extra
        agent.wrap_up_until += extra
        self._timers.set("wrap_up", agent.id, agent.wrap_up_until)
        # the line marks the agent for storing with its new end: a restart keeps the extension
        # and is the step's answer (granted, new end, in all, what the cap leaves) for the API
        self._activity(
            "wrap_up_extended",
            None,
            agent=agent.id,
            seconds=extra,
            until=agent.wrap_up_until,
            extended=agent.wrap_up_extended,
            left=room - extra,
        )

    def _wrap_up_due(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        if agent.state is AgentState.WRAP_UP:
            agent.finish_wrap_up(self._now)
            self._agent_state_activity(agent, AgentState.WRAP_UP)

    def _callback_removed(self, e: CallbackRemoved) -> None:
        req = self.requests[e.request_id]
        # the customer was promised a call: told it will not come (where the event is routed)
        self._notify("callback_removed", req, req.callback_number, by=e.by, reason=e.reason)
        self._end(req, Outcome.REMOVED, by=e.by, reason=e.reason)

    def _callback_moved(self, e: CallbackMoved) -> None:
        req = self.requests[e.request_id]
        old = req.queue
        self._leave_queue(req)
        self._unindex_callback(req)
        req.queue = e.to_queue
        self._index_callback(req)
        req.place = self._next_place(req.priority, e.now)
        if req.callback_requested_at is not None:  # it lives as long as its new queue allows, as after a restart
            age = self.queues[e.to_queue].callback.max_age
            self._timers.set("expire", req.id, max(e.now, req.callback_requested_at + age))
        if req.state is RequestState.WAITING:
            self._enter_queue(req)
        self._activity("moved", req, from_queue=old, to_queue=e.to_queue, by=e.by, reason=e.reason, place_kept=False)

    def _callback_repositioned(self, e: CallbackRepositioned) -> None:
        req = self.requests[e.request_id]
        order = self.orders[req.queue]
        before = order.position(req.place)
        if before != e.position:
            order.remove(req.place)
            req.place = self._place_at(order, e.position)
            order.add(req.place, req.id)
        self._activity("repositioned", req, from_position=before, to_position=e.position, by=e.by, reason=e.reason)

    def _place_at(self, order: PlaceOrder, position: int) -> PlaceKey:
        """A new key that sorts at `position` of `order` (which does not hold the request)."""
        ahead = order.key_at(position - 1) if position > 1 else None
        behind = order.key_at(position) if position <= len(order) else None
        self._seq += 1
        fresh = self._seq
        if behind is None:
            assert ahead is not None  # a queue of one is never repositioned away from 1
            return (ahead[0], ahead[1], fresh)  # the same rank and time, a later sequence
        if ahead is None or ahead[0] < behind[0]:
            return (behind[0], behind[1] - 1.0, fresh)  # just before it, ahead of a higher rank anyway
        if ahead[1] < behind[1]:
            return (ahead[0], ahead[1], fresh)  # after `ahead` by sequence, before `behind` by time
        # `ahead` and `behind` tie on rank and time: move `behind` and those tied after it back
        tied = []
        for at in range(position, len(order) + 1):
            key = order.key_at(at)
            if key[:2] != behind[:2]:
                break
            tied.append(self.requests[order.id_at(at)])
        for other in tied:
            order.remove(other.place)
        for other in tied:
            self._seq += 1
            other.place = (other.place[0], other.place[1], self._seq)
            order.add(other.place, other.id)
            self._touched[other.id] = other  # its key changed: stored with the step
        return (ahead[0], ahead[1], fresh)
