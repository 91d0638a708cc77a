"""A call_back kept for its agent: that agent gets it first; if they are away it waits `reserve_for`,
then any agent of the campaign may take it (a promised call is never stranded); the reservation is
kept in the store while the contact is claimed, so a restart does not lose it."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.states import AgentState
from tests.core.dialler_harness import CLAIMED, DiallerHarness, campaign, contact, dialler_settings

HOLD = 600.0


def harness() -> DiallerHarness:
    core = dialler_settings(campaign(reserve_for=HOLD), agents=2)
    return DiallerHarness(core, [contact(1, reserved_agent="a1", attempts=1)])


def rung(h: DiallerHarness, out: list[c.Command]) -> list[str]:
    return [x.agent_id for x in h.of(out, c.OriginateAgent)]


def test_another_agent_waits_while_the_reservation_holds_then_takes_the_call_back() -> None:
    h = harness()
    assert rung(h, h.ready("a2")) == []  # a1 is logged off: the contact waits for them
    assert rung(h, h.run_until(h.now + HOLD - 1)) == []
    assert not h.activities("reservation_lapsed")
    out = h.run_until(h.now + 2)  # was: waited for a1 for ever, holding a place in the window
    assert rung(h, out) == ["a2"]
    lapsed = h.activities("reservation_lapsed")
    assert [(a.data["contact"], a.data["reserved_for"]) for a in lapsed] == [(1, "a1")]


def test_the_reserved_agent_back_within_the_hold_gets_it() -> None:
    h = harness()
    h.ready("a2")
    assert rung(h, h.at(HOLD / 2).ready("a1")) == ["a1"]
    assert not h.activities("reservation_lapsed")


def test_a_claimed_reserved_contact_keeps_its_reservation_in_the_store() -> None:
    h = harness()
    h.send(ev.Tick(h.now))
    p = h.progress(1)
    assert p is not None and p.state == CLAIMED
    assert p.reserved_agent == "a1"  # was: None, so a restart handed the call back to anyone


# ------------------------------------------------------------------ a pending disposition


def talk_and_hang_up(h: DiallerHarness, agent: str = "a1") -> None:
    """A preview call for `agent`: rung, answered, contact dialled and answered, then ended."""
    ring = [x for x in h.of(h.log, c.OriginateAgent) if x.agent_id == agent][-1]
    h.answer(ring.leg_id)
    dial = h.dials()[-1]
    h.answer(dial.leg_id)
    h.at(30).leg_hung_up(dial.leg_id)


def test_an_answered_contact_names_its_agent_until_the_disposition() -> None:
    h = DiallerHarness(dialler_settings(campaign(), wrap_up=60.0), [contact(1)])
    h.ready("a1")
    talk_and_hang_up(h)
    p = h.progress(1)
    assert p is not None and (p.state, p.last_outcome, p.reserved_agent) == ("done", "answered", "a1")
    h.send(ev.ContactDisposed(h.now, "a1", "sale"))
    p = h.progress(1)
    assert p is not None and (p.last_outcome, p.reserved_agent) == ("sale", None)


def test_a_disposition_pending_at_a_restart_is_still_taken() -> None:
    """Was: refused after the restart ("no dialler call waiting for a disposition"): a call_back
    the customer asked for could not be booked."""
    core = dialler_settings(campaign(), wrap_up=60.0)
    h = DiallerHarness(core, [contact(1)])
    h.ready("a1")
    talk_and_hang_up(h)
    p = h.progress(1)
    assert p is not None
    fresh = DiallerHarness(core, [], start=h.now + 5)
    fresh.engine.restore([], [("a1", AgentState.WRAP_UP, None)], fresh.now)
    fresh.engine.restore_dispositions({"spring": [(1, p.attempts, p.reserved_agent or "")]})
    later = fresh.now + 3600
    fresh.send(ev.ContactDisposed(fresh.now, "a1", "call_back", call_back_at=later, reserve=True))
    q = fresh.progress(1)
    assert q is not None and (q.state, q.next_due, q.reserved_agent, q.attempts) == ("scheduled", later, "a1", 1)


def test_a_disposition_never_given_is_given_up_at_the_agents_next_call() -> None:
    h = DiallerHarness(dialler_settings(campaign(), wrap_up=0.0), [contact(1), contact(2)])
    h.ready("a1")
    talk_and_hang_up(h)  # no disposition; no wrap-up: a1 is rung for the next contact at once
    talk_and_hang_up(h)
    first, second = h.progress(1), h.progress(2)
    assert first is not None and second is not None
    assert (first.last_outcome, first.reserved_agent) == ("answered", None)  # no longer pending
    assert second.reserved_agent == "a1"
