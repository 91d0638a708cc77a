"""An agent who picks up in the instant their ring times out (or while Asterisk is stalled, its
answer reaching us after it resumes) heard the call drop, but did answer: not counted a refusal."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.agents import NOT_RESPONDING
from app.core.calls import RING_OUT_MEMORY
from app.core.states import AgentState, AttemptOutcome, RequestState
from tests.core.harness import Harness, settings


def rung_out(h: Harness, rid: str) -> c.OriginateAgent:
    """`rid`'s ring to a1 runs past the ring timeout; returns that ring."""
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == rid][-1]
    out = h.run_until(h.now + 16)  # ring_timeout 15
    assert ring.leg_id in [x.leg_id for x in h.of(out, c.Hangup)]
    return ring


def test_an_answer_after_the_ring_timeout_takes_the_not_responding_pause_back_and_rings_again() -> None:
    h = Harness(settings(ring_timeout=15.0, max_agent_refusals=1))
    h.ready("a1")
    h.arrive("r1")
    ring = rung_out(h, "r1")
    a1 = h.engine.agents["a1"]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, NOT_RESPONDING)
    assert h.engine.requests["r1"].state is RequestState.WAITING  # back in its place

    out = h.at(0.2).answer(ring.leg_id)  # Asterisk had answered it before our hang-up
    assert a1.refusals == 0
    late = h.activities("agent_answered_late")
    assert [(x.agent_id, x.data["leg"]) for x in late] == [("a1", ring.leg_id)]
    assert h.activities("agent_state")[-1].data == {"state": "ready", "previous": "paused"}
    again = h.one(out, c.OriginateAgent)  # ready, so the caller is put through to them again
    assert (again.request_id, again.agent_id) == ("r1", "a1") and again.leg_id != ring.leg_id
    assert a1.state is AgentState.RINGING


def test_below_the_limit_the_late_answer_no_longer_counts_towards_it() -> None:
    h = Harness(settings(agents=2, ring_timeout=15.0, max_agent_refusals=2))
    h.ready("a1")
    h.arrive("r1")
    ring = rung_out(h, "r1")
    a1 = h.engine.agents["a1"]
    assert a1.refusals == 1
    h.answer(ring.leg_id)
    assert a1.refusals == 0


def test_an_agent_who_moved_since_the_pause_is_left_as_they_are() -> None:
    h = Harness(settings(ring_timeout=15.0))
    h.ready("a1")
    h.arrive("r1")
    ring = rung_out(h, "r1")
    h.send(ev.AgentPaused(h.now, "a1", "lunch"))  # their own choice since: kept
    h.answer(ring.leg_id)
    a1 = h.engine.agents["a1"]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, "lunch")


def test_an_answer_is_taken_back_once_only_and_only_for_a_ring_that_timed_out() -> None:
    h = Harness(settings(ring_timeout=15.0, max_agent_refusals=1))
    h.ready("a1")
    h.arrive("r1")
    ring = rung_out(h, "r1")
    h.answer(ring.leg_id)
    h.answer(ring.leg_id)  # the same answer reported twice (a resync): once
    assert len(h.activities("agent_answered_late")) == 1
    h.answer("no-such-leg")
    assert len(h.activities("agent_answered_late")) == 1


def test_a_ring_refused_by_the_phone_is_no_late_answer() -> None:
    h = Harness(settings(ring_timeout=15.0, max_agent_refusals=1))
    h.ready("a1")
    h.arrive("r1")
    ring = h.one(h.log, c.OriginateAgent)
    h.send(ev.LegFailed(h.now, ring.leg_id, AttemptOutcome.FAILED, 21))  # rejected: the agent's doing, no hang-up raced
    h.answer(ring.leg_id)
    assert h.engine.agents["a1"].state is AgentState.PAUSED
    assert not h.activities("agent_answered_late")


def test_ring_outs_are_remembered_for_a_bounded_time() -> None:
    h = Harness(settings(agents=1, ring_timeout=15.0, max_agent_refusals=10))
    h.ready("a1")
    h.arrive("r1")
    first = rung_out(h, "r1")
    h.at(RING_OUT_MEMORY)
    rung_out(h, "r1")  # rung again and timed out again, long after: the first is forgotten
    assert first.leg_id not in h.engine._rang_out
    assert len(h.engine._rang_out) == 1


# ---- RingUnconfirmed: Asterisk never answered the originate ringing the agent (frozen)


def test_a_ring_asterisk_never_confirmed_runs_out_without_counting_a_refusal() -> None:
    h = Harness(settings(agents=2, ring_timeout=15.0, max_agent_refusals=1))
    h.ready("a1")
    h.arrive("r1")
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == "r1"][-1]
    h.at(10).send(ev.RingUnconfirmed(h.now, ring.leg_id))  # the originate's answer never came
    out = h.run_until(h.now + 6)
    assert ring.leg_id in [x.leg_id for x in h.of(out, c.Hangup)]
    a1 = h.engine.agents["a1"]
    assert a1.refusals == 0 and a1.pause_reason is None
    [no_answer] = h.activities("agent_no_answer")
    assert no_answer.data.get("unconfirmed") is True
    assert not h.activities("agent_paused")
    again = h.one(out, c.OriginateAgent)  # free again: rung for the caller, who kept their place
    assert (again.request_id, again.agent_id) == ("r1", "a1") and again.leg_id != ring.leg_id


def test_a_ring_out_counted_before_asterisk_failed_to_confirm_it_is_taken_back() -> None:
    """A ring timeout shorter than the ARI timeout: the pause comes first, the verdict after."""
    h = Harness(settings(ring_timeout=6.0, max_agent_refusals=1))
    h.ready("a1")
    h.arrive("r1")
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == "r1"][-1]
    h.run_until(h.now + 7)
    a1 = h.engine.agents["a1"]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, NOT_RESPONDING)
    out = h.at(3).send(ev.RingUnconfirmed(h.now, ring.leg_id))
    assert a1.refusals == 0
    [taken_back] = h.activities("agent_ring_unconfirmed")
    assert (taken_back.agent_id, taken_back.data["leg"]) == ("a1", ring.leg_id)
    assert h.one(out, c.OriginateAgent).agent_id == "a1"  # ready again, rung for the caller


def test_an_unconfirmed_ring_of_a_request_served_since_changes_nothing() -> None:
    h = Harness(settings(ring_timeout=15.0))
    h.ready("a1")
    h.arrive("r1")
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == "r1"][-1]
    h.answer(ring.leg_id)  # Asterisk answered after all: the call is on
    assert h.send(ev.RingUnconfirmed(h.now, ring.leg_id)) == []
    assert h.send(ev.RingUnconfirmed(h.now, "no-such-leg")) == []
    assert h.engine.agents["a1"].state is AgentState.BUSY
