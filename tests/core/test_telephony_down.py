"""While Asterisk is stopping or out of reach (TelephonyDown … TelephonyUp) nothing is dialled, and a
dial that fails in that time failed with Asterisk: it is interrupted, never counted.

The fault this fixes (issue 14): during Asterisk's shutdown the dialler redialled the contact whose
ring the shutdown had just interrupted; Asterisk refused that dial, it counted as a `failed`
attempt, and with `max_attempts: 1` the contact ended `missed` without ever being reached."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CampaignMode
from app.core.states import AttemptOutcome, RequestState
from tests.core.dialler_harness import DONE, DiallerHarness, campaign, contact, dialler_settings
from tests.core.harness import DK_MOBILE, Harness, settings
from tests.core.test_faults import dial
from tests.core.test_recovery import callback_core, web_callback

POWER = CampaignMode.POWER


def power(max_attempts: int = 1, contacts: int = 3) -> DiallerHarness:
    core = dialler_settings(campaign(mode=POWER, max_attempts=max_attempts))
    return DiallerHarness(core, [contact(i) for i in range(1, contacts + 1)])


def test_the_contact_interrupted_by_a_shutdown_is_not_redialled_until_asterisk_is_back() -> None:
    h = power()
    first = h.dials(h.ready("a1"))[0]
    h.send(ev.TelephonyDown(h.now, "asterisk_shutdown"))
    out = h.send(ev.LegLost(h.now, first.leg_id, "asterisk_shutdown"))
    assert not h.dials(out)  # was: the contact dialled again at once, into a stopping Asterisk
    assert not h.dials(h.run_until(h.now + 60))  # nor when timers run meanwhile
    out = h.send(ev.TelephonyUp(h.now))
    redial = h.dials(out)
    assert [d.number for d in redial] == [first.number]  # back first, in its place
    record = [a for a in h.activities("dial_attempt") if a.data["number"] == first.number]
    assert [a.data["outcome"] for a in record] == ["interrupted"]


def test_a_dial_refused_while_asterisk_stops_is_interrupted_not_a_failed_attempt() -> None:
    h = power(max_attempts=1)
    first = h.dials(h.ready("a1"))[0]
    h.send(ev.TelephonyDown(h.now, "asterisk_shutdown"))
    h.send(ev.LegFailed(h.now, first.leg_id, AttemptOutcome.FAILED))  # Asterisk refused or dropped it
    p = h.progress(1)
    assert p is not None and p.state != DONE and p.attempts == 0  # was: DONE, missed, 1 attempt
    redial = h.dials(h.send(ev.TelephonyUp(h.at(20).now)))
    assert [d.number for d in redial] == [first.number]
    h.answer(redial[0].leg_id)
    ring = h.one(h.log, c.OriginateAgent)
    h.answer(ring.leg_id)
    assert h.engine.requests[redial[0].request_id].state is RequestState.CONNECTED


def test_after_telephony_up_a_failure_counts_again() -> None:
    h = power(max_attempts=1)
    h.ready("a1")
    h.send(ev.TelephonyDown(h.now, "ari_disconnected"))
    h.send(ev.TelephonyUp(h.now))
    dials = h.dials()
    h.fail(dials[-1].leg_id, AttemptOutcome.BUSY)
    p = h.progress(1)
    assert p is not None and (p.state, p.attempts, p.last_outcome) == (DONE, 1, "busy")


def test_no_agent_is_rung_while_asterisk_is_down_and_the_caller_is_served_after() -> None:
    h = Harness(settings())
    h.send(ev.TelephonyDown(h.now, "ari_disconnected"))
    h.arrive("r1", DK_MOBILE)
    out = h.ready("a1")
    assert not h.of(out, c.OriginateAgent)
    assert h.engine.requests["r1"].state is RequestState.WAITING
    ring = h.one(h.send(ev.TelephonyUp(h.at(3).now)), c.OriginateAgent)
    assert ring.request_id == "r1"
    assert [a.data.get("reason") for a in h.activities("telephony_down")] == ["ari_disconnected"]
    assert len(h.activities("telephony_up")) == 1


def test_a_callback_dial_failing_while_down_keeps_its_attempts() -> None:
    h = Harness(callback_core(max_attempts=1))
    web_callback(h, "r1")
    h.ready("a1")
    _, first = dial(h)
    h.send(ev.TelephonyDown(h.now, "asterisk_shutdown"))
    h.send(ev.LegFailed(h.now, first.leg_id, AttemptOutcome.FAILED))
    req = h.engine.requests["r1"]
    assert req.attempts[-1].outcome is AttemptOutcome.INTERRUPTED and req.counted_attempts == 0
    assert req.state is not RequestState.ENDED
    h.send(ev.TelephonyUp(h.at(1).now))
    _, second = dial(h)
    assert second.attempt == 2


def test_telephony_down_twice_is_one_outage() -> None:
    h = Harness(settings())
    h.send(ev.TelephonyDown(h.now, "asterisk_shutdown"))
    h.send(ev.TelephonyDown(h.now, "ari_disconnected"))
    h.send(ev.TelephonyUp(h.now))
    h.send(ev.TelephonyUp(h.now))
    assert len(h.activities("telephony_down")) == 1 and len(h.activities("telephony_up")) == 1
