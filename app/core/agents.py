"""Agents: the state machine and who gets the next request.

Theory of operation:
- logged_off → (login/ready) → ready ⇄ paused; ready → ringing → busy → wrap_up → ready.
- Pausing or logging out during a call takes effect when the call's wrap-up ends.
- An agent who refuses a request (lets it ring out, rejects it, hangs up during the whisper)
  `max_agent_refusals` times in a row is paused with reason `not_responding`; below that they stay
  ready (behind agents idle longer). Talking to a customer, or making themselves ready, resets the
  count. A phone that cannot be reached is not a refusal: the agent is marked unreachable.
- An agent whose phone went silent until Asterisk cut the call (`rtp_timeout`: a dead line, a
  crashed softphone that still answers SIP) is paused `no_audio` after the call: ringing it again
  would give the next customer silence. Their own logout, asked for during the call, still wins.
- An agent whose own phone calls into a queue is offered nothing until that call ends.
- Selection for a queue: ready, reachable agents with the skill; lowest penalty first, then the
  one idle longest (ties broken by agent id so runs are reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import IllegalAgentTransition
from app.core.settings import AgentSettings
from app.core.states import AgentState

NOT_RESPONDING = "not_responding"
NO_AUDIO = "no_audio"
# What the extension code adds to a wrap-up, and the API's default (`service.max_wrap_up_extension` caps the total)
WRAP_UP_EXTENSION_STEP = 60.0


@dataclass(slots=True)
class Agent:
    settings: AgentSettings
    state: AgentState = AgentState.LOGGED_OFF
    pause_reason: str | None = None
    reachable: bool = True
    own_call: bool = False  # their phone is on a call of its own into a queue (events.AgentOwnCall)
    idle_since: float = 0.0
    idle_before_ring: float = 0.0  # idle_since when last rung: kept if the ring ends through nobody's fault
    state_since: float = 0.0
    request_id: str | None = None
    wrap_up_until: float | None = None
    wrap_up_extended: float = 0.0  # seconds added to this wrap-up: what counts against the cap
    after_call: AgentState | None = None  # paused / logged_off requested during a call
    after_call_reason: str | None = None
    refusals: int = 0  # in a row, since the agent last talked to a customer or made themselves ready

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def available(self) -> bool:
        return self.state is AgentState.READY and self.reachable and not self.own_call

    def serves(self, queue: str) -> bool:
        return self.settings.penalty_for(queue) is not None

    def set_state(self, state: AgentState, now: float, reason: str | None = None) -> None:
        self.state = state
        self.state_since = now
        self.pause_reason = reason if state is AgentState.PAUSED else None
        if state is AgentState.READY:
            self.idle_since = now

    def go_ready(self, now: float) -> None:
        if self.state in (AgentState.RINGING, AgentState.BUSY):
            raise IllegalAgentTransition(f"agent {self.id} is {self.state}; finish the call first")
        if self.state is not AgentState.READY:
            self.wrap_up_until = None
            self.after_call = self.after_call_reason = None
            self.refusals = 0
            self.set_state(AgentState.READY, now)

    def pause(self, now: float, reason: str) -> None:
        if self.state is AgentState.LOGGED_OFF:
            raise IllegalAgentTransition(f"agent {self.id} is logged off; log in first")
        if self.state is AgentState.RINGING:  # the engine gives the request back first
            raise IllegalAgentTransition(f"agent {self.id} is ringing; give the request back first")
        if self.state in (AgentState.BUSY, AgentState.WRAP_UP):
            self.after_call, self.after_call_reason = AgentState.PAUSED, reason
            return
        self.set_state(AgentState.PAUSED, now, reason)

    def start_ringing(self, request_id: str, now: float) -> None:
        assert self.state is AgentState.READY and self.request_id is None
        self.request_id = request_id
        self.idle_before_ring = self.idle_since
        self.set_state(AgentState.RINGING, now)

    def start_call(self, now: float) -> None:
        assert self.state is AgentState.RINGING
        self.set_state(AgentState.BUSY, now)

    def release(self, now: float, wrap_up: float | None) -> None:
        """The request is over for this agent: wrap up (if given) or return to ready/after-call state."""
        rung_for_nobody = self.state is AgentState.RINGING  # the caller went while the phone rang
        self.request_id = None
        if wrap_up is not None and wrap_up > 0:
            self.wrap_up_until = now + wrap_up
            self.wrap_up_extended = 0.0
            self.set_state(AgentState.WRAP_UP, now)
        else:
            self.finish_wrap_up(now)
            if rung_for_nobody and self.state is AgentState.READY:
                self.idle_since = self.idle_before_ring  # served nobody: keeps their turn

    def finish_wrap_up(self, now: float) -> None:
        self.wrap_up_until = None
        after, reason = self.after_call, self.after_call_reason
        self.after_call = self.after_call_reason = None
        if after is AgentState.PAUSED:
            self.set_state(AgentState.PAUSED, now, reason)
        elif after is AgentState.LOGGED_OFF:
            self.set_state(AgentState.LOGGED_OFF, now)
        else:
            self.set_state(AgentState.READY, now)

    def ring_not_counted(self, now: float) -> None:
        """A ring ended that was not the agent's to answer (Asterisk never confirmed it): free
        again as after a refusal, without counting one."""
        self.request_id = None
        self.finish_wrap_up(now)

    def not_responding(self, now: float) -> None:
        self.request_id = None
        self.refusals = 0
        self.set_state(AgentState.PAUSED, now, NOT_RESPONDING)

    def line_dead(self) -> None:
        """The call was cut because this agent's phone sent no audio: paused `no_audio` once the
        call's wrap-up (if any) ends. Not a refusal: the refusal count is left as it was."""
        if self.after_call is not AgentState.LOGGED_OFF:
            self.after_call, self.after_call_reason = AgentState.PAUSED, NO_AUDIO

    def refused(self, now: float, limit: int) -> bool:
        """One more refusal of a request being rung or whispered; True when it paused the agent."""
        self.refusals += 1
        self.request_id = None
        if self.refusals >= limit and self.after_call is None:
            self.not_responding(now)
            return True
        # A pause or logout asked for during the whisper wins; else ready, idle since now (so
        # agents idle longer are tried first).
        self.finish_wrap_up(now)
        return False

    def unreachable_now(self, now: float) -> None:
        """The phone could not be reached: not a refusal; ready again once it registers."""
        self.request_id = None
        self.reachable = False
        self.set_state(AgentState.READY, now)


def pick_agent(agents: list[Agent], queue: str) -> Agent | None:
    best: Agent | None = None
    best_key: tuple[int, float, str] | None = None
    for agent in agents:
        if not agent.available:
            continue
        penalty = agent.settings.penalty_for(queue)
        if penalty is None:
            continue
        key = (penalty, agent.idle_since, agent.id)
        if best_key is None or key < best_key:
            best, best_key = agent, key
    return best
