"""A waiting callback put at a position of its queue (CallbackRepositioned): it is served from
there, everyone else keeps their order, positions stay 1..n, refusals change nothing — also with
priorities, callers arriving in the same instant and requests away ringing an agent meanwhile."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import commands as c
from app.core import events as ev
from app.core.errors import IllegalRequestAction, InvalidPosition, UnknownRequest
from app.core.settings import AgentSettings, CallbackOrder, CoreSettings, QueueSettings
from app.core.states import AttemptOutcome, RequestState
from tests.core.harness import Harness, callback_settings
from tests.core.test_admin import snapshot


def engine(order: CallbackOrder = CallbackOrder.KEEP_PLACE, agents: int = 1) -> Harness:
    cb = callback_settings(allow_other_number=False, allow_duplicate_numbers=True, order=order, max_attempts=2)
    core = CoreSettings(
        queues=(QueueSettings(name="support", callback=cb), QueueSettings(name="sales", callback=cb)),
        agents=tuple(AgentSettings(id=f"a{i + 1}", skills=(("support", 0),)) for i in range(agents)),
    )
    return Harness(core)


def callback(h: Harness, rid: str, priority: int = 0, queue: str = "support") -> None:
    h.send(ev.CallbackRequested(h.now, rid, queue, "+4520123456", priority))


def order(h: Harness, queue: str = "support") -> list[str]:
    return [r.id for r in h.engine.waiting(queue)]


def move(h: Harness, rid: str, position: int) -> list[c.Command]:
    return h.send(ev.CallbackRepositioned(h.now, rid, position, by="sam", reason="VIP customer"))


def test_a_callback_moved_first_is_the_next_one_an_agent_is_rung_for() -> None:
    h = engine()
    h.arrive("c1")
    h.at(1).arrive("c2")
    callback(h.at(1), "cb1")
    callback(h.at(1), "cb2")
    assert order(h) == ["c1", "c2", "cb1", "cb2"]
    out = move(h, "cb2", 1)
    assert order(h) == ["cb2", "c1", "c2", "cb1"]
    assert [h.engine.position(r) for r in order(h)] == [1, 2, 3, 4]
    done = Harness.one(out, c.Activity)
    assert (done.kind, done.request_id, done.data) == (
        "repositioned",
        "cb2",
        {"from_position": 4, "to_position": 1, "by": "sam", "reason": "VIP customer"},
    )
    rung = Harness.one(h.ready("a1"), c.OriginateAgent)
    assert rung.request_id == "cb2"


def test_a_callback_moved_back_or_to_the_middle_keeps_everyone_elses_order() -> None:
    h = engine()
    for i in range(1, 6):
        callback(h.at(1), f"cb{i}")
    move(h, "cb1", 5)
    assert order(h) == ["cb2", "cb3", "cb4", "cb5", "cb1"]
    move(h, "cb5", 2)
    assert order(h) == ["cb2", "cb5", "cb3", "cb4", "cb1"]
    move(h, "cb3", 3)  # where it is: nothing moves, still logged
    assert order(h) == ["cb2", "cb5", "cb3", "cb4", "cb1"]
    assert [a.data["to_position"] for a in h.activities("repositioned")] == [5, 2, 3]


def test_first_goes_ahead_of_a_higher_priority_caller() -> None:
    h = engine()
    h.arrive("vip", priority=5)
    callback(h.at(1), "cb1")
    move(h, "cb1", 1)
    assert order(h) == ["cb1", "vip"]
    assert h.engine.requests["cb1"].priority == 0  # its own priority is unchanged
    move(h, "cb1", 2)
    assert order(h) == ["vip", "cb1"]


def test_callers_of_the_same_instant_make_room_for_it() -> None:
    """Same priority and place time: the key has no room by sequence alone; those behind move by one."""
    h = engine()
    for rid in ("c1", "c2", "c3"):
        h.arrive(rid)  # all at the same instant
    callback(h, "cb1")
    move(h, "cb1", 2)
    assert order(h) == ["c1", "cb1", "c2", "c3"]
    move(h, "cb1", 3)
    assert order(h) == ["c1", "c2", "cb1", "c3"]
    h.engine.take_touched()
    move(h, "cb1", 2)
    # the neighbours whose keys changed are handed to the store with the step, as the moved one is
    assert {r.id for r in h.engine.take_touched()} == {"cb1", "c2", "c3"}


def test_a_request_back_from_ringing_finds_its_place_after_a_move() -> None:
    h = engine()
    h.arrive("c1")
    h.at(1).arrive("c2")
    callback(h.at(1), "cb1")
    rung = Harness.one(h.ready("a1"), c.OriginateAgent)
    assert rung.request_id == "c1" and order(h) == ["c2", "cb1"]
    move(h, "cb1", 1)
    h.fail(rung.leg_id, AttemptOutcome.NO_ANSWER)  # c1 goes back to its own place
    assert order(h) == ["c1", "cb1", "c2"]


@pytest.mark.parametrize(
    ("setup", "rid", "position", "error"),
    [
        ("plain", "nobody", 1, UnknownRequest),
        ("plain", "c1", 1, IllegalRequestAction),  # a caller on the line: not a callback
        ("plain", "cb1", 0, InvalidPosition),
        ("plain", "cb1", 4, InvalidPosition),  # three hold a place
        ("quarantine", "cbq", 1, IllegalRequestAction),
        ("oldest_first", "cb1", 1, IllegalRequestAction),
    ],
)
def test_refusals_change_nothing(setup: str, rid: str, position: int, error: type[Exception]) -> None:
    h = engine(CallbackOrder.OLDEST_FIRST if setup == "oldest_first" else CallbackOrder.KEEP_PLACE)
    h.arrive("c1")
    callback(h.at(1), "cb1")
    callback(h.at(1), "cb2")
    if setup == "quarantine":
        callback(h.at(1), "cbq")
        move(h, "cbq", 1)
        h.ready("a1")
        h.serve_callback("cbq", AttemptOutcome.BUSY)
        assert h.engine.requests["cbq"].state is RequestState.QUARANTINE
    before = snapshot(h)
    with pytest.raises(error):
        move(h, rid, position)
    assert snapshot(h) == before


# ---- the property ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_moves_keep_the_order_a_permutation_with_the_moved_one_where_asked(data: st.DataObject) -> None:
    """Arrivals (ties in time and priority), callbacks, rings given back, calls served, and moves
    to any position: after each move the callback is where asked and the others' order is the
    one they had; at every step the order is the waiting requests sorted by key, positions 1..n."""
    h = engine(agents=2)
    ids = 0
    ringing: dict[str, tuple[str, str]] = {}  # agent -> (request, leg)
    for _ in range(data.draw(st.integers(5, 60), label="steps")):
        kind = data.draw(st.sampled_from(["caller", "callback", "move", "move", "move", "ring", "back"]), label="k")
        h.at(data.draw(st.sampled_from([0.0, 0.0, 1.0]), label="dt"))
        if kind in ("caller", "callback"):
            ids += 1
            priority = data.draw(st.sampled_from([0, 0, 1]), label="prio")
            if kind == "caller":
                h.arrive(f"r{ids}", priority=priority)
            else:
                callback(h, f"r{ids}", priority)
        elif kind == "move":
            h.tick()  # what is due now (a ring timing out) happens first, not inside the move
            held = order(h)
            callbacks = [r for r in held if h.engine.requests[r].is_callback]
            if not callbacks:
                continue
            rid = data.draw(st.sampled_from(callbacks), label="rid")
            position = data.draw(st.integers(1, len(held)), label="position")
            move(h, rid, position)
            after = order(h)
            assert after.index(rid) + 1 == position == h.engine.position(rid)
            assert [r for r in after if r != rid] == [r for r in held if r != rid]
        elif kind == "ring":
            agent = data.draw(st.sampled_from(["a1", "a2"]), label="agent")
            if agent not in ringing and h.engine.agents[agent].request_id is None:
                for o in Harness.of(h.ready(agent), c.OriginateAgent):
                    ringing[o.agent_id] = (o.request_id, o.leg_id)
        elif kind == "back" and ringing:
            agent = data.draw(st.sampled_from(sorted(ringing)), label="back")
            _, leg = ringing.pop(agent)
            h.fail(leg, AttemptOutcome.NO_ANSWER)  # the request returns to its place
            h.send(ev.AgentPaused(h.now, agent, "break"))
        waiting = sorted(
            (r for r in h.engine.requests.values() if r.queue == "support" and r.state is RequestState.WAITING),
            key=lambda r: r.place,
        )
        assert order(h) == [r.id for r in waiting]
        assert [h.engine.position(r.id) for r in waiting] == list(range(1, len(waiting) + 1))
        assert len({r.place for r in h.engine.requests.values()}) == len(h.engine.requests)
