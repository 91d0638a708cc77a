"""Agents and routing: states, skills with penalty, wrap-up, longest idle, ring timeout, reachability."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.errors import CoreError, IllegalAgentTransition, UnknownAgent
from app.core.settings import AgentSettings, CoreSettings, QueueSettings
from app.core.states import AgentState, AttemptOutcome, RequestState
from tests.core.harness import Harness, callback_settings, settings


def two_agent_settings(p1: int = 0, p2: int = 0, **queue_fields: object) -> CoreSettings:
    q = QueueSettings(name="support", **queue_fields)  # type: ignore[arg-type]
    return CoreSettings(
        queues=(q,),
        agents=(AgentSettings(id="a1", skills=(("support", p1),)), AgentSettings(id="a2", skills=(("support", p2),))),
    )


def connect_first(h: Harness, rid: str) -> str:
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == rid][-1]
    h.answer(ring.leg_id)
    return ring.leg_id


def test_agents_start_logged_off_and_log_in_ready() -> None:
    h = Harness(settings())
    assert h.engine.agents["a1"].state is AgentState.LOGGED_OFF
    h.send(ev.AgentLoggedIn(h.now, "a1"))
    assert h.engine.agents["a1"].state is AgentState.READY


def test_agent_walks_ringing_busy_wrap_up_ready() -> None:
    h = Harness(settings(wrap_up=10.0))
    h.ready("a1")
    h.arrive("r1")
    agent = h.engine.agents["a1"]
    assert agent.state is AgentState.RINGING and agent.request_id == "r1"
    leg = connect_first(h, "r1")
    assert agent.state is AgentState.BUSY
    assert Harness.one(h.log, c.BridgeLegs).agent_leg == leg
    h.at(60).leg_hung_up(leg)
    assert agent.state is AgentState.WRAP_UP and agent.request_id is None
    h.run_until(h.now + 9.9)
    assert agent.state is AgentState.WRAP_UP
    h.run_until(h.now + 0.1)
    assert agent.state is AgentState.READY


def test_paused_agent_has_a_reason_and_gets_no_calls() -> None:
    h = Harness(settings())
    h.ready("a1")
    h.send(ev.AgentPaused(h.now, "a1", "lunch"))
    assert h.engine.agents["a1"].pause_reason == "lunch"
    out = h.arrive("r1")
    assert not Harness.of(out, c.OriginateAgent)


@pytest.mark.parametrize("penalties", [(0, 1), (1, 0)])
def test_lower_penalty_agent_is_picked_first(penalties: tuple[int, int]) -> None:
    h = Harness(two_agent_settings(*penalties))
    h.ready("a1")
    h.at(10).ready("a2")
    ring = Harness.one(h.arrive("r1"), c.OriginateAgent)
    assert ring.agent_id == ("a1" if penalties[0] < penalties[1] else "a2")


def test_longest_idle_agent_is_picked_among_equal_penalty() -> None:
    h = Harness(two_agent_settings())
    h.ready("a2")
    h.at(10).ready("a1")
    assert Harness.one(h.arrive("r1"), c.OriginateAgent).agent_id == "a2"


def test_agent_without_the_skill_is_never_rung() -> None:
    core = CoreSettings(
        queues=(QueueSettings(name="support"), QueueSettings(name="sales")),
        agents=(AgentSettings(id="a1", skills=(("sales", 0),)),),
    )
    h = Harness(core)
    h.ready("a1")
    assert not Harness.of(h.arrive("r1", queue="support"), c.OriginateAgent)
    assert Harness.one(h.arrive("r2", queue="sales"), c.OriginateAgent).agent_id == "a1"


def test_wrap_up_can_be_extended_but_is_capped() -> None:
    core = settings(wrap_up=10.0)
    core = CoreSettings(queues=core.queues, agents=core.agents, max_wrap_up_extension=30.0)
    h = Harness(core)
    h.ready("a1")
    h.arrive("r1")
    leg = connect_first(h, "r1")
    h.leg_hung_up(leg)
    end = h.now + 10
    h.send(ev.WrapUpExtended(h.now, "a1", 20))
    h.send(ev.WrapUpExtended(h.now, "a1", 20))  # only 10 more allowed
    assert h.engine.agents["a1"].wrap_up_until == end + 30
    h.run_until(end + 29.9)
    assert h.engine.agents["a1"].state is AgentState.WRAP_UP
    h.run_until(end + 30)
    assert h.engine.agents["a1"].state is AgentState.READY


def test_wrap_up_extension_outside_wrap_up_is_refused() -> None:
    h = Harness(settings())
    h.ready("a1")
    with pytest.raises(IllegalAgentTransition):
        h.send(ev.WrapUpExtended(h.now, "a1", 10))


@pytest.mark.parametrize(
    ("event", "final"),
    [
        (lambda now: ev.AgentPaused(now, "a1", "meeting"), AgentState.PAUSED),
        (lambda now: ev.AgentLoggedOut(now, "a1"), AgentState.LOGGED_OFF),
    ],
)
def test_pause_or_logout_during_a_call_takes_effect_after_it(event, final) -> None:  # type: ignore[no-untyped-def]
    h = Harness(settings(wrap_up=10.0))
    h.ready("a1")
    h.arrive("r1")
    leg = connect_first(h, "r1")
    h.send(event(h.now))
    assert h.engine.agents["a1"].state is AgentState.BUSY
    h.arrive("r2")
    h.leg_hung_up(leg)
    assert h.engine.agents["a1"].state is AgentState.WRAP_UP
    h.run_until(h.now + 10)
    assert h.engine.agents["a1"].state is final
    assert not [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == "r2"]
    if final is AgentState.PAUSED:
        assert h.engine.agents["a1"].pause_reason == "meeting"


def test_ring_timeout_pauses_agent_not_responding_and_request_keeps_place() -> None:
    h = Harness(settings(ring_timeout=15.0))
    h.ready("a1")
    ring = Harness.one(h.arrive("r1"), c.OriginateAgent)
    h.at(1).arrive("r2")
    place = h.engine.requests["r1"].place
    out = h.run_until(h.now + 14)
    assert Harness.one(out, c.Hangup).leg_id == ring.leg_id
    assert h.engine.agents["a1"].state is AgentState.PAUSED
    assert h.engine.agents["a1"].pause_reason == "not_responding"
    assert h.engine.requests["r1"].place == place
    assert [r.id for r in h.engine.waiting("support")] == ["r1", "r2"]
    assert h.activities("agent_no_answer", "r1")


def test_an_agent_rung_for_a_caller_who_hangs_up_keeps_their_turn() -> None:
    """Rung for nobody (the caller gave up while the phone rang), a1 served no one: the next caller
    is still theirs, as the one idle longest, not a2's."""
    h = Harness(two_agent_settings())
    h.ready("a1")
    h.at(10).ready("a2")
    ring = Harness.one(h.at(10).arrive("r1"), c.OriginateAgent)
    assert ring.agent_id == "a1"
    h.at(3).send(ev.CallerHungUp(h.now, "r1"))
    assert h.engine.agents["a1"].state is AgentState.READY
    nxt = Harness.one(h.at(5).arrive("r2"), c.OriginateAgent)
    assert nxt.agent_id == "a1"
    out = h.send(ev.LegFailed(h.now, nxt.leg_id, AttemptOutcome.BUSY, 17))  # a1 rejects: that one is theirs
    assert Harness.one(out, c.OriginateAgent).agent_id == "a2"


