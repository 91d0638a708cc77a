"""One callback per number in a queue (callback.allow_duplicate_numbers off, the default), whichever
way the second one is asked for: the API refuses it, a caller on the line keeps one callback at the
better of the two places, an admin cannot move one onto another."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.errors import DuplicateNumber
from app.core.settings import AgentSettings, CoreSettings, QueueSettings
from app.core.states import AttemptOutcome, Outcome, RequestKind, RequestState
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, callback_settings
from tests.core.test_recovery import web_callback

CB = callback_settings(min_wait_before_offer=0.0, offer_threshold=0.0, allow_other_number=False)


def core(agents: int = 2, **cb: object) -> CoreSettings:
    callback = replace(CB, **cb)
    return CoreSettings(
        queues=(QueueSettings(name="support", callback=callback), QueueSettings(name="sales", callback=callback)),
        agents=tuple(AgentSettings(id=f"a{i + 1}", skills=(("support", 0), ("sales", 0))) for i in range(agents)),
    )


def customer_dials(h: Harness) -> list[str]:
    return [x.number for x in Harness.of(h.log, c.OriginateCustomer)]


def test_a_caller_whose_web_callback_waits_ahead_keeps_one_callback_at_that_place() -> None:
    h = Harness(core())
    web_callback(h, "w1")  # the web form's callback, first in line
    h.at(10).arrive("r2", number=DK_MOBILE_2)
    h.at(10).arrive("r1", number=DK_MOBILE)  # the same person calls in, behind r2
    out = h.dtmf("r1", "1")
    assert h.prompts(out)[-1:] == ["callback_confirmed"]
    assert "w1" not in h.engine.requests
    assert h.activities("ended", "w1")[0].data == {
        "outcome": "removed",
        "by": "holdfast",
        "reason": "merged",
        "kept": "r1",
    }
    assert h.activities("callback_merged", "r1")[0].data == {"merged": "w1", "place_taken": True}
    assert [(rid, h.engine.position(rid)) for rid in ("r1", "r2")] == [("r1", 1), ("r2", 2)]
    callbacks = sorted(h.engine.callbacks_to("support", DK_MOBILE))
    assert callbacks == ["r1"] and h.engine.requests["r1"].kind is RequestKind.CALLBACK
    h.ready("a1")
    h.ready("a2")
    h.serve_callback("r1")
    assert customer_dials(h) == [DK_MOBILE]  # rung once: before, both callbacks rang them at once


def test_a_callback_behind_the_caller_is_merged_into_the_callers_place() -> None:
    h = Harness(core())
    h.arrive("r1", number=DK_MOBILE)
    h.at(5).arrive("r2", number=DK_MOBILE_2)
    h.at(5)
    web_callback(h, "w1")  # asked on the web while they were already on the line
    h.dtmf("r1", "1")
    assert "w1" not in h.engine.requests
    assert h.activities("callback_merged", "r1")[0].data == {"merged": "w1", "place_taken": False}
    assert h.engine.position("r1") == 1 and h.engine.position("r2") == 2


def test_a_vip_callback_ahead_gives_its_priority_with_its_place() -> None:
    h = Harness(core(agents=0))
    h.arrive("r2", number=DK_MOBILE_2, priority=3)
    web_callback(h.at(1), "w1", priority=5)
    h.at(1).arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "1")
    req = h.engine.requests["r1"]
    assert (req.priority, h.engine.position("r1"), h.engine.position("r2")) == (5, 1, 2)


def test_a_quarantined_callback_is_replaced_by_the_callers_place() -> None:
    h = Harness(core(agents=1, max_attempts=2, sec_between_retries=600.0))
    web_callback(h, "w1")
    h.ready("a1")
    h.serve_callback("w1", outcome=AttemptOutcome.NO_ANSWER)
    assert h.engine.requests["w1"].state is RequestState.QUARANTINE
    h.send(ev.AgentPaused(h.now, "a1"))  # so the caller waits
    h.at(5).arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "1")
    assert "w1" not in h.engine.requests
    assert h.activities("callback_merged", "r1")[0].data == {"merged": "w1", "place_taken": False}
    assert h.engine.callbacks_to("support", DK_MOBILE) == {"r1"}


def test_while_a_callback_to_the_number_is_being_served_the_key_is_refused() -> None:
    h = Harness(core(agents=1))
    web_callback(h, "w1")
    h.ready("a1")  # the agent is rung for w1 now
    assert h.engine.requests["w1"].state is RequestState.RINGING_AGENT
    h.arrive("r1", number=DK_MOBILE)
    h.run_until(h.now + 5)
    assert h.activities("offered", "r1") == []
    assert h.prompts(h.dtmf("r1", "1")) == ["callback_unavailable"]
    assert h.activities("callback_refused", "r1")[0].data["reason"] == "callback_in_progress"
    assert h.engine.requests["w1"].state is RequestState.RINGING_AGENT  # its call goes on
    assert h.engine.requests["r1"].kind is RequestKind.INBOUND and h.engine.position("r1") == 1


def test_a_hang_up_that_becomes_a_callback_merges_too() -> None:
    h = Harness(core(abandon_callback_after=30.0))
    web_callback(h, "w1")
    h.arrive("r1", number=DK_MOBILE)
    h.at(40).hang_up("r1")
    assert h.engine.callbacks_to("support", DK_MOBILE) == {"r1"}
    assert h.engine.position("r1") == 1
    assert h.activities("ended", "w1")[0].data["outcome"] == Outcome.REMOVED.value


def test_duplicates_allowed_are_not_merged() -> None:
    h = Harness(core(allow_duplicate_numbers=True))
    web_callback(h, "w1")
    h.arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "1")
    assert h.engine.callbacks_to("support", DK_MOBILE) == {"w1", "r1"}


def test_moving_a_callback_onto_one_for_the_same_number_is_refused() -> None:
    h = Harness(core(agents=0))
    web_callback(h, "w1", queue="support")
    web_callback(h, "w2", queue="sales")
    web_callback(h, "w3", DK_MOBILE_2, queue="sales")
    with pytest.raises(DuplicateNumber) as info:
        h.send(ev.CallbackMoved(h.now, "w2", "support", by="eva"))
    assert info.value.existing_request_id == "w1"
    assert h.engine.requests["w2"].queue == "sales"
    h.send(ev.CallbackMoved(h.now, "w3", "support", by="eva"))  # another number moves
    assert h.engine.requests["w3"].queue == "support"


# ------------------------------------------------------------------------- served by phone meanwhile


def test_a_caller_who_gets_through_no_longer_needs_their_waiting_callback() -> None:
    h = Harness(core(agents=1))
    web_callback(h, "w1")  # asked on the web; nobody free
    web_callback(h, "w2", DK_MOBILE_2)
    h.at(5).arrive("r1", number="20123456", priority=1)  # then calls in (written nationally), goes first
    assert h.engine.position("r1") == 1
    h.ready("a1")
    ring = h.one(h.log, c.OriginateAgent)
    assert ring.request_id == "r1"
    h.answer(ring.leg_id)
    assert h.engine.requests["r1"].state is RequestState.CONNECTED
    assert "w1" not in h.engine.requests
    assert h.activities("ended", "w1")[0].data == {
        "outcome": "removed",
        "by": "holdfast",
        "reason": "reached_by_phone",
        "served_by": "r1",
    }
    assert h.engine.requests["w2"].state is RequestState.WAITING  # another number's callback stays


def test_the_callback_stays_when_the_queue_says_so() -> None:
    h = Harness(core(agents=1, cancel_when_served_by_phone=False, allow_duplicate_numbers=True))
    h.arrive("r1", number=DK_MOBILE)
    h.at(5)
    web_callback(h, "w1")
    h.ready("a1")
    h.answer(h.one(h.log, c.OriginateAgent).leg_id)
    assert h.engine.requests["w1"].state is RequestState.WAITING


def test_a_hidden_caller_who_gets_through_cancels_nothing() -> None:
    h = Harness(core(agents=1))
    h.arrive("r1", number=None)
    web_callback(h.at(5), "w1")
    h.ready("a1")
    h.answer(h.one(h.log, c.OriginateAgent).leg_id)
    assert h.engine.requests["w1"].state is RequestState.WAITING
