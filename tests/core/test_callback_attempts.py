"""The callback journey, attempt outcomes, retries in quarantine, abandon trigger and callback delay."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.engine_base import CUSTOMER_TIMEOUT_MARGIN, LATE_NO_ANSWER_MARGIN
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestKind, RequestState
from tests.core.harness import DK_MOBILE, Harness, callback_settings, settings

A = AttemptOutcome


def make(agents: int = 1, **cb: object) -> Harness:
    return Harness(settings(agents=agents, callback=callback_settings(allow_other_number=False, **cb)))


def with_callback(h: Harness, rid: str = "r1") -> None:
    h.arrive(rid)
    h.dtmf(rid, "1")


def pause(h: Harness, agent: str = "a1") -> None:
    h.send(ev.AgentPaused(h.now, agent, "test"))


def test_callback_journey_rings_agent_whispers_then_dials_and_bridges() -> None:
    h = make()
    with_callback(h)
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    assert (ring.caller_id_name, ring.caller_id_number) == ("Callback", DK_MOBILE)
    out = h.answer(ring.leg_id)
    whisper = Harness.one(out, c.PlayPrompt)
    assert whisper.leg_id == ring.leg_id and whisper.report_finish
    assert h.engine.requests["r1"].state is RequestState.WHISPER
    dial = Harness.one(h.prompt_done(ring.leg_id), c.OriginateCustomer)
    assert (dial.number, dial.attempt) == (DK_MOBILE, 1)
    bridge = Harness.one(h.answer(dial.leg_id), c.BridgeLegs)
    assert (bridge.customer_leg, bridge.agent_leg) == (dial.leg_id, ring.leg_id)
    out = h.at(60).leg_hung_up(dial.leg_id)
    assert Harness.one(out, c.Hangup).leg_id == ring.leg_id
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.SERVED


def test_voicemail_ends_the_request_without_new_attempt() -> None:
    h = make(max_attempts=3)
    with_callback(h)
    h.ready("a1")
    _, cust = h.serve_callback("r1", A.VOICEMAIL)
    assert h.engine.requests["r1"].state is RequestState.CONNECTED  # the agent leaves a message
    h.leg_hung_up(cust)
    assert h.activities("attempt_outcome", "r1")[0].data["outcome"] == "voicemail"
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.SERVED
    assert len(Harness.of(h.log, c.OriginateCustomer)) == 1


def test_voicemail_message_is_played_and_frees_the_agent() -> None:
    h = make(max_attempts=3, voicemail_message="vm_sorry")
    with_callback(h)
    h.ready("a1")
    agent_leg, cust = h.serve_callback("r1")
    out = h.answer(cust, voicemail=True)
    msg = Harness.one(out, c.PlayPrompt)
    assert (msg.leg_id, msg.items[0].name, msg.hangup_after) == (cust, "vm_sorry", True)
    assert Harness.one(out, c.Hangup).leg_id == agent_leg
    assert not Harness.of(out, c.BridgeLegs)
    assert h.engine.agents["a1"].state is AgentState.READY
    assert "r1" not in h.engine.requests


@pytest.mark.parametrize("outcome", [A.BUSY, A.NO_ANSWER, A.FAILED])
def test_last_failed_attempt_ends_missed_with_notify(outcome: AttemptOutcome) -> None:
    h = make(max_attempts=1)
    with_callback(h)
    h.ready("a1")
    h.serve_callback("r1", outcome)
    notify = [n for n in Harness.of(h.log, c.Notify)]
    # callback_requested when the callback was promised (issue 17), then missed_callback
    assert [(n.kind, n.number) for n in notify] == [("callback_requested", DK_MOBILE), ("missed_callback", DK_MOBILE)]
    ended = h.activities("ended", "r1")[0]
    assert ended.data["outcome"] == Outcome.MISSED and ended.data["last"] == outcome.value
    assert h.engine.agents["a1"].state is AgentState.READY  # agent freed at once


@pytest.mark.parametrize("max_attempts", [1, 2, 3])
def test_max_attempts_bounds_customer_dials(max_attempts: int) -> None:
    h = make(max_attempts=max_attempts, sec_between_retries=60)
    with_callback(h)
    h.ready("a1")
    for _ in range(max_attempts):
        h.serve_callback("r1", A.NO_ANSWER)
        h.run_until(h.now + 60)
    dials = Harness.of(h.log, c.OriginateCustomer)
    assert [d.attempt for d in dials] == list(range(1, max_attempts + 1))
    assert "r1" not in h.engine.requests
    assert h.activities("ended", "r1")[0].data["attempts"] == max_attempts


def test_failed_attempt_waits_in_quarantine_out_of_the_queue_then_goes_to_the_end() -> None:
    h = make(max_attempts=2, sec_between_retries=300)
    with_callback(h)
    h.ready("a1")
    h.serve_callback("r1", A.BUSY)
    pause(h)
    h.at(1).arrive("later")
    req = h.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE and h.engine.position("r1") is None
    assert [r.id for r in h.engine.waiting("support")] == ["later"]
    h.run_until(h.now + 298.9)
    assert h.engine.requests["r1"].state is RequestState.QUARANTINE
    h.at(0.05).arrive("latest")
    h.run_until(h.now + 0.1)
    assert [r.id for r in h.engine.waiting("support")] == ["later", "latest", "r1"]
    requeued = h.activities("requeued", "r1")[0].data
    assert (requeued["position"], requeued["place_kept"]) == (3, False)


def test_vip_on_retry_bumps_priority_on_requeue() -> None:
    h = make(max_attempts=2, sec_between_retries=60, vip_on_retry=1)
    with_callback(h)
    h.ready("a1")
    h.serve_callback("r1", A.NO_ANSWER)
    pause(h)
    h.at(1).arrive("later")
    h.run_until(h.now + 60)
    assert [r.id for r in h.engine.waiting("support")] == ["r1", "later"]
    assert h.engine.requests["r1"].priority == 1


def test_give_up_on_busy_ends_at_once() -> None:
    h = make(max_attempts=3, give_up_on_busy=True)
    with_callback(h)
    h.ready("a1")
    h.serve_callback("r1", A.BUSY)
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.MISSED
    assert [n.kind for n in Harness.of(h.log, c.Notify)] == ["callback_requested", "missed_callback"]


def test_give_up_on_busy_does_not_apply_to_no_answer() -> None:
    h = make(max_attempts=3, give_up_on_busy=True)
    with_callback(h)
    h.ready("a1")
    h.serve_callback("r1", A.NO_ANSWER)
    assert h.engine.requests["r1"].state is RequestState.QUARANTINE


def test_a_dial_asterisk_never_reports_is_not_counted_and_the_callback_kept() -> None:
    """Asterisk was to give up at the ring timeout and never said so (frozen): our guard ends the
    dial, as not the customer's fault. With its one attempt the callback is not `missed`: tried
    again after the quarantine, it can be served."""
    h = make(max_attempts=1, customer_ring_timeout=30, sec_between_retries=60)
    with_callback(h)
    h.ready("a1")
    agent_leg, cust = h.serve_callback("r1")
    out = h.run_until(h.now + 30 + CUSTOMER_TIMEOUT_MARGIN - 0.5)
    assert c.Hangup(cust, "ring_timeout") not in out  # Asterisk's own timeout still has its margin
    out = h.run_until(h.now + 1)
    assert c.Hangup(cust, "ring_timeout") in out
    told = [p for p in Harness.of(out, c.PlayPrompt) if p.leg_id == agent_leg]
    assert [i.name for p in told for i in p.items] == ["callback_customer_unreachable"]  # not "final"
    assert h.activities("attempt_outcome", "r1")[0].data["outcome"] == "interrupted"
    req = h.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE and req.counted_attempts == 0
    assert not h.activities("ended", "r1")
    assert "missed_callback" not in [n.kind for n in Harness.of(h.log, c.Notify)]

    h.run_until(h.now + 61)  # the agent, free again, is rung for it
    _, again = h.serve_callback("r1", A.ANSWERED)
    assert again != cust and Harness.of(h.log, c.OriginateCustomer)[-1].attempt == 2
    h.leg_hung_up(again)
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.SERVED


def test_a_callback_whose_dial_was_never_reported_keeps_its_place_after_the_quarantine() -> None:
    """Not the customer's doing, so not sent to the end (nor bumped as a VIP retry): back after
    the quarantine where it was, ahead of a caller who came during it."""
    h = make(max_attempts=2, customer_ring_timeout=30, sec_between_retries=60, vip_on_retry=1)
    with_callback(h)
    before = h.engine.requests["r1"]
    place, priority = before.place, before.priority
    h.ready("a1")
    h.serve_callback("r1")
    h.run_until(h.now + 30 + CUSTOMER_TIMEOUT_MARGIN + 1)
    assert h.engine.requests["r1"].state is RequestState.QUARANTINE
    pause(h)
    h.at(1).arrive("later")
    h.run_until(h.now + 61)
    req = h.engine.requests["r1"]
    assert req.state is RequestState.WAITING and (req.place, req.priority) == (place, priority)
    assert [r.id for r in h.engine.waiting("support")] == ["r1", "later"]
    requeued = h.activities("requeued", "r1")[0].data
    assert (requeued["position"], requeued["place_kept"]) == (1, True)


def test_a_no_answer_asterisk_reports_long_after_the_ring_time_is_not_counted() -> None:
    """Frozen while the phone rang, Asterisk times the ring by its clock, which ran on meanwhile:
    on resuming it says "no answer" at once, though the phone rang a moment (or was picked up, the
    answer waiting in the stall). A one-attempt callback is not missed for that."""
    h = make(max_attempts=1, customer_ring_timeout=30, sec_between_retries=60)
    with_callback(h)
    h.ready("a1")
    _, cust = h.serve_callback("r1")
    h.run_until(h.now + 30 + LATE_NO_ANSWER_MARGIN + 0.5)  # short of our own guard
    h.fail(cust, A.NO_ANSWER)
    assert h.activities("dial_reported_late", "r1")[0].data["outcome"] == "no_answer"
    assert h.activities("attempt_outcome", "r1")[0].data["outcome"] == "interrupted"
    req = h.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE and req.counted_attempts == 0
    assert "missed_callback" not in [n.kind for n in Harness.of(h.log, c.Notify)]


def test_a_no_answer_reported_in_time_counts() -> None:
    h = make(max_attempts=1, customer_ring_timeout=30)
    with_callback(h)
    h.ready("a1")
    _, cust = h.serve_callback("r1")
    h.run_until(h.now + 30 + LATE_NO_ANSWER_MARGIN - 0.5)
    h.fail(cust, A.NO_ANSWER)
    assert not h.activities("dial_reported_late", "r1")
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.MISSED


@pytest.mark.parametrize("answered", [True, False])
def test_a_customer_who_picked_up_and_hung_up_before_being_put_through_is_not_counted(answered: bool) -> None:
    """Picked up and hung up at once (silence: detection listening, or a stall): not their no
    answer or failure, so a one-attempt callback is tried again after the quarantine, in its place.
    A failure of a phone that never answered still counts."""
    h = make(max_attempts=1, customer_ring_timeout=30, sec_between_retries=60)
    with_callback(h)
    h.ready("a1")
    _, cust = h.serve_callback("r1")
    h.at(2).send(ev.LegFailed(h.now, cust, A.FAILED, 16, answered=answered))
    outcome = h.activities("attempt_outcome", "r1")[0].data["outcome"]
    if answered:
        assert outcome == "interrupted"
        req = h.engine.requests["r1"]
        assert req.state is RequestState.QUARANTINE and req.counted_attempts == 0
        assert "missed_callback" not in [n.kind for n in Harness.of(h.log, c.Notify)]
    else:
        assert outcome == "failed"
        assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.MISSED


def test_a_ring_timeout_asterisk_reports_counts_as_no_answer() -> None:
    h = make(max_attempts=1, customer_ring_timeout=30)
    with_callback(h)
    h.ready("a1")
    h.serve_callback("r1", A.NO_ANSWER)
    assert h.activities("attempt_outcome", "r1")[0].data["outcome"] == "no_answer"
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.MISSED


def test_agent_not_answering_a_callback_is_not_counted_and_place_kept() -> None:
    h = make(max_attempts=1)
    with_callback(h)
    place = h.engine.requests["r1"].place
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    h.run_until(h.now + 15)
    req = h.engine.requests["r1"]
    assert req.state is RequestState.WAITING and req.place == place and req.counted_attempts == 0
    assert h.engine.agents["a1"].pause_reason == "not_responding"
    assert ring.leg_id not in (req.agent_leg, req.customer_leg)


def test_agent_hanging_up_while_customer_dialled_is_not_counted() -> None:
    h = make(max_attempts=1)
    with_callback(h)
    place = h.engine.requests["r1"].place
    h.ready("a1")
    agent_leg, cust = h.serve_callback("r1")
    out = h.leg_hung_up(agent_leg)
    assert c.Hangup(cust, "agent_gone") in out
    req = h.engine.requests["r1"]
    assert req.counted_attempts == 0 and req.attempts[0].outcome is A.AGENT_NO_ANSWER
    assert req.state is RequestState.WAITING and req.place == place


def test_agent_hanging_up_during_whisper_refuses_it_and_is_paused_by_default() -> None:
    h = make()
    with_callback(h)
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    h.leg_hung_up(ring.leg_id)
    assert h.engine.requests["r1"].state is RequestState.WAITING
    # a refusal (max_agent_refusals 1): not offered the same callback again and again
    assert h.engine.agents["a1"].state is AgentState.PAUSED
    assert h.engine.agents["a1"].pause_reason == "not_responding"
    out = h.run_until(h.now + 60)
    assert not h.of(out, c.OriginateAgent)


def test_callback_delay_holds_the_first_attempt_back() -> None:
    h = make(callback_delay=120)
    h.ready("a1")
    h.send(ev.AgentReachability(h.now, "a1", False))
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.send(ev.AgentReachability(h.now, "a1", True))
    assert not Harness.of(h.log, c.OriginateAgent)
    h.run_until(h.now + 119)
    assert not Harness.of(h.log, c.OriginateAgent)
    out = h.run_until(h.now + 1)
    assert Harness.one(out, c.OriginateAgent).request_id == "r1"


def test_callback_delay_lets_callers_behind_go_first() -> None:
    h = make(callback_delay=120)
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.at(1).arrive("r2")
    assert Harness.one(h.ready("a1"), c.OriginateAgent).request_id == "r2"


def test_abandon_after_threshold_gets_automatic_callback_keeping_place() -> None:
    h = make(abandon_callback_after=30)
    h.arrive("r1")
    h.at(1).arrive("r2")
    place = h.engine.requests["r1"].place
    out = h.at(30).hang_up("r1")
    assert "callback_confirmed" not in h.prompts(out)  # the line is gone: nothing to confirm
    req = h.engine.requests["r1"]
    assert req.kind is RequestKind.CALLBACK and req.place == place
    assert h.activities("callback_accepted", "r1")[0].data["automatic"] is True
    assert h.engine.callers_waiting("support") == 1


@pytest.mark.parametrize(
    ("after", "waited", "number", "enabled", "callback"),
    [
        (30, 29, DK_MOBILE, True, False),
        (None, 100, DK_MOBILE, True, False),
        (30, 31, "anonymous", True, False),
        (30, 31, DK_MOBILE, False, False),
        (30, 31, DK_MOBILE, True, True),
    ],
)
def test_abandon_trigger_needs_threshold_enabled_and_eligible_number(
    after: float | None, waited: float, number: str, enabled: bool, callback: bool
) -> None:
    h = make(abandon_callback_after=after, enabled=enabled)
    h.arrive("r1", number=number)
    h.at(waited).hang_up("r1")
    assert ("r1" in h.engine.requests) is callback
    if not callback:
        assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.ABANDONED


def test_callback_requested_from_the_web_joins_the_end() -> None:
    h = make()
    h.arrive("r1")
    h.at(1).send(ev.CallbackRequested(h.now, "web1", "support", DK_MOBILE))
    assert [r.id for r in h.engine.waiting("support")] == ["r1", "web1"]
    assert h.engine.requests["web1"].kind is RequestKind.CALLBACK
    assert h.engine.callers_waiting("support") == 1


def test_callback_whose_max_age_passed_while_ringing_expires_when_it_comes_back() -> None:
    h = make(max_age=100)
    h.arrive("r1")
    h.at(90).dtmf("r1", "1")
    h.at(95).ready("a1")
    assert h.engine.requests["r1"].state is RequestState.RINGING_AGENT
    out = h.run_until(h.now + 15)  # max age passes at +5, the ring times out at +15
    assert [n.kind for n in Harness.of(out, c.Notify)] == ["callback_expired"]
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.EXPIRED
