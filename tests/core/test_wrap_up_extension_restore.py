"""A wrap-up extension is recorded (so the shell stores the agent's new end) and restored.

The shell stores an agent by its `agent_state` / `agent_state_requested` / `wrap_up_extended`
lines (app/telephony/committer.py); an extension made none, so a restart resumed the configured
wrap-up. The service-level proof is tests/telephony/test_service_wrap_up_extension_restart.py.

The extension granted is restored as stored (`granted`): counted back from the end, an agent whose
call's queue has a shorter wrap-up than another of theirs seemed to have been granted less (or
nothing), and got more than the cap after a restart. Rows stored without it keep that rule.
"""

from __future__ import annotations

from dataclasses import replace

from app.core import commands as c
from app.core import events as ev
from app.core.settings import AgentSettings, CoreSettings
from app.core.states import AgentState
from tests.core.harness import Harness, settings

WRAP_UP = 10.0


def in_wrap_up(longer_queue: bool = False) -> tuple[Harness, CoreSettings]:
    """a1 in a support wrap-up (10 s); `longer_queue`: a1 serves sales too, whose wrap-up is 100 s."""
    base = settings(agents=1, wrap_up=WRAP_UP)
    queues, agents = base.queues, base.agents
    if longer_queue:
        queues = (*queues, replace(queues[0], name="sales", wrap_up=10 * WRAP_UP))
        agents = (AgentSettings(id="a1", skills=(("support", 0), ("sales", 0))),)
    core = CoreSettings(queues=queues, agents=agents, max_wrap_up_extension=30.0)
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
    expected = {"seconds": 20, "until": end + 20, "extended": 20, "left": 10}
    assert (line.kind, line.agent_id, line.data) == ("wrap_up_extended", "a1", expected)
    [line] = [a for a in Harness.of(h.send(ev.WrapUpExtended(h.now, "a1", 20)), c.Activity)]
    assert line.data == {"seconds": 10, "until": end + 30, "extended": 30, "left": 0}  # only 10 more allowed
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


def restarted_after_an_extension(granted: bool) -> Harness:
    """a1 extended a support wrap-up by 20 s and the engine restarted 15 s in, restored from what a
    row holds: with the extension granted (`granted`), or without it (a row stored before it was)."""
    h, core = in_wrap_up(longer_queue=True)
    h.send(ev.WrapUpExtended(h.now, "a1", 20))
    a1 = h.engine.agents["a1"]
    since, end = a1.state_since, a1.wrap_up_until
    assert end == since + WRAP_UP + 20
    r = Harness(core, start=h.now + 15)
    r.engine.restore([], [("a1", AgentState.WRAP_UP, None)], r.now)
    r.engine.restore_wrap_ups([("a1", since)], r.now, {"a1": end}, {"a1": 20.0} if granted else None)
    assert (r.engine.agents["a1"].state, r.engine.agents["a1"].wrap_up_until) == (AgentState.WRAP_UP, end)
    return r


def test_the_extension_granted_is_restored_as_stored_not_counted_from_the_longest_wrap_up() -> None:
    r = restarted_after_an_extension(granted=True)
    end = r.engine.agents["a1"].wrap_up_until
    assert end is not None
    [line] = [a for a in Harness.of(r.send(ev.WrapUpExtended(r.now, "a1", 20)), c.Activity)]
    assert (line.data["seconds"], line.data["left"]) == (10, 0)  # 10 of the 30 s cap are left, as before
    assert r.engine.agents["a1"].wrap_up_until == end + 10


def test_a_row_without_the_extension_granted_counts_it_from_the_longest_wrap_up_as_before() -> None:
    r = restarted_after_an_extension(granted=False)
    end = r.engine.agents["a1"].wrap_up_until
    assert end is not None
    # end - since - 100 s (sales) is below zero: counted as nothing granted
    assert r.engine.agents["a1"].wrap_up_extended == 0.0
    r.send(ev.WrapUpExtended(r.now, "a1", 20))
    assert r.engine.agents["a1"].wrap_up_until == end + 20
