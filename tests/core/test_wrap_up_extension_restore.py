"""A wrap-up extension is recorded (so the shell stores the agent's new end) and restored.

The shell stores an agent by its `agent_state` / `agent_state_requested` / `wrap_up_extended`
lines (app/telephony/committer.py); an extension made none, so a restart resumed the configured
wrap-up. The service-level proof is tests/telephony/test_service_wrap_up_extension_restart.py.
"""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CoreSettings
from app.core.states import AgentState
from tests.core.harness import Harness, settings

WRAP_UP = 10.0


def in_wrap_up() -> tuple[Harness, CoreSettings]:
    base = settings(agents=1, wrap_up=WRAP_UP)
    core = CoreSettings(queues=base.queues, agents=base.agents, max_wrap_up_extension=30.0)
    h = Harness(core)
    h.arrive("r1")
    leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    h.answer(leg)
    h.at(20).leg_hung_up(leg)
    return h, core


def test_an_extension_is_recorded_with_its_new_end_and_one_past_the_cap_records_nothing() -> None:
    h, _ = in_wrap_up()
    end = h.now + WRAP_UP
    [line] = [a for a in Harness.of(h.send(ev.WrapUpExtended(h.now, "a1", 20)), c.Activity)]
    assert (line.kind, line.agent_id, line.data) == ("wrap_up_extended", "a1", {"seconds": 20, "until": end + 20})
    [line] = [a for a in Harness.of(h.send(ev.WrapUpExtended(h.now, "a1", 20)), c.Activity)]
    assert line.data == {"seconds": 10, "until": end + 30}  # only 10 more allowed
    assert Harness.of(h.send(ev.WrapUpExtended(h.now, "a1", 20)), c.Activity) == []  # nothing changed


def test_a_restored_wrap_up_ends_when_stored_and_keeps_the_extension_taken() -> None:
    h, core = in_wrap_up()
    h.send(ev.WrapUpExtended(h.now, "a1", 20))
    a1 = h.engine.agents["a1"]
    since, end = a1.state_since, a1.wrap_up_until
    assert end == since + WRAP_UP + 20
    r = Harness(core, start=h.now + 15)  # past the configured end, inside the extended one
    r.engine.restore([], [("a1", AgentState.WRAP_UP, None)], r.now)
    r.engine.restore_wrap_ups([("a1", since)], r.now, {"a1": end})
    assert r.engine.take_restored() == []
    assert (r.engine.agents["a1"].state, r.engine.agents["a1"].wrap_up_until) == (AgentState.WRAP_UP, end)
    r.send(ev.WrapUpExtended(r.now, "a1", 20))  # 10 of the 30 s are left
    assert r.engine.agents["a1"].wrap_up_until == end + 10
    r.run_until(end + 10)
    assert r.engine.agents["a1"].state is AgentState.READY
