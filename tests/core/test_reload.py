"""Reload (SettingsChanged): applied to everything going on without dropping anyone, or refused.

Applied: places, attempts and agents' states stay; new queues and agents appear; changed settings
take effect from then on (max_attempts, ring_timeout, hours). Refused with a CoreError naming the
problem, state untouched, when a queue that still has requests or an agent who is not logged off
would be removed.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.errors import CoreError, UnknownAgent, UnknownQueue
from app.core.settings import AgentSettings, CoreSettings, OpeningHours, QueueSettings, TimeRange
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestState
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, callback_settings, settings
from tests.core.test_properties import START, snapshot

DAY = OpeningHours(timezone="UTC", weekly=tuple((TimeRange(8 * 3600, 17 * 3600),) for _ in range(7)))


def two_queues(**queue_fields: object) -> CoreSettings:
    cb = callback_settings(max_attempts=2, sec_between_retries=300.0, allow_other_number=False)
    queues = tuple(QueueSettings(name=n, callback=cb, wrap_up=0.0, **queue_fields) for n in ("support", "sales"))
    agents = (
        AgentSettings(id="a1", skills=(("support", 0), ("sales", 1))),
        AgentSettings(id="a2", skills=(("sales", 0),)),
    )
    return CoreSettings(queues=queues, agents=agents)


def reload(h: Harness, core: CoreSettings) -> list[c.Command]:
    return h.send(ev.SettingsChanged(h.now, core))


def with_queue(core: CoreSettings, name: str, **fields: object) -> CoreSettings:
    q = replace(core.queues[0], name=name, **fields)
    return replace(core, queues=(*core.queues, q))


def without_queue(core: CoreSettings, name: str) -> CoreSettings:
    return replace(core, queues=tuple(q for q in core.queues if q.name != name))


def change_queue(core: CoreSettings, name: str, **fields: object) -> CoreSettings:
    return replace(core, queues=tuple(replace(q, **fields) if q.name == name else q for q in core.queues))


def change_callback(core: CoreSettings, name: str, **fields: object) -> CoreSettings:
    q = core.queue(name)
    return change_queue(core, name, callback=replace(q.callback, **fields))


def busy_scene(core: CoreSettings) -> Harness:
    """Callers waiting with priorities, a callback, a caller talking to a1."""
    h = Harness(core)
    h.ready("a1")
    h.arrive("r1")
    h.answer(h.engine.requests["r1"].agent_leg or "")
    h.at(1).arrive("r2")
    h.at(1).arrive("r3", DK_MOBILE_2, priority=1)
    h.at(1).send(ev.CallbackRequested(h.now, "r4", "support", DK_MOBILE))
    h.ready("a2")
    h.send(ev.AgentPaused(h.now, "a2", "lunch"))
    return h


def state_of(h: Harness) -> tuple[object, ...]:
    e = h.engine
    return (
        repr(e.requests),
        {rid: e.position(rid) for rid in e.requests},
        {a.id: (a.state, a.pause_reason, a.request_id) for a in e.agents.values()},
    )


# ------------------------------------------------------------------------- applied


def test_unchanged_settings_change_nothing_that_is_going_on() -> None:
    core = two_queues()
    h = busy_scene(core)
    before = state_of(h)
    out = reload(h, core)
    assert state_of(h) == before
    assert [x.kind for x in h.of(out, c.Activity)] == ["settings_changed"]
    assert not h.of(out, c.OriginateAgent)


def test_a_new_queue_appears_and_everyone_keeps_their_place() -> None:
    core = settings(agents=1, callback=callback_settings(allow_other_number=False))
    h = Harness(core)
    h.arrive("r1")
    h.at(1).arrive("r2", priority=1)
    h.send(ev.CallbackRequested(h.now, "r3", "support", DK_MOBILE_2))
    before = state_of(h)
    with pytest.raises(UnknownQueue):
        h.arrive("s1", queue="sales")
    new = with_queue(core, "sales")
    new = replace(new, agents=(*core.agents, AgentSettings(id="a2", skills=(("sales", 0),))))
    out = reload(h, new)
    assert state_of(h)[:2] == before[:2]
    assert h.one(out, c.Activity).data == {"queues": ["sales", "support"], "agents": ["a1", "a2"]}
    h.at(1).arrive("s1", queue="sales")
    assert h.engine.position("s1") == 1 and h.engine.callers_waiting("sales") == 1
    assert h.engine.position("r2") == 1  # support unchanged
    ring = h.one(h.ready("a2"), c.OriginateAgent)  # the new agent takes the new queue
    assert (ring.agent_id, ring.request_id) == ("a2", "s1")
    assert h.one(h.ready("a1"), c.OriginateAgent).request_id == "r2"


def test_an_empty_queue_is_removed() -> None:
    core = two_queues()
    h = Harness(core)
    h.arrive("r1")
    reload(h, without_queue(core, "sales"))
    assert set(h.engine.queues) == {"support"} and set(h.engine.orders) == {"support"}
    with pytest.raises(UnknownQueue):
        h.arrive("s1", queue="sales")
    assert h.engine.position("r1") == 1
    h.ready("a1")
    assert h.engine.requests["r1"].state is RequestState.RINGING_AGENT


def test_a_removed_queue_with_opening_hours_leaves_no_timer_behind() -> None:
    core = with_queue(settings(agents=1), "sales", hours=DAY)
    h = Harness(core, start=START)  # 16:50 UTC: sales closes at 17:00
    h.arrive("r1")
    reload(h, without_queue(core, "sales"))
    h.run_until(START + 24 * 3600)  # past sales' closing and opening times
    assert h.engine.position("r1") == 1


def test_removing_a_queue_that_still_has_requests_is_refused_and_changes_nothing() -> None:
    core = two_queues()
    h = busy_scene(core)
    h.arrive("s1", queue="sales")
    h.send(ev.CallbackRequested(h.now, "s2", "sales", DK_MOBILE_2))
    before = snapshot(h.engine)
    with pytest.raises(CoreError) as refused:
        reload(h, without_queue(core, "sales"))
    message = str(refused.value)
    assert "'sales'" in message and "s1" in message and "s2" in message
    assert "move or end" in message
    assert snapshot(h.engine) == before
    h.send(ev.CallbackRemoved(h.now, "s2", by="admin"))  # once it is empty, it may go
    h.hang_up("s1")
    reload(h, without_queue(core, "sales"))
    assert "sales" not in h.engine.queues


def test_removing_an_agent_who_is_not_logged_off_is_refused_and_changes_nothing() -> None:
    core = two_queues()
    h = busy_scene(core)  # a1 talks to r1; a2 is paused
    before = snapshot(h.engine)
    for gone in ("a1", "a2"):
        with pytest.raises(CoreError, match=f"agent '{gone}' is .*log them out"):
            reload(h, replace(core, agents=tuple(a for a in core.agents if a.id != gone)))
        assert snapshot(h.engine) == before


def test_an_agent_is_added_and_a_logged_off_one_removed() -> None:
    core = two_queues()
    h = Harness(core)
    h.arrive("r1")
    new = replace(core, agents=(core.agents[0], AgentSettings(id="a3", skills=(("support", 0),))))
    reload(h, new)  # a2 was never logged in
    assert set(h.engine.agents) == {"a1", "a3"}
    with pytest.raises(UnknownAgent):
        h.ready("a2")
    ring = h.one(h.ready("a3"), c.OriginateAgent)
    assert (ring.agent_id, ring.request_id) == ("a3", "r1")
    h.answer(ring.leg_id)
    with pytest.raises(CoreError, match="a3"):
        reload(h, core)
    h.leg_hung_up(ring.leg_id)
    h.send(ev.AgentLoggedOut(h.now, "a3"))
    reload(h, core)
    assert set(h.engine.agents) == {"a1", "a2"}
    assert h.engine.agents["a2"].state is AgentState.LOGGED_OFF


def test_an_agents_changed_skills_take_effect() -> None:
    core = two_queues()
    h = Harness(core)
    h.arrive("r1")  # support
    new = replace(core, agents=(AgentSettings(id="a1", skills=(("sales", 0),)), core.agents[1]))
    reload(h, new)
    assert not h.of(h.ready("a1"), c.OriginateAgent)
    reload(h, core)
    assert h.engine.requests["r1"].state is RequestState.RINGING_AGENT


# ------------------------------------------------------------------------- changed settings take effect


def failed_once(core: CoreSettings) -> tuple[Harness, float]:
    h = Harness(core)
    h.send(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE))
    h.ready("a1")
    h.serve_callback("r1", AttemptOutcome.NO_ANSWER)
    req = h.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE and req.counted_attempts == 1
    return h, req.not_before


def test_a_raised_max_attempts_gives_a_callback_in_quarantine_more_attempts() -> None:
    core = two_queues()  # max_attempts 2
    h, not_before = failed_once(core)
    reload(h, change_callback(core, "support", max_attempts=3))
    assert h.engine.requests["r1"].attempts[0].outcome is AttemptOutcome.NO_ANSWER  # attempts stay
    h.run_until(not_before)
    h.serve_callback("r1", AttemptOutcome.BUSY)
    req = h.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE and req.counted_attempts == 2  # would have been missed
    h.run_until(req.not_before)
    _, customer_leg = h.serve_callback("r1")
    assert h.of(h.log, c.OriginateCustomer)[-1].attempt == 3
    h.fail(customer_leg)
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.MISSED.value


def test_a_lowered_max_attempts_ends_a_callback_that_has_used_them_up() -> None:
    core = change_callback(two_queues(), "support", max_attempts=3)
    h, _ = failed_once(core)
    h.send(ev.AgentPaused(h.now, "a1"))
    h.send(ev.CallbackRequested(h.now, "r2", "support", DK_MOBILE_2))  # no attempt yet: stays
    out = reload(h, change_callback(core, "support", max_attempts=1))
    assert h.one(out, c.Notify) == c.Notify("missed_callback", "r1", "support", DK_MOBILE)
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.MISSED.value
    assert h.engine.position("r2") == 1
    assert len(h.of(h.log, c.OriginateCustomer)) == 1  # never dialled beyond the new maximum


def test_a_changed_ring_timeout_applies_to_the_next_ring() -> None:
    core = two_queues(ring_timeout=15.0)
    h = Harness(core)
    h.arrive("r1")
    h.arrive("r2")
    first = h.one(h.ready("a1"), c.OriginateAgent)
    assert first.timeout == 15.0
    reload(h, change_queue(core, "support", ring_timeout=40.0))
    assert h.engine._timers.get("ring", "r1") == h.now + 15.0  # a ring in progress keeps its deadline
    h.answer(first.leg_id)
    h.at(5).leg_hung_up(first.leg_id)
    second = h.of(h.log, c.OriginateAgent)[-1]
    assert (second.request_id, second.timeout) == ("r2", 40.0)
    assert h.engine._timers.get("ring", "r2") == h.now + 40.0


def test_hours_changed_to_closed_now_schedule_the_close_sweep_from_now() -> None:
    core = settings(agents=1, callback=callback_settings(allow_other_number=False), max_wait_after_close=600.0)
    evening = START + 3600.0  # 17:50 UTC; under the new hours the queue closed at 17:00
    h = Harness(core, start=evening)
    h.arrive("r1")
    h.send(ev.CallbackRequested(h.now, "r2", "support", DK_MOBILE_2))
    out = reload(h, change_queue(core, "support", hours=DAY))
    assert not h.engine.is_open("support")
    assert not any(a.kind == "ended" for a in h.of(out, c.Activity))
    h.tick(1)  # holding callers get the full max_wait_after_close from the moment it closed
    assert h.engine.position("r1") == 1
    h.ready("a1")
    assert h.engine.requests["r2"].state is RequestState.WAITING  # callbacks wait for opening
    assert h.engine.requests["r1"].state is RequestState.RINGING_AGENT  # callers on the line are still served
    h.send(ev.AgentLoggedOut(h.now, "a1"))  # r1 goes back to its place, still holding
    h.run_until(evening + 599.0)
    assert h.engine.position("r1") == 1
    h.run_until(evening + 600.0)
    assert {a.request_id for a in h.activities("ended")} == {"r1"}
    assert all(a.data["outcome"] == Outcome.CLOSED.value for a in h.activities("ended"))
    assert "r2" in h.engine.requests
    h.ready("a1")
    h.run_until(START + 15 * 3600 + 600.0)  # 08:00 next morning: the callback is rung
    assert h.engine.requests["r2"].state is RequestState.RINGING_AGENT


def test_hours_changed_to_open_now_let_callbacks_go() -> None:
    core = settings(agents=1, callback=callback_settings(allow_other_number=False), hours=DAY)
    h = Harness(core, start=START + 3600.0)  # closed
    h.send(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE))
    h.ready("a1")
    assert h.engine.requests["r1"].state is RequestState.WAITING
    reload(h, change_queue(core, "support", hours=None))
    assert h.engine.is_open("support")
    assert h.engine.requests["r1"].state is RequestState.RINGING_AGENT
