"""New settings meet callbacks already promised: a reload's blocklist, max_age and a callbacks
switch apply to them as to new ones, and an agent removed from the settings while the service was
down does not bring it down when their call goes on."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CoreSettings, EligibilityRules, RecordingSettings
from app.core.states import Outcome
from tests.core.harness import DK_MOBILE, Harness, callback_settings, settings
from tests.core.test_recovery import restart

KEYED = callback_settings(allow_other_number=False)


def reload(h: Harness, core: CoreSettings) -> list[c.Command]:
    return h.send(ev.SettingsChanged(h.now, core))


def with_callback(h: Harness) -> None:
    h.arrive("r1")
    h.dtmf("r1", "1")
    assert h.engine.requests["r1"].is_callback


def test_a_number_put_on_the_blocklist_by_a_reload_is_not_called_back() -> None:
    # a complaint: the admin blocks the number; its waiting callback must not ring it
    h = Harness(settings(agents=1, callback=KEYED))
    with_callback(h)
    reload(h, settings(agents=1, callback=KEYED, eligibility=EligibilityRules(blocklist=(DK_MOBILE,))))
    data = h.activities("ended", "r1")[0].data
    assert (data["outcome"], data["reason"], data["refusal"]) == (Outcome.REMOVED, "not_eligible", "blocked")
    assert not Harness.of(h.ready("a1"), c.OriginateAgent)


def test_a_raised_max_age_keeps_a_callback_promised_under_the_old_one() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(allow_other_number=False, max_age=3600.0)))
    with_callback(h)
    reload(h.at(60), settings(agents=1, callback=callback_settings(allow_other_number=False, max_age=72 * 3600.0)))
    h.run_until(h.now + 2 * 3600)
    assert not h.activities("ended", "r1")
    h.run_until(h.now + 72 * 3600)
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.EXPIRED


def test_a_lowered_max_age_ends_a_callback_older_than_it() -> None:
    h = Harness(settings(agents=1, callback=KEYED))
    with_callback(h)
    h.run_until(h.now + 2 * 3600)
    reload(h, settings(agents=1, callback=callback_settings(allow_other_number=False, max_age=3600.0)))
    h.tick(0.1)
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.EXPIRED


def test_callbacks_turned_off_by_a_reload_are_offered_no_more() -> None:
    offering = callback_settings(offer_threshold=0.0)
    h = Harness(settings(agents=1, callback=offering))
    h.arrive("r1")
    h.run_until(h.now + 21)
    assert len(h.activities("offered", "r1")) == 1
    reload(h, settings(agents=1, callback=callback_settings(offer_threshold=0.0, enabled=False)))
    h.run_until(h.now + 600)
    assert len(h.activities("offered", "r1")) == 1
    assert h.engine.requests["r1"].state.value == "waiting"


def test_an_agent_removed_while_down_finishes_their_callback_and_is_never_rung_again() -> None:
    two = settings(agents=2, callback=KEYED)
    h = Harness(two)
    with_callback(h)
    ring = Harness.one(h.ready("a2"), c.OriginateAgent)
    fresh = restart(h, settings(agents=1, callback=KEYED))  # a2 left the settings meanwhile
    fresh.send(ev.LegsReconciled(fresh.now))  # a2's phone still rings on Asterisk
    fresh.answer(ring.leg_id)
    dial = Harness.one(fresh.prompt_done(ring.leg_id), c.OriginateCustomer)
    Harness.one(fresh.answer(dial.leg_id), c.BridgeLegs)
    fresh.at(60).leg_hung_up(dial.leg_id)
    assert fresh.activities("ended", "r1")[0].data["outcome"] == Outcome.SERVED
    fresh.arrive("r2", "+4530123456")
    assert {o.agent_id for o in Harness.of(fresh.ready("a1"), c.OriginateAgent)} == {"a1"}
    assert "a2" not in fresh.engine.agents


def test_callers_waiting_when_a_reload_starts_recording_hear_the_notice_before_the_recorded_call() -> None:
    notice = RecordingSettings(announce="recording_notice")
    before = settings(agents=1, recording=notice)
    h = Harness(before)
    h.arrive("r1")
    assert not [p for p in h.prompts(h.log) if p == "recording_notice"]  # not recorded: not told
    out = reload(h, settings(agents=1, recording=notice, record_calls=True))
    assert Harness.one(out, c.PlayPrompt).leg_id == "r1" and h.prompts(out) == ["recording_notice"]
    assert not h.prompts(reload(h, settings(agents=1, recording=notice, record_calls=True)))  # told once
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    assert Harness.one(h.answer(ring.leg_id), c.BridgeLegs).record


def test_a_callback_ended_by_new_rules_is_told_unless_its_number_is_blocked() -> None:
    # the customer was promised a call: a rule change that drops it says so (where routed); a
    # number blocked after a complaint is not contacted at all
    h = Harness(settings(agents=1, callback=KEYED))
    with_callback(h)
    out = reload(h, settings(agents=1, callback=KEYED, eligibility=EligibilityRules(allowed_types=("fixed_line",))))
    told = Harness.one(out, c.Notify)
    assert (told.kind, told.number, told.data["reason"], told.data["refusal"]) == (
        "callback_removed",
        DK_MOBILE,
        "not_eligible",
        "type_not_allowed",
    )
    h = Harness(settings(agents=1, callback=KEYED))
    with_callback(h)
    out = reload(h, settings(agents=1, callback=KEYED, eligibility=EligibilityRules(blocklist=(DK_MOBILE,))))
    assert not Harness.of(out, c.Notify)


def test_a_callback_a_supervisor_removes_is_told() -> None:
    h = Harness(settings(agents=1, callback=KEYED))
    with_callback(h)
    out = h.send(ev.CallbackRemoved(h.now, "r1", "eva", "duplicate request"))
    told = Harness.one(out, c.Notify)
    assert (told.kind, told.number, told.data["by"], told.data["reason"]) == (
        "callback_removed",
        DK_MOBILE,
        "eva",
        "duplicate request",
    )
