"""Issue 11, the core's side: faults and bad input that used to crash, loop, go silent or lie.

Each test here failed on the code before the fix (noted where the failure was not an exception).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.core import commands as c
from app.core import events as ev
from app.core.errors import DuplicateNumber, DuplicateRequest, InvalidPriority
from app.core.settings import AgentSettings, CoreSettings, QueueSettings
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestKind, RequestState
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, callback_settings, settings
from tests.core.test_recovery import callback_core, restart, stored, web_callback

# ------------------------------------------------------------------------- 1. dial numbering


def dial(h: Harness, rid: str = "r1") -> tuple[str, c.OriginateCustomer]:
    """The agent just rung for `rid` answers and hears the whisper; returns (agent leg, the dial)."""
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == rid][-1]
    h.answer(ring.leg_id)
    return ring.leg_id, h.one(h.prompt_done(ring.leg_id), c.OriginateCustomer)


def test_interrupted_dial_then_redial_gets_a_new_number_and_the_codec_keeps_both() -> None:
    h = Harness(callback_core(max_attempts=1))
    web_callback(h, "r1")
    h.ready("a1")
    _, first = dial(h)
    h.send(ev.LegLost(h.now, first.leg_id, "asterisk_restarted"))  # no outcome: not counted
    _, second = dial(h)
    assert (first.attempt, second.attempt) == (1, 2)  # was (1, 1): UNIQUE(request, number) refused it forever
    req = h.engine.requests["r1"]
    assert [a.number for a in req.attempts] == [1, 2]
    assert [a.outcome for a in req.attempts] == [AttemptOutcome.INTERRUPTED, None]
    assert req.counted_attempts == 1
    started = [a.data["attempt"] for a in h.activities("attempt_started", "r1")]
    assert started == [1, 2]
    back = stored(req)
    assert back.attempts == req.attempts  # both rows kept, numbers distinct
    h.fail(second.leg_id, AttemptOutcome.NO_ANSWER)
    assert h.activities("attempt_outcome", "r1")[-1].data["attempt"] == 2
    ended = h.activities("ended", "r1")[0].data
    assert ended["outcome"] == Outcome.MISSED.value and ended["attempts"] == 1  # one counted


def test_third_dial_after_an_interruption_and_a_no_answer_is_attempt_3_and_survives_a_restart() -> None:
    core = callback_core(max_attempts=2, sec_between_retries=30.0)
    h = Harness(core, hear_confirmations=False)
    web_callback(h, "r1")
    h.ready("a1")
    _, d1 = dial(h)
    h.send(ev.LegLost(h.now, d1.leg_id, "asterisk_restarted"))
    _, d2 = dial(h)
    h.fail(d2.leg_id, AttemptOutcome.NO_ANSWER)
    assert h.engine.requests["r1"].state is RequestState.QUARANTINE
    r = restart(h, core, after=40.0)  # through the codec
    r.send(ev.LegsReconciled(r.now))
    _, d3 = dial(r)
    assert d3.attempt == 3
    r.fail(d3.leg_id, AttemptOutcome.BUSY)
    assert r.activities("ended", "r1")[0].data["attempts"] == 2


# ------------------------------------------------------------------------- 2. timers after a restore


def test_caller_rung_while_in_the_menu_leaves_it_and_a_restore_has_no_menu_to_time() -> None:
    """Rung through to an agent, the caller leaves the menu (keys during the ring are not read:
    tests/core/test_caller_told.py), so a restore finds no menu and no menu timer to re-arm."""
    cb = callback_settings(min_wait_before_offer=0.0, offer_threshold=0.0)
    core = settings(agents=1, callback=cb)
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1")
    h.dtmf("r1", "1")  # in the menu (choose)
    h.ready("a1")  # ... and rung through to the agent
    assert h.engine.requests["r1"].state is RequestState.RINGING_AGENT
    assert h.engine.requests["r1"].menu is None
    r = restart(h, core)
    assert r.engine.requests["r1"].menu is None and r.engine._timers.get("menu", "r1") is None


# ------------------------------------------------------------------------- 3. the caller's words survive a restart

MENU = callback_settings(allow_other_number=True, min_wait_before_offer=0.0, offer_threshold=0.0)


def test_caller_hearing_the_confirmation_hears_it_again_after_a_restart_then_is_hung_up() -> None:
    core = callback_core()  # allow_other_number off: the key books the caller's number
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1")
    h.dtmf("r1", "1")
    assert h.engine.requests["r1"].is_callback
    r = restart(h, core)  # killed while the confirmation played
    assert ("r1", "r1", "customer", True) in r.engine.expected_legs()  # the shell adopts the line
    out = r.send(ev.LegsReconciled(r.now))
    prompt = r.one(out, c.PlayPrompt)
    assert prompt.leg_id == "r1" and prompt.items == (c.PromptItem("callback_confirmed"),) and prompt.hangup_after
    assert not r.of(out, c.JoinHolding)  # the shell re-joins it to holding by itself; nothing twice
    r.hang_up("r1")  # the shell hangs up after the prompt and reports the line ended
    req = r.engine.requests["r1"]
    assert req.caller_line is None and req.is_callback and req.state is RequestState.WAITING
    assert r.engine.expected_legs() == []
    assert r.activities("caller_line_ended", "r1")


def test_confirmation_line_gone_after_a_restart_changes_nothing_else() -> None:
    core = callback_core()
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1")
    h.at(1).arrive("r2", DK_MOBILE_2)
    h.dtmf("r2", "1")
    r = restart(h, core)
    out = r.send(ev.LegLost(r.now, "r2", "channel_vanished"))
    assert out == [c.Activity("caller_line_ended", "r2", None, "support", r.now, {"how": "channel_vanished"})]
    out = r.send(ev.LegsReconciled(r.now))
    assert not r.of(out, c.PlayPrompt)
    req = r.engine.requests["r2"]
    assert req.is_callback and req.state is RequestState.WAITING and req.attempts == []
    assert r.engine.position("r2") == 2


def test_normal_confirmation_end_clears_the_line_without_a_restart() -> None:
    core = callback_core()
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1")
    h.dtmf("r1", "1")
    assert h.engine.requests["r1"].caller_line == "r1"
    h.hang_up("r1")
    assert h.engine.requests["r1"].caller_line is None
    assert h.engine.expected_legs() == []


def keying_when_killed(keys_before: str) -> tuple[Harness, CoreSettings]:
    core = settings(agents=0, callback=MENU)
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1", DK_MOBILE)
    h.dtmf("r1", "1" + keys_before)  # the offer key, then the menu
    return restart(h, core), core


def test_keys_after_a_restart_mid_number_never_book_the_caller_id_number() -> None:
    r, _core = keying_when_killed("22012")
    # The rest of what the caller keys arrives; before the fix the menu was gone and "1" "1" at the
    # top booked the caller-id number the caller was replacing.
    r.dtmf("r1", "1134#")
    req = r.engine.requests["r1"]
    assert req.kind is RequestKind.INBOUND and not r.activities("callback_accepted")
    assert req.menu is not None and req.menu.step == "enter" and req.menu.resuming


def test_caller_rung_while_in_the_menu_leaves_it_once_legs_are_reconciled() -> None:
    core = settings(agents=1, callback=MENU)
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1")
    h.dtmf("r1", "12")
    h.ready("a1")
    r = restart(h, core)
    out = r.send(ev.LegsReconciled(r.now))
    assert not r.of(out, c.PlayPrompt) and r.engine.requests["r1"].menu is None


def test_restored_menu_outlasts_a_slow_reconnect() -> None:
    r, core = keying_when_killed("22012")
    r.run_until(r.now + core.menu_timeout + 30.0)  # the shell has not reconciled yet
    assert r.engine.requests["r1"].menu is not None
    r.dtmf("r1", "11")  # the rest of the old entry: still not taken as a choice at the top
    assert not r.activities("callback_accepted")


def test_caller_keying_a_number_is_prompted_again_and_only_a_fresh_entry_books() -> None:
    r, _core = keying_when_killed("22012")
    out = r.send(ev.LegsReconciled(r.now))
    prompt = r.one(out, c.PlayPrompt)
    assert prompt.items == (c.PromptItem("callback_enter_number"),) and prompt.report_finish
    r.dtmf("r1", "3456#")  # the rest of the old entry, over the prompt (cutting it short): ignored
    out = r.prompt_done("r1")
    assert r.one(out, c.PlayPrompt).items == (c.PromptItem("callback_enter_number"),)  # again, in full
    out = r.prompt_done("r1")  # heard to its end with no key: keys count from here
    assert not r.of(out, c.PlayPrompt)
    assert r.activities("callback_menu_resumed", "r1")
    out = r.dtmf("r1", "30123456#")
    assert r.prompts(out) == ["callback_confirmed"]
    assert r.engine.requests["r1"].callback_number == DK_MOBILE_2
    assert [a.data["number"] for a in r.activities("callback_accepted")] == [DK_MOBILE_2]


def test_caller_choosing_is_prompted_to_choose_again_after_a_restart() -> None:
    r, _core = keying_when_killed("")
    out = r.send(ev.LegsReconciled(r.now))
    assert r.one(out, c.PlayPrompt).items == (c.PromptItem("callback_choose_number"),)
    r.prompt_done("r1")
    out = r.dtmf("r1", "1")
    assert r.prompts(out) == ["callback_confirmed"] and r.engine.requests["r1"].callback_number == DK_MOBILE


def test_caller_in_the_menu_whose_line_is_gone_after_a_restart_is_dropped_without_a_prompt() -> None:
    r, _core = keying_when_killed("220")
    out = r.send(ev.LegLost(r.now, "r1", "asterisk_restarted"))
    assert r.activities("ended", "r1")[0].data["outcome"] == Outcome.DROPPED.value
    assert not r.of(out + r.send(ev.LegsReconciled(r.now)), c.PlayPrompt)


# ------------------------------------------------------------------------- 4. keyed numbers


def in_enter_step() -> Harness:
    h = Harness(settings(agents=0, callback=MENU))
    h.arrive("r1", DK_MOBILE)
    h.dtmf("r1", "12")
    return h


@pytest.mark.parametrize(
    ("keys", "prompts"),
    [
        ("004670123456#", [["callback_number_invalid", "callback_enter_number"]]),  # foreign
        ("2012*456#", [["callback_enter_number"], ["callback_number_invalid", "callback_enter_number"]]),
        ("#", [["callback_number_invalid", "callback_enter_number"]]),
        ("1" * 25 + "#", [["callback_number_invalid", "callback_enter_number"]]),  # never shortened
    ],
)
def test_every_keyed_entry_gets_exactly_one_answer(keys: str, prompts: list[list[str]]) -> None:
    h = in_enter_step()
    answers = [h.prompts([p]) for k in keys for p in h.of(h.dtmf("r1", k), c.PlayPrompt)]
    assert answers == prompts
    assert len(h.activities("callback_number_refused", "r1")) == keys.count("#")


def test_a_lone_hash_is_refused_once_as_invalid_not_hidden() -> None:
    h = in_enter_step()
    h.dtmf("r1", "#")
    assert [a.data["reason"] for a in h.activities("callback_number_refused")] == ["invalid"]


def test_digits_keyed_in_the_choose_step_start_the_number_and_a_later_1_is_not_a_choice() -> None:
    h = Harness(settings(agents=0, callback=MENU))
    h.arrive("r1", DK_MOBILE)
    h.dtmf("r1", "1")
    out = h.dtmf("r1", "30123451#")  # skipped the "2": the "1" inside must not book the caller's number
    assert h.prompts(out) == ["callback_confirmed"]
    assert h.engine.requests["r1"].callback_number == "+4530123451"


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.text("0123456789*#", max_size=40))
def test_any_key_sequence_in_the_enter_step_gets_one_answer_per_entry(keys: str) -> None:
    h = in_enter_step()
    for key in keys:
        menu = h.engine.requests["r1"].menu
        if menu is None or menu.step != "enter":
            return  # booked, or back to the music after the second refusal: the menu is over
        had_digits = bool(menu.digits)
        out = h.dtmf("r1", key)
        prompts = h.of(out, c.PlayPrompt)
        kinds = [a.kind for a in h.of(out, c.Activity)]
        verdicts = [k for k in kinds if k in ("callback_accepted", "callback_number_refused")]
        if key.isdigit():
            assert prompts == [] and verdicts == [], f"{key!r} answered: {out}"
        elif key == "#":
            assert len(prompts) == 1, f"# got {len(prompts)} prompts: {out}"
            assert len(verdicts) == 1, f"# got verdicts {verdicts}"
            assert all(p.leg_id == "r1" for p in prompts)
        elif had_digits:  # "*" with digits: start again, told so
            assert h.prompts(out) == ["callback_enter_number"] and verdicts == []
        else:  # "*" with nothing keyed: leaves the menu, recorded once
            assert prompts == [] and kinds == ["callback_menu_left"]
            assert h.engine.requests["r1"].menu is None


# ------------------------------------------------------------------------- 5. agents under faults


def two_agents(**queue: object) -> CoreSettings:
    q = QueueSettings(name="support", callback=callback_settings(allow_other_number=False), wrap_up=0.0, **queue)
    return CoreSettings(
        queues=(q,),
        agents=(AgentSettings("a1", skills=(("support", 0),)), AgentSettings("a2", skills=(("support", 1),))),
    )


def test_agent_hanging_up_every_whisper_is_paused_after_max_refusals_and_others_serve() -> None:
    h = Harness(two_agents(max_agent_refusals=2))
    for i, number in enumerate(["+4520123456", "+4530123456", "+4520123457"]):
        web_callback(h.at(1), f"r{i + 1}", number)
    h.ready("a1")  # the misbehaving agent (lower penalty: always tried first)
    for _ in range(10):
        rings = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.agent_id == "a1"]
        ring = rings[-1]
        if (
            h.engine.requests.get(ring.request_id) is None
            or h.engine.requests[ring.request_id].agent_leg != ring.leg_id
        ):
            break
        h.answer(ring.leg_id)
        h.leg_hung_up(ring.leg_id)  # hangs up during the whisper
    a1_rings = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.agent_id == "a1"]
    assert len(a1_rings) == 2  # bounded: was endless (each time back to ready after wrap-up)
    assert h.engine.agents["a1"].state is AgentState.PAUSED
    assert h.engine.agents["a1"].pause_reason == "not_responding"
    h.ready("a2")
    served = []
    for _ in range(3):
        ring = [x for x in h.log if isinstance(x, c.OriginateAgent)][-1]
        assert ring.agent_id == "a2"
        _, d = dial(h, ring.request_id)
        h.answer(d.leg_id)
        h.leg_hung_up(d.leg_id)
        served.append(ring.request_id)
    assert sorted(served) == ["r1", "r2", "r3"]
    assert all(h.activities("ended", r)[0].data["outcome"] == "served" for r in served)


def test_one_refusal_below_the_limit_keeps_the_agent_ready_and_talking_resets_the_count() -> None:
    h = Harness(two_agents(max_agent_refusals=2, ring_timeout=15.0))
    h.ready("a1")
    h.arrive("r1")
    h.run_until(h.now + 15.0)  # rings out once: a refusal, not yet a pause
    agent = h.engine.agents["a1"]
    assert agent.state is AgentState.RINGING and agent.refusals == 1  # rung again at once (only agent)
    leg = h.engine.requests["r1"].agent_leg
    assert leg is not None
    h.answer(leg)
    assert agent.refusals == 0


def test_pause_asked_for_during_the_whisper_wins_over_a_refusal() -> None:
    h = Harness(two_agents(max_agent_refusals=1))
    web_callback(h, "r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    h.send(ev.AgentPaused(h.now, "a1", "lunch"))  # busy in the whisper: takes effect after
    h.leg_hung_up(ring.leg_id)
    agent = h.engine.agents["a1"]
    assert (agent.state, agent.pause_reason) == (AgentState.PAUSED, "lunch")


def test_ring_timeout_still_pauses_at_once_by_default() -> None:
    h = Harness(settings(agents=1, wrap_up=0.0))
    h.ready("a1")
    h.arrive("r1")
    h.run_until(h.now + 15.0)
    assert h.engine.agents["a1"].pause_reason == "not_responding"


@pytest.mark.parametrize("cause", [3, 20, 27])
def test_agent_phone_unreachable_marks_the_agent_unreachable_not_paused(cause: int) -> None:
    h = Harness(settings(agents=1, wrap_up=0.0))
    h.ready("a1")
    h.arrive("r1")
    leg = h.engine.requests["r1"].agent_leg
    assert leg is not None
    out = h.send(ev.LegFailed(h.now, leg, AttemptOutcome.FAILED, cause))
    agent = h.engine.agents["a1"]
    assert agent.state is AgentState.READY and agent.pause_reason is None and not agent.reachable
    assert not h.of(out, c.OriginateAgent)  # not rung again while unreachable
    assert h.engine.requests["r1"].state is RequestState.WAITING and h.engine.position("r1") == 1
    out = h.send(ev.AgentReachability(h.now, "a1", True))  # the phone registers again
    assert h.one(out, c.OriginateAgent).request_id == "r1"


def test_agent_rejecting_is_a_refusal() -> None:
    h = Harness(settings(agents=1, wrap_up=0.0))
    h.ready("a1")
    h.arrive("r1")
    leg = h.engine.requests["r1"].agent_leg
    assert leg is not None
    h.send(ev.LegFailed(h.now, leg, AttemptOutcome.BUSY, 17))
    assert h.engine.agents["a1"].pause_reason == "not_responding" and h.engine.agents["a1"].reachable


@pytest.mark.parametrize("move", ["logout", "pause"])
def test_agent_leaving_while_ringing_gives_the_request_back_and_it_is_stored(move: str) -> None:
    h = Harness(settings(agents=1, wrap_up=0.0))
    h.ready("a1")
    h.arrive("r1")
    h.at(1).arrive("r2")
    leg = h.engine.requests["r1"].agent_leg
    assert leg is not None
    event: ev.Event = ev.AgentLoggedOut(h.now, "a1") if move == "logout" else ev.AgentPaused(h.now, "a1", "lunch")
    h.engine.take_touched()
    out = h.send(event)
    assert c.Hangup(leg, f"agent_{'logged_out' if move == 'logout' else 'paused'}") in out
    req = h.engine.requests["r1"]
    assert req.state is RequestState.WAITING and req.agent_id is None and h.engine.position("r1") == 1
    assert [r.id for r in h.engine.take_touched()] == ["r1"]  # was not stored: left as ringing_agent
    agent = h.engine.agents["a1"]
    expected = (AgentState.LOGGED_OFF, None) if move == "logout" else (AgentState.PAUSED, "lunch")
    assert (agent.state, agent.pause_reason) == expected and agent.request_id is None
    assert h.send(ev.LegFailed(h.now, leg, AttemptOutcome.FAILED)) == []  # the late end of the leg: ignored


# ------------------------------------------------------------------------- 6. bad input


def test_the_same_number_twice_in_a_queue_is_refused_naming_the_existing_callback() -> None:
    h = Harness(callback_core())
    web_callback(h, "r1", DK_MOBILE)
    before = repr(h.engine.requests)
    with pytest.raises(DuplicateNumber) as info:
        web_callback(h, "r2", "20123456")  # the same number, written nationally
    assert isinstance(info.value, DuplicateRequest) and info.value.existing_request_id == "r1"
    assert "r1" in str(info.value) and repr(h.engine.requests) == before


def test_duplicate_numbers_allowed_when_configured() -> None:
    h = Harness(callback_core(allow_duplicate_numbers=True))
    web_callback(h, "r1", DK_MOBILE)
    web_callback(h, "r2", DK_MOBILE)
    assert sorted(h.engine.requests) == ["r1", "r2"]


@pytest.mark.parametrize("priority", [2**63, 1001, -1001])
def test_priority_out_of_range_is_refused_before_anything_changes(priority: int) -> None:
    h = Harness(callback_core())
    with pytest.raises(InvalidPriority, match="allowed -1000 to 1000"):
        web_callback(h, "r1", DK_MOBILE, priority=priority)
    with pytest.raises(InvalidPriority):
        h.arrive("r2", priority=priority)
    assert h.engine.requests == {} and h.engine.take_touched() == []


def test_priority_at_the_bounds_is_accepted() -> None:
    h = Harness(callback_core())
    web_callback(h, "r1", DK_MOBILE, priority=1000)
    h.arrive("r2", priority=-1000)
    assert h.engine.position("r1") == 1


# ------------------------------------------------------------------------- 7. rules moved into the core


def test_callbacks_view_lists_waiting_in_place_order_then_quarantine_by_return_time() -> None:
    core = callback_core(agents=1, max_attempts=2, sec_between_retries=100.0)
    h = Harness(core, hear_confirmations=False)
    web_callback(h, "q1", "+4520123451")
    h.ready("a1")
    _, d = dial(h, "q1")
    h.fail(d.leg_id)  # q1 in quarantine until now + 100
    h.send(ev.AgentPaused(h.now, "a1"))
    web_callback(h.at(10), "q2", "+4520123452")
    h.ready("a1")
    _, d = dial(h, "q2")
    h.fail(d.leg_id)  # q2 until now + 100: after q1
    h.send(ev.AgentPaused(h.now, "a1"))
    web_callback(h.at(1), "w1", "+4520123453")
    h.arrive("caller")
    web_callback(h.at(1), "w2", "+4520123454", priority=5)
    view = [r.id for r in h.engine.callbacks_view()]
    assert view == ["w2", "w1", "q1", "q2"]  # callers on the line are not callbacks


def test_answering_machine_with_a_message_is_left_the_message_and_served() -> None:
    h = Harness(callback_core(amd=True, voicemail_message="vm"))
    web_callback(h, "r1")
    h.ready("a1")
    agent_leg, d = dial(h)
    out = h.answer(d.leg_id, voicemail=True)
    assert c.PlayPrompt(d.leg_id, (c.PromptItem("vm"),), hangup_after=True) in out
    assert c.Hangup(agent_leg, "voicemail") in out and not h.of(out, c.BridgeLegs)
    ended = h.activities("ended", "r1")[0].data
    assert ended == {"outcome": Outcome.SERVED.value, "voicemail": True}
    assert h.activities("attempt_outcome", "r1")[0].data["outcome"] == AttemptOutcome.VOICEMAIL.value


def test_answering_machine_without_a_message_is_bridged_to_the_agent() -> None:
    h = Harness(callback_core(amd=True))
    web_callback(h, "r1")
    h.ready("a1")
    agent_leg, d = dial(h)
    out = h.answer(d.leg_id, voicemail=True)
    assert h.one(out, c.BridgeLegs) == c.BridgeLegs("r1", d.leg_id, agent_leg)
    assert h.engine.requests["r1"].attempts[0].outcome is AttemptOutcome.VOICEMAIL


def test_customer_leg_vanished_in_a_websocket_gap_counts_as_a_failed_attempt() -> None:
    h = Harness(callback_core(max_attempts=2, sec_between_retries=60.0))
    web_callback(h, "r1")
    h.ready("a1")
    agent_leg, d = dial(h)
    out = h.send(ev.LegLost(h.now, d.leg_id, "channel_vanished"))
    # the agent hears why, then their leg ends (the shell hangs it up after the prompt)
    assert h.of(out, c.Hangup) == []
    assert c.PlayPrompt(agent_leg, (c.PromptItem("callback_customer_unreachable"),), hangup_after=True) in out
    req = h.engine.requests["r1"]
    assert req.attempts[0].outcome is AttemptOutcome.FAILED and req.counted_attempts == 1
    assert req.state is RequestState.QUARANTINE


def test_customer_leg_lost_with_asterisk_restarted_is_interrupted_not_counted() -> None:
    h = Harness(callback_core(max_attempts=2))
    web_callback(h, "r1")
    h.ready("a1")
    _, d = dial(h)
    h.send(ev.LegLost(h.now, d.leg_id, "asterisk_restarted"))
    req = h.engine.requests["r1"]
    assert req.attempts[0].outcome is AttemptOutcome.INTERRUPTED and req.counted_attempts == 0


def test_customer_leg_restored_then_vanished_is_interrupted_whatever_the_reason() -> None:
    core = callback_core(max_attempts=2)
    h = Harness(core, hear_confirmations=False)
    web_callback(h, "r1")
    h.ready("a1")
    _, d = dial(h)
    r = restart(h, core)  # the service restarted: the channel vanished while we were down
    r.send(ev.LegLost(r.now, d.leg_id, "channel_vanished"))
    assert r.engine.requests["r1"].attempts[0].outcome is AttemptOutcome.INTERRUPTED
    # the agent kept the line: the customer is dialled again once the legs are reconciled
    d2 = r.one(r.send(ev.LegsReconciled(r.now)), c.OriginateCustomer)
    r.send(ev.LegLost(r.now, d2.leg_id, "channel_vanished"))  # a later gap, after reconciling: counts
    assert r.engine.requests["r1"].attempts[1].outcome is AttemptOutcome.FAILED


def test_caller_line_vanished_in_a_gap_is_their_hang_up() -> None:
    core = settings(agents=0, callback=callback_settings(abandon_callback_after=0.0))
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1")
    h.at(5).send(ev.LegLost(h.now, "r1", "channel_vanished"))
    accepted = h.activities("callback_accepted", "r1")
    assert accepted and accepted[0].data["automatic"] is True  # as a hang-up: an automatic callback


def test_caller_line_lost_to_a_refused_command_is_dropped_not_abandoned() -> None:
    """Asterisk would not answer or hold the caller (the shell hung the line up): not their choice,
    so no abandonment is counted and no automatic callback is made."""
    core = settings(agents=0, callback=callback_settings(abandon_callback_after=0.0))
    h = Harness(core, hear_confirmations=False)
    h.arrive("r1")
    h.at(5).send(ev.LegLost(h.now, "r1", "command_failed"))
    assert not h.activities("callback_accepted", "r1")
    ended = h.activities("ended", "r1")
    assert ended and ended[0].data["outcome"] == "dropped" and ended[0].data["reason"] == "command_failed"
