"""What the store keeps of each agent (step_of's AgentRecords) follows the engine, so a restart
brings agents back as they were: an agent paused for not answering stays paused."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.engine import Engine
from app.core.states import AgentState
from app.telephony.committer import step_of
from tests.core.harness import Harness, settings


class StoringHarness(Harness):
    """Keeps the last AgentRecord the shell would store per agent, and the requests."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.stored_agents: dict[str, tuple[AgentState, str | None]] = {}
        self.stored_requests: dict[str, object] = {}

    def send(self, event: ev.Event) -> list[c.Command]:
        out = self.engine.handle(event)
        step = step_of(self.engine, out)
        for record in step.agents:
            self.stored_agents[record.agent_id] = (record.state, record.pause_reason)
        for request in step.requests:
            self.stored_requests[request.id] = request
        self.log += out
        return out

    def restarted(self) -> Engine:
        fresh = Engine(self.engine.settings)
        agents = [(agent, state, reason) for agent, (state, reason) in self.stored_agents.items()]
        fresh.restore(list(self.stored_requests.values()), agents, self.now)  # type: ignore[arg-type]
        return fresh


def test_an_agent_paused_for_not_answering_is_stored_paused_and_not_rung_after_a_restart() -> None:
    h = StoringHarness(settings(agents=1, wrap_up=0.0, ring_timeout=15.0))
    h.ready("a1")
    h.arrive("r1")
    h.run_until(h.now + 16)  # the desk is empty: the ring times out and a1 is paused
    assert h.engine.agents["a1"].state is AgentState.PAUSED
    assert h.stored_agents["a1"] == (AgentState.PAUSED, "not_responding")
    fresh = h.restarted()
    out = fresh.handle(ev.Tick(h.now + 1))
    assert fresh.agents["a1"].state is AgentState.PAUSED
    assert not [x for x in out if isinstance(x, c.OriginateAgent)]  # the caller is not rung to an empty desk
