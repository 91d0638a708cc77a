"""Queues and positions: order by (priority, arrival), kept places, gross/net wait, SLA."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.states import AttemptOutcome, RequestKind, RequestState
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, DK_MOBILE_3, Harness, callback_settings, settings


def test_queue_orders_by_arrival_within_same_priority() -> None:
    h = Harness(settings())
    for rid in ("r1", "r2", "r3"):
        h.at(1).arrive(rid)
    assert [r.id for r in h.engine.waiting("support")] == ["r1", "r2", "r3"]
    assert [h.engine.position(r) for r in ("r1", "r2", "r3")] == [1, 2, 3]


def test_higher_priority_goes_ahead_of_earlier_callers() -> None:
    h = Harness(settings())
    h.arrive("low1")
    h.at(1).arrive("low2")
    h.at(1).arrive("vip", priority=5)
    assert [r.id for r in h.engine.waiting("support")] == ["vip", "low1", "low2"]


def test_arrival_activity_reports_position() -> None:
    h = Harness(settings())
    h.arrive("r1")
    out = h.at(1).arrive("r2")
    act = next(a for a in Harness.of(out, c.Activity) if a.kind == "arrived")
    assert act.data["position"] == 2


def test_positions_close_gaps_when_a_caller_leaves() -> None:
    h = Harness(settings())
    for rid in ("r1", "r2", "r3"):
        h.at(1).arrive(rid)
    h.hang_up("r2")
    assert h.engine.position("r3") == 2
    assert h.engine.position("r2") is None


def test_callback_keeps_exact_place_of_the_caller() -> None:
    h = Harness(settings(callback=callback_settings(allow_other_number=False)))
    for rid in ("r1", "r2", "r3"):
        h.at(1).arrive(rid)
    before = h.engine.requests["r2"].place
    h.dtmf("r2", "1")
    req = h.engine.requests["r2"]
    assert req.kind is RequestKind.CALLBACK and req.place == before
    assert [r.id for r in h.engine.waiting("support")] == ["r1", "r2", "r3"]


def test_callback_is_served_when_the_caller_would_have_been() -> None:
    h = Harness(settings(callback=callback_settings(allow_other_number=False)))
    for rid, number in (("r1", DK_MOBILE_2), ("r2", DK_MOBILE), ("r3", DK_MOBILE_3)):  # three people
        h.at(1).arrive(rid, number=number)
    h.dtmf("r2", "1")
    h.ready("a1")
    rings = Harness.of(h.log, c.OriginateAgent)
    assert [r.request_id for r in rings] == ["r1"]
    leg = rings[0].leg_id
    h.answer(leg)
    h.at(30).leg_hung_up(leg)
    h.run_until(h.now + 10)  # wrap-up ends
    rings = Harness.of(h.log, c.OriginateAgent)
    assert [r.request_id for r in rings] == ["r1", "r2"]
    assert rings[1].caller_id_name == "Callback"


def test_gross_wait_counts_from_first_arrival_and_net_wait_from_requeue() -> None:
    cb = callback_settings(allow_other_number=False, max_attempts=2, sec_between_retries=100)
    h = Harness(settings(callback=cb))
    start = h.now
    h.arrive("r1")
    h.at(10).dtmf("r1", "1")
    h.at(5).ready("a1")
    h.serve_callback("r1", AttemptOutcome.NO_ANSWER)
    req = h.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE
    h.send(ev.AgentPaused(h.now, "a1", "lunch"))
    h.run_until(h.now + 100)
    req = h.engine.requests["r1"]
    assert req.state is RequestState.WAITING
    requeued = h.now
    h.at(7)
    assert req.gross_wait(h.now) == h.now - start
    assert req.net_wait(h.now) == h.now - requeued == 7
    assert req.net_wait(h.now) <= req.gross_wait(h.now)


def test_connected_activity_reports_waits_and_sla_against_service_level() -> None:
    h = Harness(settings(service_level=20.0))
    h.arrive("fast")
    h.at(5).ready("a1")
    ring = Harness.one(h.log, c.OriginateAgent)
    h.answer(ring.leg_id)
    act = h.activities("connected", "fast")[0]
    assert act.data["gross_wait"] == 5 and act.data["net_wait"] == 5
    assert act.data["within_sla"] is True
    h.leg_hung_up(ring.leg_id)
    h.send(ev.AgentPaused(h.now, "a1", "break"))  # takes effect after wrap-up
    h.arrive("slow")
    h.run_until(h.now + 30)
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    act = h.activities("connected", "slow")[0]
    assert act.data["net_wait"] > 20 and act.data["within_sla"] is False


def test_caller_number_is_presented_to_agent_for_inbound() -> None:
    h = Harness(settings(display_name="Support DK"))
    h.arrive("r1", number=DK_MOBILE)
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    assert (ring.caller_id_name, ring.caller_id_number) == ("Support DK", DK_MOBILE)
