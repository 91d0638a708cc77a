"""Admin actions on callbacks, and illegal events that must raise and change nothing."""

from __future__ import annotations

import copy

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.engine import IneligibleNumber
from app.core.errors import DuplicateRequest, IllegalRequestAction, UnknownQueue, UnknownRequest
from app.core.settings import AgentSettings, CallbackSettings, CoreSettings, QueueSettings
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestState
from tests.core.harness import Harness, callback_settings, settings


def two_queues() -> Harness:
    cb = CallbackSettings(allow_other_number=False)
    core = CoreSettings(
        queues=(QueueSettings(name="support", callback=cb), QueueSettings(name="sales", callback=cb)),
        agents=(AgentSettings(id="a1", skills=(("support", 0), ("sales", 0))),),
    )
    return Harness(core)


def snapshot(h: Harness) -> str:
    e = h.engine
    return repr(
        (
            e.requests,
            e.agents,
            {q: list(o) for q, o in e.orders.items()},
            e._callers_waiting,
            sorted(e._timers._due.items()),
            e._legs,
            e._seq,
            e._leg_seq,
        )
    )


def test_callback_removed_ends_it_with_who_and_why() -> None:
    h = two_queues()
    h.arrive("r1")
    h.dtmf("r1", "1")
    out = h.send(ev.CallbackRemoved(h.now, "r1", by="alice", reason="customer called in"))
    ended = next(a for a in Harness.of(out, c.Activity) if a.kind == "ended")
    assert ended.data == {"outcome": Outcome.REMOVED.value, "by": "alice", "reason": "customer called in"}
    assert "r1" not in h.engine.requests and h.engine.waiting("support") == []


def test_callback_in_quarantine_can_be_removed() -> None:
    h = Harness(settings(callback=callback_settings(allow_other_number=False, max_attempts=2)))
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.ready("a1")
    h.serve_callback("r1", AttemptOutcome.BUSY)
    assert h.engine.requests["r1"].state is RequestState.QUARANTINE
    h.send(ev.CallbackRemoved(h.now, "r1", by="bob"))
    assert "r1" not in h.engine.requests
    h.run_until(h.now + 1000)  # the quarantine timer must not bring it back
    assert "r1" not in h.engine.requests


def test_callback_moved_goes_to_the_end_of_the_target_queue() -> None:
    h = two_queues()
    h.arrive("r1", queue="support")
    h.dtmf("r1", "1")
    h.at(5).arrive("s1", queue="sales")
    out = h.send(ev.CallbackMoved(h.now, "r1", "sales", by="alice", reason="wrong queue"))
    moved = next(a for a in Harness.of(out, c.Activity) if a.kind == "moved")
    assert moved.data["from_queue"] == "support" and moved.data["to_queue"] == "sales"
    assert moved.data["place_kept"] is False and moved.data["by"] == "alice"
    assert [r.id for r in h.engine.waiting("sales")] == ["s1", "r1"]
    assert h.engine.waiting("support") == []
    assert h.engine.requests["r1"].queue == "sales"


@pytest.mark.parametrize(
    ("support_age", "sales_age", "expires_at"), [(1000.0, 5000.0, 5000.0), (5000.0, 1000.0, 1000.0)]
)
def test_a_moved_callback_lives_as_long_as_its_new_queue_allows(
    support_age: float, sales_age: float, expires_at: float
) -> None:
    # As after a restart, which reads the age allowed from the queue the callback is in.
    def queue(name: str, age: float) -> QueueSettings:
        return QueueSettings(name=name, callback=CallbackSettings(allow_other_number=False, max_age=age))

    h = Harness(CoreSettings(queues=(queue("support", support_age), queue("sales", sales_age))))
    h.arrive("r1", queue="support")
    h.dtmf("r1", "1")
    asked = h.engine.requests["r1"].callback_requested_at
    assert asked is not None
    h.at(5).send(ev.CallbackMoved(h.now, "r1", "sales", by="alice"))
    h.run_until(asked + expires_at - 1)
    assert h.engine.requests["r1"].state is RequestState.WAITING
    out = h.run_until(asked + expires_at + 1)
    assert "r1" not in h.engine.requests
    assert [a.data["outcome"] for a in Harness.of(out, c.Activity) if a.kind == "ended"] == ["expired"]


