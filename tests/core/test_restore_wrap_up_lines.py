"""A wrap-up the restore ends records the `agent_state` line its live end records.

Restored from a stored wrap-up that ran out while the service was down (or ended by the pause or
log-out asked for during it), an agent changed state with no line: the store (which keeps agents
by those lines) still had them in wrap-up and the statistics counted them in it until their next
change. The restore now records the line (`take_restored`, stored by the shell before the first
event): the same line the live engine writes when the wrap-up timer fires, dated at the wrap-up's
end when that was while the service was down, else at the restart, where the move is made.
"""

from __future__ import annotations

import copy

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CoreSettings
from app.core.states import AgentState
from tests.core.harness import Harness, settings

WRAP_UP = 30.0


def in_wrap_up(move: ev.Event | None = None) -> tuple[Harness, CoreSettings]:
    """a1's call ends: a1 wraps up for 30 s (asking for `move` during it)."""
    core = settings(agents=1, wrap_up=WRAP_UP)
    h = Harness(core)
    h.arrive("r1")
    leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    h.answer(leg)
    h.at(20).leg_hung_up(leg)
    if move is not None:
        h.at(1).send(move)
    return h, core


def restarted(h: Harness, core: CoreSettings, after: float) -> Harness:
    """A fresh engine `after` s later, restored from what the shell stores of the agent, in the
    order app/telephony/service.py start() restores it."""
    a1 = h.engine.agents["a1"]
    fresh = Harness(core, start=h.now + after)
    requests = [copy.deepcopy(r) for r in h.engine.requests.values()]
    fresh.engine.restore(requests, [("a1", a1.state, a1.pause_reason)], fresh.now)
    if a1.after_call is not None:
        fresh.engine.restore_after_call([("a1", a1.after_call, a1.after_call_reason)], fresh.now)
    fresh.engine.restore_wrap_ups([("a1", a1.state_since)], fresh.now)
    return fresh


def state_lines(out: list[c.Command]) -> list[c.Activity]:
    return [a for a in Harness.of(out, c.Activity) if a.kind == "agent_state"]


def live_end(h: Harness) -> c.Activity:
    """The line the running engine writes when a1's wrap-up ends."""
    return state_lines(h.run_until(h.engine.agents["a1"].state_since + WRAP_UP + 1))[0]


def test_a_wrap_up_over_while_down_records_the_line_its_live_end_would_have() -> None:
    h, core = in_wrap_up()
    r = restarted(h, core, after=60.0)
    restored = r.engine.take_restored()
    assert r.engine.agents["a1"].state is AgentState.READY
    assert state_lines(restored) == [live_end(h)]  # the same line, at the same time (the wrap-up's end)
    assert r.engine.agents["a1"].state_since == restored[0].at  # what the store keeps as "since"
    assert r.engine.take_restored() == []  # taken once


def test_a_pause_asked_in_a_wrap_up_over_while_down_records_the_line_its_live_end_would_have() -> None:
    h, core = in_wrap_up(ev.AgentPaused(1_000_021.0, "a1", "lunch"))
    r = restarted(h, core, after=60.0)
    a1 = r.engine.agents["a1"]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, "lunch")
    assert state_lines(r.engine.take_restored()) == [live_end(h)]


def test_a_log_out_made_at_the_restart_in_a_running_wrap_up_is_recorded_at_the_restart() -> None:
    h, core = in_wrap_up(ev.AgentLoggedOut(1_000_021.0, "a1"))
    r = restarted(h, core, after=4.0)  # 5 s into the 30 s wrap-up: restore_after_call makes the move now
    assert r.engine.agents["a1"].state is AgentState.LOGGED_OFF
    [line] = state_lines(r.engine.take_restored())
    assert (line.agent_id, line.at, line.data) == ("a1", r.now, {"state": "logged_off", "previous": "wrap_up"})


def test_a_wrap_up_still_running_records_nothing_until_it_ends() -> None:
    h, core = in_wrap_up()
    r = restarted(h, core, after=4.0)
    assert r.engine.agents["a1"].state is AgentState.WRAP_UP
    assert r.engine.take_restored() == []  # the store has it in wrap-up already
    assert state_lines(r.run_until(r.now + WRAP_UP)) == [live_end(h)]  # its timer writes the line