def test_ring_timeout_next_ready_agent_is_tried() -> None:
    h = Harness(two_agent_settings(ring_timeout=15.0))
    h.ready("a1")
    h.arrive("r1")
    h.at(1).ready("a2")
    out = h.run_until(h.now + 15)
    ring = Harness.one(out, c.OriginateAgent)
    assert (ring.request_id, ring.agent_id) == ("r1", "a2")


def test_agent_rejecting_the_ring_counts_as_not_responding() -> None:
    h = Harness(settings())
    h.ready("a1")
    ring = Harness.one(h.arrive("r1"), c.OriginateAgent)
    h.send(ev.LegFailed(h.now, ring.leg_id, AttemptOutcome.BUSY, 17))
    assert h.engine.agents["a1"].pause_reason == "not_responding"
    assert h.engine.requests["r1"].state is RequestState.WAITING


def test_unreachable_agent_is_not_offered_calls() -> None:
    h = Harness(settings())
    h.ready("a1")
    h.send(ev.AgentReachability(h.now, "a1", False))
    assert not Harness.of(h.arrive("r1"), c.OriginateAgent)
    out = h.send(ev.AgentReachability(h.now, "a1", True))
    assert Harness.one(out, c.OriginateAgent).request_id == "r1"


@pytest.mark.parametrize(
    ("setup", "event", "error"),
    [
        ("ringing", lambda now: ev.AgentReady(now, "a1"), IllegalAgentTransition),
        ("busy", lambda now: ev.AgentReady(now, "a1"), IllegalAgentTransition),
        ("busy", lambda now: ev.AgentLoggedIn(now, "a1"), IllegalAgentTransition),
        ("logged_off", lambda now: ev.AgentPaused(now, "a1"), IllegalAgentTransition),
        ("ready", lambda now: ev.AgentReady(now, "nobody"), UnknownAgent),
        ("ready", lambda now: ev.AgentReachability(now, "nobody", True), UnknownAgent),
    ],
)
def test_illegal_agent_moves_raise_and_change_nothing(setup, event, error) -> None:  # type: ignore[no-untyped-def]
    h = Harness(settings())
    if setup != "logged_off":
        h.ready("a1")
    if setup in ("ringing", "busy"):
        h.arrive("r1")
    if setup == "busy":
        connect_first(h, "r1")
    before = repr(h.engine.agents), repr(h.engine.requests)
    with pytest.raises(error) as info:
        h.send(event(h.now + 1))
    assert isinstance(info.value, CoreError)
    assert (repr(h.engine.agents), repr(h.engine.requests)) == before


def test_agent_logout_while_ringing_hangs_up_and_request_keeps_place() -> None:
    h = Harness(settings(callback=callback_settings()))
    h.ready("a1")
    ring = Harness.one(h.arrive("r1"), c.OriginateAgent)
    place = h.engine.requests["r1"].place
    out = h.send(ev.AgentLoggedOut(h.now, "a1"))
    assert Harness.one(out, c.Hangup).leg_id == ring.leg_id
    assert h.engine.agents["a1"].state is AgentState.LOGGED_OFF and h.engine.agents["a1"].request_id is None
    assert h.engine.position("r1") == 1 and h.engine.requests["r1"].place == place


def test_pause_requested_during_a_call_is_logged_as_requested_not_as_paused() -> None:
    h = Harness(settings(wrap_up=10.0))
    h.ready("a1")
    h.arrive("r1")
    leg = connect_first(h, "r1")
    h.send(ev.AgentPaused(h.now, "a1", "meeting"))
    assert [a.data["state"] for a in h.activities("agent_state_requested")] == ["paused"]
    assert [a.data["state"] for a in h.activities("agent_state")] == ["ready"]
    h.leg_hung_up(leg)
    h.run_until(h.now + 10)
    assert [a.data for a in h.activities("agent_state")][-1] == {
        "state": "paused",
        "previous": "wrap_up",
        "reason": "meeting",
    }