def _setup_inbound(h: Harness) -> None:
    h.arrive("r1")


def _setup_ringing_callback(h: Harness) -> None:
    h.arrive("r1")
    h.dtmf("r1", "1")
    h.ready("a1")


@pytest.mark.parametrize(
    ("setup", "event", "error"),
    [
        (_setup_inbound, lambda now: ev.CallbackRemoved(now, "r1", by="x"), IllegalRequestAction),
        (_setup_inbound, lambda now: ev.CallbackMoved(now, "r1", "sales", by="x"), IllegalRequestAction),
        (_setup_inbound, lambda now: ev.CallbackRemoved(now, "nope", by="x"), UnknownRequest),
        (_setup_ringing_callback, lambda now: ev.CallbackRemoved(now, "r1", by="x"), IllegalRequestAction),
        (_setup_ringing_callback, lambda now: ev.CallbackMoved(now, "r1", "sales", by="x"), IllegalRequestAction),
        (_setup_inbound, lambda now: ev.CallerArrived(now, "r1", "support", "+4520123456"), DuplicateRequest),
        (_setup_inbound, lambda now: ev.CallerArrived(now, "r9", "nowhere", "+4520123456"), UnknownQueue),
        (_setup_inbound, lambda now: ev.CallbackRequested(now, "w1", "support", "anonymous"), IneligibleNumber),
        (_setup_inbound, lambda now: ev.CallbackRequested(now, "r1", "support", "+4520123456"), DuplicateRequest),
    ],
)
def test_illegal_admin_and_request_events_raise_and_leave_state_unchanged(setup, event, error) -> None:  # type: ignore[no-untyped-def]
    h = two_queues()
    setup(h)
    before = snapshot(h)
    with pytest.raises(error):
        h.send(event(h.now + 1))
    assert snapshot(h) == before


def test_moving_to_unknown_queue_is_refused() -> None:
    h = two_queues()
    h.arrive("r1")
    h.dtmf("r1", "1")
    before = snapshot(h)
    with pytest.raises(UnknownQueue):
        h.send(ev.CallbackMoved(h.now, "r1", "nowhere", by="x"))
    assert snapshot(h) == before


def test_removal_at_the_instant_the_callback_expires_is_not_a_crash() -> None:
    h = Harness(settings(callback=callback_settings(allow_other_number=False, max_age=100)))
    h.arrive("r1")
    h.dtmf("r1", "1")
    out = h.send(ev.CallbackRemoved(h.now + 100, "r1", by="x"))  # the expiry is due first
    assert [n.kind for n in Harness.of(out, c.Notify)] == ["callback_expired"]
    assert "r1" not in h.engine.requests


def test_wrap_up_extension_arriving_after_wrap_up_ended_is_not_a_crash() -> None:
    h = Harness(settings(wrap_up=10))
    h.ready("a1")
    ring = Harness.one(h.arrive("r1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    h.leg_hung_up(ring.leg_id)
    h.send(ev.WrapUpExtended(h.now + 11, "a1", 30))  # the wrap-up end (due at +10) runs first
    assert h.engine.agents["a1"].state is AgentState.READY


def test_pause_arriving_when_a_requested_logout_took_effect_is_not_a_crash() -> None:
    h = Harness(settings(wrap_up=10))
    h.ready("a1")
    ring = Harness.one(h.arrive("r1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    h.send(ev.AgentLoggedOut(h.now, "a1"))
    h.leg_hung_up(ring.leg_id)
    state = copy.copy(h.engine.agents["a1"].state)
    assert state is AgentState.WRAP_UP
    h.send(ev.AgentPaused(h.now + 10, "a1"))  # wrap-up ends first: the agent is logged off by then
    assert h.engine.agents["a1"].state is AgentState.LOGGED_OFF
