"""Notify commands (issue 17): each carries the step's time and the times a message names;
callback_requested (with the expected time), abandoned (with the wait), dialler abandoned_call."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.errors import CallbacksDisabled
from app.core.settings import CallbackMode, CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings
from tests.core.harness import DK_MOBILE, Harness, callback_settings, settings


def notifies(h: Harness | DiallerHarness, kind: str) -> list[c.Notify]:
    return [n for n in Harness.of(h.log, c.Notify) if n.kind == kind]


def test_a_caller_who_hangs_up_waiting_is_abandoned_with_the_wait() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(enabled=False)))
    start = h.now
    h.arrive("r1")
    h.at(75).hang_up("r1")
    [n] = notifies(h, "abandoned")
    assert (n.request_id, n.queue, n.number, n.at) == ("r1", "support", DK_MOBILE, start + 75)
    assert n.data == {"arrived_at": start, "waited": 75.0}


def test_a_callback_promise_notifies_callback_requested_with_the_expected_time() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(allow_other_number=False, callback_delay=600)))
    start = h.now
    h.arrive("r1")
    h.at(30).dtmf("r1", "1")
    [n] = notifies(h, "callback_requested")
    assert (n.request_id, n.number, n.at) == ("r1", DK_MOBILE, start + 30)
    assert n.data["callback_requested_at"] == start + 30 and n.data["waited"] == 30.0
    # no agent logged in: no estimate, so no expected time is promised
    assert "expected_at" not in n.data


def test_the_expected_time_is_not_before_the_callback_delay() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(allow_other_number=False, callback_delay=600)))
    h.ready("a1")
    h.arrive("r0")  # a1 is rung for r0; r1 waits behind
    h.arrive("r1")
    h.dtmf("r1", "1")
    [n] = notifies(h, "callback_requested")
    assert n.data["expected_at"] >= h.now + 600


def test_no_abandoned_notify_when_the_hang_up_becomes_a_callback() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(abandon_callback_after=10)))
    h.arrive("r1")
    h.at(20).hang_up("r1")
    assert not notifies(h, "abandoned")
    assert [n.kind for n in Harness.of(h.log, c.Notify)] == ["callback_requested"]


def test_a_power_call_answered_with_no_agent_notifies_abandoned_call() -> None:
    power = campaign(mode=CampaignMode.POWER, lines_per_agent=2.0)
    h = DiallerHarness(dialler_settings(power), [contact(i) for i in range(1, 6)])
    dials = h.dials(h.ready("a1"))
    ring = Harness.one(h.at(5).answer(dials[0].leg_id), c.OriginateAgent)
    h.at(0.3).answer(ring.leg_id)
    h.at(1).answer(dials[1].leg_id)  # no agent free within 2 s: abandoned
    h.run_until(h.now + 2.0)
    [n] = notifies(h, "abandoned_call")
    assert n.number == dials[1].number and n.data["campaign"] == "spring"
    assert n.at == pytest.approx(h.now)


def ticket_harness(**cb: object) -> Harness:
    cb_settings = callback_settings(allow_other_number=False, mode=CallbackMode.TICKET, **cb)
    return Harness(settings(agents=1, callback=cb_settings))


def test_ticket_mode_key_press_makes_a_ticket_confirms_and_places_no_call() -> None:
    h = ticket_harness()
    start = h.now
    h.arrive("r1")
    out = h.at(40).dtmf("r1", "1")
    [n] = notifies(h, "ticket")
    assert (n.request_id, n.number, n.at) == ("r1", DK_MOBILE, start + 40)
    assert n.data["trigger"] == "key" and n.data["waited"] == 40.0 and n.data["arrived_at"] == start
    play = Harness.of(out, c.PlayPrompt)[-1]  # (after the offer, which the 40 s wait brought)
    assert (play.leg_id, play.items[0].name, play.hangup_after) == ("r1", "callback_confirmed_no_place", True)
    [ticket] = h.activities("ticket_created", "r1")
    assert ticket.data == {"number": DK_MOBILE, "trigger": "key", "waited": 40.0}
    assert h.activities("ended", "r1")[0].data["outcome"] == "ticket"
    assert "r1" not in h.engine.requests
    h.ready("a1")
    h.run_until(h.now + 3600)
    assert not Harness.of(h.log, c.OriginateAgent) and not Harness.of(h.log, c.OriginateCustomer)
    assert not notifies(h, "callback_requested")


def test_ticket_mode_hang_up_after_abandon_callback_after_makes_a_ticket() -> None:
    h = ticket_harness(abandon_callback_after=30)
    h.arrive("r1")
    h.arrive("r2")
    h.at(10).hang_up("r1")  # too soon: abandoned, no ticket
    h.at(25).hang_up("r2")  # waited 35 s
    assert [n.request_id for n in notifies(h, "abandoned")] == ["r1"]
    [n] = notifies(h, "ticket")
    assert (n.request_id, n.data["trigger"], n.data["waited"]) == ("r2", "abandon", 35.0)
    confirmations = [p for p in Harness.of(h.log, c.PlayPrompt) if p.items[0].name.startswith("callback_confirmed")]
    assert not confirmations  # nobody left to hear one
    assert h.activities("ended", "r2")[0].data["outcome"] == "ticket"


def test_a_ticket_queue_refuses_a_queued_callback_from_the_api() -> None:
    h = ticket_harness()
    with pytest.raises(CallbacksDisabled, match=r"callback\.mode is ticket"):
        h.send(ev.CallbackRequested(h.now, "w1", "support", DK_MOBILE, 0))
    assert "w1" not in h.engine.requests


def test_a_caller_cut_off_with_their_asterisk_is_dropped_and_told() -> None:
    """Issue 18: a media server lost costs its callers; they are recorded dropped and notified."""
    h = Harness(settings(agents=1, callback=callback_settings(enabled=False)))
    h.arrive("r1")
    h.at(40).send(ev.LegLost(h.now, "r1", "asterisk_disconnected"))
    [n] = notifies(h, "dropped")
    assert (n.request_id, n.number, n.data["reason"], n.data["waited"]) == (
        "r1",
        DK_MOBILE,
        "asterisk_disconnected",
        40,
    )
    assert h.activities("ended", "r1")[0].data["outcome"] == "dropped"
    assert not notifies(h, "abandoned")  # not the caller's doing


def test_a_caller_who_hung_up_during_a_gap_is_abandoned_not_dropped() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(enabled=False)))
    h.arrive("r1")
    h.at(10).send(ev.LegLost(h.now, "r1", "channel_vanished"))
    assert not notifies(h, "dropped") and notifies(h, "abandoned")
