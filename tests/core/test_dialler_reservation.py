"""A call_back kept for its agent: that agent gets it first; if they are away it waits `reserve_for`,
then any agent of the campaign may take it (a promised call is never stranded); the reservation is
kept in the store while the contact is claimed, so a restart does not lose it."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
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
