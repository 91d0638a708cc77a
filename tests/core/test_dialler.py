"""Dialler campaigns in the core: preview and power, attempts, DNC, hours, parity, dispositions."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.errors import CoreError
from app.core.settings import (
    ABANDON_QUARANTINE,
    CampaignMode,
    OpeningHours,
    RetryIntervals,
    TimeRange,
)
from app.core.states import AgentState, AttemptOutcome, RequestKind, RequestState
from tests.core.dialler_harness import (
    CLAIMED,
    DONE,
    SCHEDULED,
    DiallerHarness,
    campaign,
    contact,
    dialler_settings,
)

POWER = CampaignMode.POWER


def ring_of(h: DiallerHarness, out: list[c.Command]) -> c.OriginateAgent:
    return h.one(out, c.OriginateAgent)


# ------------------------------------------------------------------ the window of contacts


def test_a_running_campaign_loads_a_window_and_claims_it() -> None:
    h = DiallerHarness(dialler_settings(campaign(window=4)), [contact(i) for i in range(1, 8)])
    out = h.tick()
    load = h.one(out, c.LoadContacts)
    assert (load.campaign, load.limit) == ("spring", 4)
    assert h.engine.window_size("spring") == 4
    assert [h.progress(i).state for i in range(1, 5)] == [CLAIMED] * 4  # type: ignore[union-attr]
    assert h.progress(5) is None  # beyond the window: left in the store


def test_a_paused_campaign_neither_loads_nor_dials_until_started() -> None:
    h = DiallerHarness(dialler_settings(campaign(state="paused")), [contact(1)])  # type: ignore[arg-type]
    h.ready("a1")
    assert not h.of(h.log, c.LoadContacts) and not h.of(h.log, c.OriginateAgent)
    out = h.send(ev.CampaignControl(h.now, "spring", "start"))
    assert ring_of(h, out).caller_id_name == "Contact 1"


def test_stop_gives_the_window_back_to_the_store() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [contact(1), contact(2)])
    h.tick()
    h.send(ev.CampaignControl(h.now, "spring", "stop"))
    assert h.engine.window_size("spring") == 0
    assert h.progress(1).state == SCHEDULED and h.progress(1).next_due == h.now  # type: ignore[union-attr]


# ------------------------------------------------------------------ preview


def test_preview_rings_the_agent_with_the_contact_then_dials_and_bridges() -> None:
    settings = dialler_settings(campaign(caller_id="+4570000000", ring_time=30.0), wrap_up=5.0)
    h = DiallerHarness(settings, [contact(1, name="Ada Lovelace")])
    out = h.ready("a1")
    ring = ring_of(h, out)
    assert (ring.caller_id_name, ring.caller_id_number) == ("Ada Lovelace", "+4520000001")
    assert not ring.auto_answer
    card = h.engine.contact_for_agent("a1")
    assert card is not None and card[1].fields == {"account": "A1"} and card[1].contact_id == 1
    req = h.engine.requests[ring.request_id]
    assert req.kind is RequestKind.CONTACT and (req.campaign, req.contact_id) == ("spring", 1)
    assert not h.dials()  # agent first
    out = h.answer(ring.leg_id)
    dial = h.one(out, c.OriginateCustomer)
    assert (dial.number, dial.caller_id_number, dial.timeout) == ("+4520000001", "+4570000000", 30.0)
    assert "ringback" in h.prompts(out)
    out = h.answer(dial.leg_id)
    assert h.one(out, c.BridgeLegs) == c.BridgeLegs(ring.request_id, dial.leg_id, ring.leg_id)
    h.at(60).leg_hung_up(dial.leg_id)
    assert h.engine.agents["a1"].state is AgentState.WRAP_UP
    p = h.progress(1)
    assert p is not None and (p.state, p.attempts, p.last_outcome) == (DONE, 1, "answered")


def test_review_time_delays_the_dial_and_dial_now_cuts_it_short() -> None:
    h = DiallerHarness(dialler_settings(campaign(review_time=20.0)), [contact(1), contact(2)])
    ring = ring_of(h, h.ready("a1"))
    assert not h.of(h.answer(ring.leg_id), c.OriginateCustomer)
    assert not h.dials(h.run_until(h.now + 19))
    assert len(h.dials(h.run_until(h.now + 1.5))) == 1
    # the next one: "dial now" at once
    h.fail(h.dials()[-1].leg_id, AttemptOutcome.BUSY)
    ring2 = [x for x in h.of(h.log, c.OriginateAgent)][-1]
    assert ring2.caller_id_name == "Contact 2"
    h.answer(ring2.leg_id)
    out = h.send(ev.ContactDialNow(h.now, "a1"))
    assert len(h.dials(out)) == 1


def test_skip_returns_the_contact_unattempted_and_rings_the_next() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [contact(1), contact(2)])
    ring = ring_of(h, h.ready("a1"))
    out = h.send(ev.ContactSkipped(h.now, "a1"))
    assert c.Hangup(ring.leg_id, "skipped") in out
    assert ring_of(h, out).caller_id_name == "Contact 2"
    p = h.progress(1)  # back to the list, unattempted, due again
    assert p is not None and (p.state, p.attempts, p.next_due) == (SCHEDULED, 0, h.now)
    assert not h.dials()


def test_skip_is_refused_once_the_contact_is_dialled() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [contact(1)])
    ring = ring_of(h, h.ready("a1"))
    h.answer(ring.leg_id)
    with pytest.raises(CoreError):
        h.send(ev.ContactSkipped(h.now, "a1"))


def test_an_agent_who_does_not_answer_is_paused_and_the_contact_goes_to_the_next_agent() -> None:
    h = DiallerHarness(dialler_settings(campaign(), agents=2), [contact(1)])
    h.ready("a1")
    h.at(1).ready("a2")
    first = ring_of(h, h.log)
    assert first.agent_id == "a1"
    out = h.fail(first.leg_id, AttemptOutcome.NO_ANSWER)
    assert h.engine.agents["a1"].state is AgentState.PAUSED
    assert h.engine.agents["a1"].pause_reason == "not_responding"
    second = ring_of(h, out)
    assert (second.agent_id, second.caller_id_name) == ("a2", "Contact 1")
    req = h.engine.requests[second.request_id]
    assert contact_attempts(req) == 0


def contact_attempts(req: object) -> int:
    return int(req.contact["attempts"]) + req.counted_attempts  # type: ignore[attr-defined]


def test_busy_is_retried_after_its_interval_until_max_attempts() -> None:
    camp = campaign(max_attempts=2, retry=RetryIntervals(busy=120.0))
    h = DiallerHarness(dialler_settings(camp, wrap_up=0.0), [contact(1)])
    h.ready("a1")
    h.answer(ring_of(h, h.log).leg_id)
    h.fail(h.dials()[-1].leg_id, AttemptOutcome.BUSY)
    p = h.progress(1)
    assert p is not None and (p.state, p.attempts, p.next_due, p.last_outcome) == (SCHEDULED, 1, h.now + 120, "busy")
    assert len(h.of(h.log, c.OriginateAgent)) == 1  # not before its time
    h.run_until(h.now + 119)
    assert len(h.of(h.log, c.OriginateAgent)) == 1
    h.run_until(h.now + 1)
    ring2 = h.of(h.log, c.OriginateAgent)[-1]
    assert len(h.of(h.log, c.OriginateAgent)) == 2
    h.answer(ring2.leg_id)
    h.fail(h.dials()[-1].leg_id, AttemptOutcome.BUSY)
    p = h.progress(1)
    assert p is not None and (p.state, p.attempts) == (DONE, 2)
    h.run_until(h.now + 10_000)
    assert len(h.dials()) == 2


def test_invalid_number_is_done_at_once() -> None:
    h = DiallerHarness(dialler_settings(campaign(max_attempts=5)), [contact(1)])
    h.ready("a1")
    h.answer(ring_of(h, h.log).leg_id)
    h.send(ev.LegFailed(h.now, h.dials()[-1].leg_id, AttemptOutcome.FAILED, cause=1))
    p = h.progress(1)
    assert p is not None and (p.state, p.last_outcome) == (DONE, "invalid")


# ------------------------------------------------------------------ DNC and hours


def test_a_dnc_entry_added_after_loading_is_never_dialled() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [contact(1), contact(2)])
    h.tick()  # both in the window
    h.send(ev.DncUpdated(h.now, None, added=(("+4520000001", False),)))
    out = h.ready("a1")
    assert ring_of(h, out).caller_id_name == "Contact 2"
    p = h.progress(1)
    assert p is not None and (p.state, p.last_outcome) == (DONE, "dnc")
    assert h.activities("contact_not_dialled")[0].data["reason"] == "dnc"


def test_a_campaign_dnc_prefix_is_checked_again_at_dial_time_in_preview() -> None:
    h = DiallerHarness(dialler_settings(campaign(review_time=10.0)), [contact(1)])
    ring = ring_of(h, h.ready("a1"))
    h.answer(ring.leg_id)
    h.send(ev.DncUpdated(h.now, "spring", added=(("+45200", True),)))
    out = h.run_until(h.now + 11)
    assert not h.dials(out)
    assert c.Hangup(ring.leg_id, "not_dialled") in out
    assert h.progress(1).last_outcome == "dnc"  # type: ignore[union-attr]


def test_outside_calling_hours_the_contact_waits_for_its_local_opening() -> None:
    # 20:26 UTC is 16:26 in New York and 22:26 in Copenhagen; hours 09:00-21:00 every day
    day = (TimeRange(9 * 3600, 21 * 3600),)
    camp = campaign(calling_hours=OpeningHours(weekly=(day,) * 7), timezone="Europe/Copenhagen")
    ny, cph = contact(1, number="+12125550100"), contact(2, timezone="Europe/Copenhagen")
    h = DiallerHarness(dialler_settings(camp, agents=2), [cph, ny])
    h.ready("a1")
    h.ready("a2")
    rings = h.of(h.log, c.OriginateAgent)
    assert [r.caller_id_number for r in rings] == ["+12125550100"]
    p = h.progress(2)
    assert p is not None and p.state == SCHEDULED
    assert p.next_due == pytest.approx(h.now + (10 * 3600 + 33 * 60 + 20))  # 09:00 tomorrow, Copenhagen


def test_while_the_shells_clock_runs_ahead_a_contact_waits_for_its_hours_by_the_true_clock() -> None:
    """The shell's clock keeps elapsed time after the wall clock stepped back, and runs ahead of it
    (app/telephony/steady_clock.py). Calling hours hold by both clocks: by the shell's, 22:26:40 in
    Copenhagen is within 09:00-23:00, but the true time is 08:30 and the contact must wait."""
    day = (TimeRange(9 * 3600, 23 * 3600),)
    camp = campaign(calling_hours=OpeningHours(weekly=(day,) * 7), timezone="Europe/Copenhagen")
    h = DiallerHarness(dialler_settings(camp), [contact(2, timezone="Europe/Copenhagen")])
    ahead = (22 * 3600 + 26 * 60 + 40) - (8 * 3600 + 30 * 60)  # START is 22:26:40 in Copenhagen
    h.send(ev.ClockAhead(h.now, ahead))
    assert [a.data["seconds"] for a in h.activities("clock_ahead")] == [ahead]
    h.ready("a1")
    assert not h.of(h.log, c.OriginateAgent)
    p = h.progress(2)
    assert p is not None and p.state == SCHEDULED
    assert p.next_due == pytest.approx(h.now + 30 * 60)  # 09:00 by the true clock, 22:56:40 by the shell's
    out = h.run_until(h.now + 30 * 60)
    assert ring_of(h, out).caller_id_name == "Contact 2"


def test_the_same_contact_is_dialled_at_once_with_the_clocks_agreeing() -> None:
    day = (TimeRange(9 * 3600, 23 * 3600),)
    camp = campaign(calling_hours=OpeningHours(weekly=(day,) * 7), timezone="Europe/Copenhagen")
    h = DiallerHarness(dialler_settings(camp), [contact(2, timezone="Europe/Copenhagen")])
    h.send(ev.ClockAhead(h.now, (22 * 3600 + 26 * 60 + 40) - (8 * 3600 + 30 * 60)))
    h.send(ev.ClockAhead(h.now, 0.0))  # caught up before the contact was looked at
    assert ring_of(h, h.ready("a1")).caller_id_name == "Contact 2"


@pytest.mark.parametrize("ahead", [0.0, 3600.0])
def test_a_campaigns_first_day_begins_at_midnight_by_both_clocks(ahead: float) -> None:
    camp = campaign(active_from="2026-05-29", timezone="Europe/Copenhagen")  # START is 22:26:40 the day before
    h = DiallerHarness(dialler_settings(camp), [contact(2, timezone="Europe/Copenhagen")])
    h.send(ev.ClockAhead(h.now, ahead))
    h.ready("a1")
    midnight = h.now + 3600 + 33 * 60 + 20  # by the shell's clock
    h.run_until(midnight - 1)
    assert not h.of(h.log, c.OriginateAgent)
    h.run_until(midnight + ahead - 1)  # the true clock has not reached midnight yet
    assert not h.of(h.log, c.OriginateAgent)
    h.run_until(midnight + ahead + 120)
    assert ring_of(h, h.of(h.log, c.OriginateAgent)).caller_id_name == "Contact 2"


def test_a_clock_lead_that_is_no_number_of_seconds_is_refused() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [])
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(CoreError):
            h.send(ev.ClockAhead(h.now, bad))
    assert h.engine.clock_ahead == 0.0


# ------------------------------------------------------------------ dispatch


def test_inbound_callers_of_the_agents_queue_come_first() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [contact(1)])
    h.send(ev.CallerArrived(h.now, "in1", "sales", "+4530123456"))
    out = h.ready("a1")
    assert ring_of(h, out).request_id == "in1"


def test_a_campaign_may_go_before_inbound_when_configured() -> None:
    h = DiallerHarness(dialler_settings(campaign(inbound_first=False)), [contact(1)])
    h.send(ev.CallerArrived(h.now, "in1", "sales", "+4530123456"))
    out = h.ready("a1")
    assert ring_of(h, out).caller_id_name == "Contact 1"


def test_parity_two_to_one_among_campaigns_of_one_order() -> None:
    a, b = campaign("a", parity=2), campaign("b", parity=1)
    h = DiallerHarness(
        dialler_settings(a, b, wrap_up=0.0),
        [contact(i, campaign_id="a") for i in range(1, 20)] + [contact(i, campaign_id="b") for i in range(1, 20)],
    )
    h.ready("a1")
    served = []
    for _ in range(12):
        ring = h.of(h.log, c.OriginateAgent)[-1]
        served.append(h.engine.requests[ring.request_id].campaign)
        h.send(ev.ContactSkipped(h.at(1).now, "a1"))
    assert served.count("a") == 8 and served.count("b") == 4


def test_higher_priority_contacts_first() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [contact(1), contact(2, priority=5)])
    h.tick()
    assert ring_of(h, h.ready("a1")).caller_id_name == "Contact 2"


def test_lower_order_campaign_goes_first() -> None:
    h = DiallerHarness(
        dialler_settings(campaign("late", order=2), campaign("early", order=1)),
        [contact(1, campaign_id="late"), contact(1, campaign_id="early")],
    )
    h.tick()  # both windows loaded
    out = h.ready("a1")
    assert h.engine.requests[ring_of(h, out).request_id].campaign == "early"


# ------------------------------------------------------------------ power


def test_power_dials_lines_per_agent_and_connects_an_auto_answering_agent_on_answer() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER, lines_per_agent=2.0)), [contact(i) for i in range(1, 6)])
    out = h.ready("a1")
    dials = h.dials(out)
    assert len(dials) == 2 and not h.of(out, c.OriginateAgent)
    out = h.at(5).answer(dials[0].leg_id)
    ring = ring_of(h, out)
    assert ring.auto_answer and ring.caller_id_number == dials[0].number
    out = h.at(0.3).answer(ring.leg_id)
    assert h.one(out, c.BridgeLegs).customer_leg == dials[0].leg_id
    assert h.activities("connected")[-1].data["after_answer"] == pytest.approx(0.3)
    # the second answers: no agent free within 2 s → the information message, abandoned, 72 h
    out = h.at(1).answer(dials[1].leg_id)
    assert not h.of(out, c.OriginateAgent)
    out = h.run_until(h.now + 2.0)
    play = h.one(out, c.PlayPrompt)
    assert (play.leg_id, play.items[0].name, play.hangup_after) == (dials[1].leg_id, "dialler_information", True)
    p = h.progress(2)
    assert p is not None and (p.state, p.last_outcome) == (SCHEDULED, "abandoned")
    record = [a for a in h.activities("dial_attempt") if a.data["contact"] == 2][-1]
    assert (record.queue, record.data["outcome"], record.data["abandoned"]) == ("spring", "abandoned", True)
    assert p.next_due == pytest.approx(h.now + ABANDON_QUARANTINE)
    assert h.activities("dialler_abandoned")


def test_power_contact_hanging_up_before_the_agent_connects_is_abandoned_and_frees_the_agent() -> None:
    """Silence after "hello?": a contact may hang up within the 2 s, while the agent's phone is still
    being connected. That is an abandoned call (the regulators count it), the agent's leg is hung up
    and the agent is free for the next contact at once, not after a call that never was."""
    h = DiallerHarness(dialler_settings(campaign(mode=POWER, lines_per_agent=2.0)), [contact(i) for i in range(1, 6)])
    dials = h.dials(h.ready("a1"))
    out = h.at(5).answer(dials[0].leg_id)
    ring = ring_of(h, out)
    out = h.at(1.2).leg_hung_up(dials[0].leg_id)
    assert h.one(out, c.Hangup).leg_id == ring.leg_id
    assert not h.of(out, c.BridgeLegs)
    (abandoned,) = h.activities("dialler_abandoned")
    assert abandoned.data["why"] == "contact_hung_up"
    record = [a for a in h.activities("dial_attempt") if a.data["contact"] == 1][-1]
    assert (record.data["outcome"], record.data["abandoned"]) == ("abandoned", True)
    p = h.progress(1)
    assert p is not None and (p.state, p.last_outcome) == (SCHEDULED, "abandoned")
    assert p.next_due == pytest.approx(h.now + ABANDON_QUARANTINE)  # no redial within 72 h
    assert ring.request_id not in h.engine.requests
    assert h.engine.agents["a1"].state is AgentState.READY
    # the agent's leg ends as the hang-up asked, and the next answer gets the agent
    h.leg_hung_up(ring.leg_id)
    assert h.engine.agents["a1"].state is AgentState.READY
    out = h.at(0.5).answer(dials[1].leg_id)
    second = ring_of(h, out)
    assert second.caller_id_number == dials[1].number
    out = h.at(0.3).answer(second.leg_id)
    assert h.one(out, c.BridgeLegs).customer_leg == dials[1].leg_id
    assert not h.of(h.run_until(h.now + 3.0), c.PlayPrompt)  # connected, not the information message


def test_power_stops_dialling_for_an_agent_who_pauses() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER), agents=1), [contact(i) for i in range(1, 6)])
    dials = h.dials(h.ready("a1"))
    assert len(dials) == 1
    h.send(ev.AgentPaused(h.now, "a1"))
    h.fail(dials[0].leg_id, AttemptOutcome.NO_ANSWER)
    h.run_until(h.now + 100)
    assert len(h.dials()) == 1


def test_power_redials_for_the_ready_agent_after_a_failure() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER)), [contact(i) for i in range(1, 6)])
    dials = h.dials(h.ready("a1"))
    out = h.fail(dials[0].leg_id, AttemptOutcome.BUSY)
    assert len(h.dials(out)) == 1 and h.dials(out)[0].number != dials[0].number


def test_power_contact_waits_for_an_agent_who_frees_up_within_two_seconds() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER, lines_per_agent=2.0)), [contact(i) for i in range(1, 6)])
    dials = h.dials(h.ready("a1"))
    h.answer(dials[0].leg_id)
    ring = h.of(h.log, c.OriginateAgent)[-1]
    h.fail(ring.leg_id, AttemptOutcome.NO_ANSWER)  # the agent's phone refused: paused not_responding
    req = h.engine.requests[ring.request_id]
    assert req.state is RequestState.CONNECTING
    h.send(ev.AgentLoggedIn(h.at(1).now, "a1"))
    assert h.of(h.log, c.OriginateAgent)[-1].request_id == req.id


# ------------------------------------------------------------------ dispositions


def test_call_back_disposition_schedules_the_contact_for_the_same_agent() -> None:
    h = DiallerHarness(dialler_settings(campaign(), wrap_up=30.0), [contact(1)])
    h.ready("a1")
    h.answer(ring_of(h, h.log).leg_id)
    h.answer(h.dials()[-1].leg_id)
    h.at(30).leg_hung_up(h.dials()[-1].leg_id)
    with pytest.raises(CoreError):
        h.send(ev.ContactDisposed(h.now, "a1", "bought_a_boat"))
    later = h.now + 3600
    h.send(ev.ContactDisposed(h.now, "a1", "call_back", call_back_at=later, reserve=True))
    p = h.progress(1)
    assert p is not None and (p.state, p.next_due, p.reserved_agent) == (SCHEDULED, later, "a1")
    with pytest.raises(CoreError):  # one disposition per call
        h.send(ev.ContactDisposed(h.now, "a1", "sale"))


def test_a_plain_disposition_finishes_the_contact() -> None:
    h = DiallerHarness(dialler_settings(campaign()), [contact(1)])
    h.ready("a1")
    h.answer(ring_of(h, h.log).leg_id)
    h.answer(h.dials()[-1].leg_id)
    h.leg_hung_up(h.dials()[-1].leg_id)
    h.send(ev.ContactDisposed(h.now, "a1", "sale"))
    assert h.progress(1).last_outcome == "sale" and h.progress(1).state == DONE  # type: ignore[union-attr]


# ------------------------------------------------------------------ restart


def test_a_restored_dial_is_not_handed_out_again() -> None:
    h = DiallerHarness(dialler_settings(campaign(mode=POWER)), [contact(1), contact(2)])
    dials = h.dials(h.ready("a1"))
    req = h.engine.requests[dials[0].request_id]
    import copy

    from app.core.engine import Engine

    again = Engine(dialler_settings(campaign(mode=POWER)))
    again.restore([copy.deepcopy(req)], [("a1", AgentState.READY, None)], h.now)
    assert again.active_contact_ids() == {req.contact_id}
    # the store gives the contact again by mistake: it is not taken twice
    out = again.handle(ev.ContactsLoaded(h.now, "spring", (contact(req.contact_id or 0),)))
    assert not [x for x in out if isinstance(x, c.OriginateCustomer)]
    assert again.take_contact_progress() == []


def test_an_upload_during_a_load_is_not_missed() -> None:
    from app.core.engine import Engine

    engine = Engine(dialler_settings(campaign()))
    now = 1000.0
    (_load,) = [x for x in engine.handle(ev.Tick(now)) if isinstance(x, c.LoadContacts)]
    engine.handle(ev.ContactsChanged(now + 0.1, "spring"))  # while the store is read
    out = engine.handle(ev.ContactsLoaded(now + 0.2, "spring", ()))  # read before the upload
    assert [x for x in out if isinstance(x, c.LoadContacts)]  # asked again at once
    out = engine.handle(ev.ContactsLoaded(now + 0.3, "spring", ()))
    assert not [x for x in out if isinstance(x, c.LoadContacts)]  # now nothing is due: wait
    assert not [x for x in engine.handle(ev.Tick(now + 10)) if isinstance(x, c.LoadContacts)]
    assert [x for x in engine.handle(ev.Tick(now + 16)) if isinstance(x, c.LoadContacts)]


@pytest.mark.parametrize("message", [None, "voicemail_message"])
def test_an_answering_machine_ends_the_attempt_as_machine_and_may_hear_a_message(message: str | None) -> None:
    camp = campaign(amd=True, machine_message=message, retry=RetryIntervals(machine=900.0))
    h = DiallerHarness(dialler_settings(camp), [contact(1)])
    h.ready("a1")
    h.answer(ring_of(h, h.log).leg_id)
    dial = h.dials()[-1]
    assert dial.amd
    out = h.answer(dial.leg_id, voicemail=True)
    if message is None:
        assert c.Hangup(dial.leg_id, "machine") in out
    else:
        play = [p for p in h.of(out, c.PlayPrompt) if p.leg_id == dial.leg_id]
        assert play == [c.PlayPrompt(dial.leg_id, (c.PromptItem(message),), hangup_after=True)]
    assert not h.of(out, c.BridgeLegs)
    p = h.progress(1)
    assert p is not None and (p.state, p.last_outcome, p.next_due) == (SCHEDULED, "machine", h.now + 900.0)


def test_a_contact_due_between_two_polls_of_the_store_is_loaded_when_due_not_at_the_next_poll() -> None:
    """The store is polled every EMPTY_POLL while it has nothing due. A contact held for its hours
    fell due between two polls: it was left until the next one, up to EMPTY_POLL late (15 s after
    its 09:00; on real Asterisk, 12 s after the wall clock's 11:00 in test_wall_clock_step_dialler)."""
    opening = 22.0  # seconds from now, by the true clock; polls come at 15 and 30 s
    day = (TimeRange(9 * 3600, 23 * 3600),)
    camp = campaign(calling_hours=OpeningHours(weekly=(day,) * 7), timezone="Europe/Copenhagen")
    h = DiallerHarness(dialler_settings(camp), [contact(2, timezone="Europe/Copenhagen")])
    # START is 22:26:40 in Copenhagen: by a lead of 13 h 26 min 62 s the true time is 08:59:38
    h.send(ev.ClockAhead(h.now, (22 * 3600 + 26 * 60 + 40) - (9 * 3600 - opening)))
    h.ready("a1")
    p = h.progress(2)
    assert p is not None and p.state == SCHEDULED and p.next_due == pytest.approx(h.now + opening)
    h.run_until(h.now + opening - 0.001)
    assert not h.of(h.log, c.OriginateAgent)
    out = h.run_until(h.now + 0.001)
    assert ring_of(h, out).caller_id_name == "Contact 2"
