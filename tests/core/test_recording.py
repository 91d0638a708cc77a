"""Issue 17, recording, the core's and the config's side: only the agent-customer bridge is
recorded (BridgeLegs.record), from the queue's or the campaign's `record_calls`; a whisper (a
prompt to the agent's leg before the customer is dialled) never carries a record flag, and the
admin's recording settings are read with readable errors."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import ConfigError
from app.core import commands as c
from app.core import events as ev
from app.core.settings import RecordingSettings
from tests.config.helpers import problems, valid, with_value
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings
from tests.core.harness import Harness, settings
from tests.core.test_recovery import restart, web_callback


def recordings(out: list[c.Command]) -> list[c.BridgeLegs]:
    return [x for x in out if isinstance(x, c.BridgeLegs) and x.record]


def test_a_recorded_callback_records_only_the_bridge_never_the_whisper() -> None:
    h = Harness(settings(record_calls=True, recording=RecordingSettings(format="gsm"), wrap_up=0.0))
    web_callback(h, "r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    whisper = h.answer(ring.leg_id)  # the agent hears the whisper: nothing recorded yet
    assert any(isinstance(x, c.PlayPrompt) and x.leg_id == ring.leg_id for x in whisper)
    assert not h.of(whisper, c.BridgeLegs)
    dial = h.one(h.prompt_done(ring.leg_id), c.OriginateCustomer)
    out = h.answer(dial.leg_id)
    assert h.one(out, c.BridgeLegs) == c.BridgeLegs("r1", dial.leg_id, ring.leg_id, record=True, record_format="gsm")
    # the only command that records is the one joining agent and customer
    assert [(x.customer_leg, x.agent_leg) for x in recordings(h.log)] == [(dial.leg_id, ring.leg_id)]


def test_a_recorded_inbound_call_records_its_bridge() -> None:
    h = Harness(settings(record_calls=True))
    h.arrive("r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    bridge = h.one(h.answer(ring.leg_id), c.BridgeLegs)
    assert bridge == c.BridgeLegs("r1", "r1", ring.leg_id, record=True, record_format="wav")


def test_a_queue_without_record_calls_records_nothing() -> None:
    h = Harness(settings())
    h.arrive("r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    assert h.one(h.answer(ring.leg_id), c.BridgeLegs).record is False


@pytest.mark.parametrize("record", [True, False])
def test_a_campaign_records_by_its_own_record_calls(record: bool) -> None:
    # the queue's record_calls is the opposite: the campaign's own setting decides
    core = dialler_settings(campaign(record_calls=record), record_calls=not record)
    h = DiallerHarness(core, [contact(1)])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    dial = h.one(h.answer(ring.leg_id), c.OriginateCustomer)
    assert h.one(h.answer(dial.leg_id), c.BridgeLegs).record is record


# ------------------------------------------------------------------ config


def test_queue_recording_settings_become_core_settings() -> None:
    data: dict[str, Any] = with_value("queues.support.record_calls", True)
    data = with_value("queues.support.recording", {"format": "GSM", "retention": "7d"}, data)
    queue = next(q for q in valid(data).core().queues if q.name == "support")
    assert queue.record_calls and queue.recording == RecordingSettings(format="gsm", retention=7 * 86400.0)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("format", "mp3", "allowed: wav"),
        ("retention", "10s", "allowed 1h-"),
        ("retention", "soon", "retention"),
        ("kept", "1d", "kept"),
    ],
)
def test_bad_recording_settings_are_named(key: str, value: str, says: str) -> None:
    found = problems(with_value(f"queues.support.recording.{key}", value))
    assert any(f"queues.support.recording.{key}" in p and says in p for p in found), found


def test_record_calls_must_be_yes_or_no() -> None:
    with pytest.raises(ConfigError):
        valid(with_value("queues.support.record_calls", "sometimes"))


# ------------------------------------------------------------------ the recording announcement

NOTICE = "recording_notice"


def announced(retention: float = 86400.0) -> RecordingSettings:
    return RecordingSettings(format="wav", retention=retention, announce=NOTICE)


def announcing_callback() -> tuple[Harness, c.OriginateAgent, c.OriginateCustomer]:
    """A recorded callback whose customer just answered and hears the announcement."""
    h = Harness(settings(record_calls=True, recording=announced(), wrap_up=0.0))
    web_callback(h, "r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    dial = h.one(h.prompt_done(ring.leg_id), c.OriginateCustomer)
    h.answer(dial.leg_id)
    return h, ring, dial


def test_a_recorded_callbacks_customer_hears_the_announcement_before_the_bridge() -> None:
    h = Harness(settings(record_calls=True, recording=announced(), wrap_up=0.0))
    web_callback(h, "r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    whisper = h.answer(ring.leg_id)
    assert not any(isinstance(x, c.PlayPrompt) and NOTICE in [i.name for i in x.items] for x in whisper)
    dial = h.one(h.prompt_done(ring.leg_id), c.OriginateCustomer)
    out = h.answer(dial.leg_id)
    assert not h.of(out, c.BridgeLegs), "not bridged (not recorded) before the announcement is heard"
    play = h.one(out, c.PlayPrompt)
    assert (play.leg_id, [i.name for i in play.items], play.report_finish) == (dial.leg_id, [NOTICE], True)
    assert h.engine.requests["r1"].state.value == "connected"
    out = h.prompt_done(dial.leg_id)
    assert h.one(out, c.BridgeLegs) == c.BridgeLegs("r1", dial.leg_id, ring.leg_id, record=True, record_format="wav")
    assert [a.request_id for a in h.activities("recording_announced")] == ["r1"]
    assert len(recordings(h.log)) == 1


def test_the_agents_prompt_ending_does_not_bridge_an_announced_call() -> None:
    h, ring, _ = announcing_callback()
    assert not h.of(h.prompt_done(ring.leg_id), c.BridgeLegs)  # only the customer's leg counts


def test_a_customer_who_hangs_up_during_the_announcement_ends_the_call_unbridged() -> None:
    h, ring, dial = announcing_callback()
    out = h.leg_hung_up(dial.leg_id)
    assert c.Hangup(ring.leg_id, "customer_hung_up") in out
    assert "r1" not in h.engine.requests
    assert not h.of(h.prompt_done(dial.leg_id), c.BridgeLegs)  # a late "finished" bridges nothing
    assert not h.of(h.log, c.BridgeLegs)


def test_an_unrecorded_queue_never_announces() -> None:
    h = Harness(settings(record_calls=False, recording=announced(), wrap_up=0.0))
    web_callback(h, "r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    dial = h.one(h.prompt_done(ring.leg_id), c.OriginateCustomer)
    out = h.answer(dial.leg_id)
    assert h.one(out, c.BridgeLegs).record is False
    assert not any(NOTICE in [i.name for i in p.items] for p in h.of(h.log, c.PlayPrompt))


def test_an_inbound_caller_hears_the_announcement_on_arrival_and_is_bridged_on_answer() -> None:
    h = Harness(settings(record_calls=True, recording=announced()))
    out = h.arrive("r1")
    join = h.one(out, c.JoinHolding)
    play = [p for p in h.of(out, c.PlayPrompt) if [i.name for i in p.items] == [NOTICE]]
    assert len(play) == 1 and play[0].leg_id == "r1" and out.index(play[0]) > out.index(join)
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    bridge = h.one(h.answer(ring.leg_id), c.BridgeLegs)  # no second announcement
    assert bridge.record is True


@pytest.mark.parametrize(
    ("own", "queue_announce", "heard"),
    [(None, NOTICE, NOTICE), ("camp_notice", NOTICE, "camp_notice"), ("", NOTICE, None), (None, None, None)],
)
def test_a_campaigns_announcement_is_its_own_else_its_queues(
    own: str | None, queue_announce: str | None, heard: str | None
) -> None:
    queue_recording = RecordingSettings(announce=queue_announce)
    core = dialler_settings(campaign(record_calls=True, recording_announce=own), recording=queue_recording)
    h = DiallerHarness(core, [contact(1)])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    dial = h.one(h.answer(ring.leg_id), c.OriginateCustomer)
    out = h.answer(dial.leg_id)
    if heard is None:
        assert h.one(out, c.BridgeLegs).record is True
        return
    assert not h.of(out, c.BridgeLegs)
    play = [p for p in h.of(out, c.PlayPrompt) if p.leg_id == dial.leg_id and p.report_finish]
    assert [i.name for i in play[0].items] == [heard]
    assert h.one(h.prompt_done(dial.leg_id), c.BridgeLegs).record is True


def test_recording_announce_in_the_config() -> None:
    data: dict[str, Any] = with_value("queues.support.record_calls", True)
    data = with_value("queues.support.recording", {"announce": NOTICE}, data)
    data["campaigns"] = {
        "quiet": {"queue": "support", "record_calls": True, "recording": {"announce": False}},  # YAML's off
        "own": {"queue": "support", "recording": {"announce": "custom/notice"}},
        "same": {"queue": "support"},
    }
    core = valid(data).core()
    assert next(q for q in core.queues if q.name == "support").recording.announce == NOTICE
    assert {c.id: c.recording_announce for c in core.campaigns} == {"quiet": "", "own": "custom/notice", "same": None}
    off = with_value("queues.support.recording", {"announce": "off"})
    assert next(q for q in valid(off).core().queues if q.name == "support").recording.announce is None
    found = problems(with_value("queues.support.recording.announce", "no good!"))
    assert any("queues.support.recording.announce" in p and "prompt name" in p for p in found), found


def test_a_restart_during_the_announcement_plays_it_again_and_bridges_after() -> None:
    """Its end went unseen while the service was down: without this the two stayed unbridged."""
    h, ring, dial = announcing_callback()
    assert h.engine.requests["r1"].announcing == "wav"  # stored with the request
    r = restart(h, h.engine.settings)  # through the codec
    assert r.engine.requests["r1"].announcing == "wav"
    out = r.send(ev.LegsReconciled(r.now))
    play = r.one(out, c.PlayPrompt)
    assert (play.leg_id, [i.name for i in play.items], play.report_finish) == (dial.leg_id, [NOTICE], True)
    assert not r.of(out, c.BridgeLegs)
    out = r.prompt_done(dial.leg_id)
    assert r.one(out, c.BridgeLegs) == c.BridgeLegs("r1", dial.leg_id, ring.leg_id, record=True, record_format="wav")
    assert r.engine.requests["r1"].announcing is None
    assert r.activities("recording_announcement_replayed")


def test_a_bridged_call_is_not_bridged_again_after_a_restart() -> None:
    h, _, dial = announcing_callback()
    h.prompt_done(dial.leg_id)
    r = restart(h, h.engine.settings)
    out = r.send(ev.LegsReconciled(r.now))
    assert not r.of(out, c.BridgeLegs) and not r.of(out, c.PlayPrompt)
