"""What a caller keys and is told stays true when the queue moves around them: an agent rung while
they key a number, the close sweep passing while an agent rings, an offer after closing time, a
position with callbacks held back for callers on the line, a number begun and never finished."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import AnnounceSettings, DispatchPolicy
from app.core.states import AttemptOutcome, RequestState
from tests.core.harness import DK_MOBILE_2, Harness, callback_settings, settings
from tests.core.test_hours import WEEKDAYS, at


def offer_items(h: Harness, leg: str) -> list[list[str]]:
    return [
        [i.name for i in p.items]
        for p in h.of(h.log, c.PlayPrompt)
        if p.leg_id == leg and p.items[0].name == "callback_offer"
    ]


def test_a_caller_rung_while_keying_a_number_never_has_it_put_together_across_the_ring() -> None:
    """Keys pressed during the ring are not read: "45" before and "123456#" after made +45123456…,
    a stranger's number, confirmed. Now the ring closes the menu, and the caller can ask again."""
    h = Harness(settings(agents=1, callback=callback_settings()))
    h.arrive("r1")
    h.dtmf("r1", "12")  # the callback key, then "another number"
    h.at(1).dtmf("r1", "45")
    ring = h.one(h.at(1).ready("a1"), c.OriginateAgent)  # an agent is free: r1 is rung mid-entry
    assert h.engine.requests["r1"].menu is None
    assert h.activities("callback_menu_left", "r1")[-1].data["reason"] == "agent_rung"
    h.at(1).dtmf("r1", "30")  # during the ring: not read
    h.at(1).fail(ring.leg_id, AttemptOutcome.BUSY)  # the agent rejects: r1 back in place
    req = h.engine.requests["r1"]
    assert req.state is RequestState.WAITING and req.menu is None and req.callback_number is None
    h.at(1).dtmf("r1", "12")  # asks again and keys the whole number
    out = h.dtmf("r1", "4530123456#")
    assert h.engine.requests["r1"].callback_number == DK_MOBILE_2 and "callback_confirmed" in h.prompts(out)


def test_a_caller_back_in_a_closed_queue_after_the_sweep_is_swept_then() -> None:
    """Being rung when max_wait_after_close ran out, the caller came back after the sweep and held
    all night: no other sweep comes before the next opening."""
    h = Harness(settings(hours=WEEKDAYS, max_wait_after_close=600.0), start=at("2026-12-21 16:50:00"))
    h.arrive("r1")
    h.run_until(at("2026-12-21 17:09:55"))
    ring = h.one(h.ready("a1"), c.OriginateAgent)  # rung 5 s before the sweep
    h.run_until(at("2026-12-21 17:10:05"))  # the sweep passes while the agent rings
    assert h.engine.requests["r1"].state is RequestState.RINGING_AGENT
    out = h.fail(ring.leg_id, AttemptOutcome.BUSY)  # back in place, after the sweep
    out += h.tick()
    assert "r1" not in h.engine.requests
    assert h.activities("ended", "r1")[-1].data["outcome"] == "closed"
    assert c.PlayPrompt("r1", (c.PromptItem("closed"),), hangup_after=True) in out


def test_after_closing_time_neither_the_offer_nor_its_confirmation_promise_the_place() -> None:
    """Callbacks wait for the next opening while the callers on the line are served tonight."""
    h = Harness(
        settings(agents=1, hours=WEEKDAYS, callback=callback_settings(allow_other_number=False)),
        start=at("2026-12-21 16:59:00"),
    )
    h.arrive("r1")
    h.arrive("r2")
    h.run_until(at("2026-12-21 16:59:50"))
    assert offer_items(h, "r1")[-1] == ["callback_offer"]  # open: the plain tail, "you keep your place"
    h.run_until(at("2026-12-21 17:00:30"))
    assert h.activities("offered", "r1")[-1].at >= at("2026-12-21 17:00:00")
    assert offer_items(h, "r1")[-1] == ["callback_offer", "callback_offer_tail_no_place"]
    out = h.dtmf("r1", "1")
    assert "callback_confirmed_no_place" in h.prompts(out) and "callback_confirmed" not in h.prompts(out)
    assert h.one(h.ready("a1"), c.OriginateAgent).request_id == "r2"  # indeed served first


def test_a_caller_is_told_the_position_they_will_be_served_in() -> None:
    """dispatch: when_no_callers_waiting holds callbacks back while anyone is on the line: a caller
    behind three of them is served next, and was told "number 4" (and an estimate for 3 ahead)."""
    h = Harness(
        settings(
            agents=1,
            callback=callback_settings(dispatch=DispatchPolicy.WHEN_NO_CALLERS_WAITING),
            announce=AnnounceSettings(position=True),
        )
    )
    for i, number in enumerate(("+4520123456", "+4530123456", "+4526123456")):
        h.send(ev.CallbackRequested(h.now, f"w{i}", "support", number))
    h.arrive("r0", number="+4540123456")
    out = h.arrive("r1", number="+4541123456") + h.tick()
    told = [i.value for p in h.of(out, c.PlayPrompt) for i in p.items if i.name == "count" and p.leg_id == "r1"]
    assert told == [2]  # r0 ahead; the callbacks are not
    assert h.engine.served_ahead(h.engine.requests["r1"]) == 1
    assert h.engine.position("r1") == 5  # the queue's place order, as supervisors see it, is unchanged
    assert h.one(h.ready("a1"), c.OriginateAgent).request_id == "r0"


def test_a_number_begun_and_never_finished_is_refused_aloud_at_the_timeout() -> None:
    """The menu used to close in silence: the caller who keyed 3012345 and looked up the last digit
    heard nothing, and may hang up believing a callback was booked."""
    h = Harness(settings(callback=callback_settings()))
    h.arrive("r1")
    h.dtmf("r1", "12")
    h.at(1).dtmf("r1", "3012345")
    out = h.run_until(h.now + 10.5)
    assert "callback_number_invalid" in h.prompts(out)
    assert h.activities("callback_menu_timeout", "r1")[-1].data == {"step": "enter", "digits": 7}
    assert h.engine.requests["r1"].menu is None
    # a menu left untouched (no key after "press 1 or 2") still closes quietly
    h.arrive("r2", number="+4540123456")
    h.dtmf("r2", "1")
    out = h.run_until(h.now + 10.5)
    assert "callback_number_invalid" not in h.prompts(out)


def test_the_menu_waits_its_timeout_after_its_prompt_has_been_heard() -> None:
    """The choose prompt takes about 6 s to say: counted from its start, the caller had 4 s of the
    10 to answer; now the silence is counted from its end."""
    h = Harness(settings(callback=callback_settings()))
    h.arrive("r1")
    out = h.dtmf("r1", "1")
    prompt = h.one(out, c.PlayPrompt)
    assert prompt.items == (c.PromptItem("callback_choose_number"),) and prompt.report_finish
    h.at(6).send(ev.PromptFinished(h.now, "r1"))  # heard to its end
    h.run_until(h.now + 9.5)  # 15.5 s after the key, 9.5 s after the prompt's end
    assert h.engine.requests["r1"].menu is not None
    out = h.dtmf("r1", "2")
    assert h.one(out, c.PlayPrompt).report_finish  # the next step's prompt is timed the same way
    h.run_until(h.now + 10.5)
    assert h.engine.requests["r1"].menu is None
