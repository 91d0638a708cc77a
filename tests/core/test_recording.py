"""Issue 17, recording, the core's and the config's side: only the agent-customer bridge is
recorded (BridgeLegs.record), from the queue's or the campaign's `record_calls`; a whisper (a
prompt to the agent's leg before the customer is dialled) never carries a record flag, and the
admin's recording settings are read with readable errors."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import ConfigError
from app.core import commands as c
from app.core.settings import RecordingSettings
from tests.config.helpers import problems, valid, with_value
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings
from tests.core.harness import Harness, settings
from tests.core.test_recovery import web_callback


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
