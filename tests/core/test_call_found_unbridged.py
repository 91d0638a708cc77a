"""`CallFoundUnbridged`: killed between storing a call as connected and Asterisk adding its two
channels to the call bridge, the service finds both legs up and apart at the next start. They
are bridged with the command the connect made (recorded as it would have been), once; a call whose
recording announcement is still to be heard is bridged by that announcement's end instead.

`CallFoundUnrecorded`: killed between bridging a call its queue (or campaign) records and starting
the recording, the service finds the call bridged with nothing recording it: recorded from then
on, if its settings record calls."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings
from tests.core.harness import Harness, settings
from tests.core.test_recording import announcing_callback
from tests.core.test_recovery import restart


def test_a_connected_inbound_call_found_unbridged_after_a_restart_is_bridged_and_recorded() -> None:
    h = Harness(settings(record_calls=True))
    h.arrive("r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    at_connect = h.one(h.answer(ring.leg_id), c.BridgeLegs)
    r = restart(h, h.engine.settings)
    assert not r.of(r.send(ev.LegsReconciled(r.now)), c.BridgeLegs)  # the engine alone cannot tell
    out = r.send(ev.CallFoundUnbridged(r.now, "r1"))
    assert r.one(out, c.BridgeLegs) == at_connect == c.BridgeLegs("r1", "r1", ring.leg_id, record=True)
    [again] = r.activities("call_bridged_again", "r1")
    assert again.agent_id == "a1"
    assert r.engine.requests["r1"].state.value == "connected"


@pytest.mark.parametrize("record", [True, False])
def test_a_campaign_call_is_bridged_again_recorded_by_the_campaigns_setting(record: bool) -> None:
    h = DiallerHarness(dialler_settings(campaign(record_calls=record), record_calls=not record), [contact(1)])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    dial = h.one(h.answer(ring.leg_id), c.OriginateCustomer)
    at_connect = h.one(h.answer(dial.leg_id), c.BridgeLegs)
    request_id = at_connect.request_id
    again = h.one(h.send(ev.CallFoundUnbridged(h.now, request_id)), c.BridgeLegs)
    assert again == at_connect and again.record is record


def test_a_call_hearing_the_recording_announcement_is_bridged_by_its_end_not_at_once() -> None:
    h, ring, dial = announcing_callback()
    r = restart(h, h.engine.settings)
    r.send(ev.LegsReconciled(r.now))  # the announcement is played again
    assert not r.of(r.send(ev.CallFoundUnbridged(r.now, "r1")), c.BridgeLegs)
    assert not r.activities("call_bridged_again")
    bridge = r.one(r.prompt_done(dial.leg_id), c.BridgeLegs)
    assert bridge == c.BridgeLegs("r1", dial.leg_id, ring.leg_id, record=True, record_format="wav")


def test_a_request_no_longer_connected_or_gone_is_not_bridged() -> None:
    h = Harness(settings(wrap_up=0.0))
    h.arrive("r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)  # ringing, not connected
    assert h.send(ev.CallFoundUnbridged(h.now, "r1")) == []
    h.answer(ring.leg_id)
    h.hang_up("r1")  # ended since
    assert h.send(ev.CallFoundUnbridged(h.now, "r1")) == []
    assert h.send(ev.CallFoundUnbridged(h.now, "nobody")) == []
    assert not h.activities("call_bridged_again")


# ---- `CallFoundUnrecorded`: killed between bridging a recorded call and starting its recording


def test_a_connected_call_of_a_recorded_queue_found_unrecorded_is_recorded_from_now_on() -> None:
    h = Harness(settings(record_calls=True))
    h.arrive("r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    r = restart(h, h.engine.settings)
    r.send(ev.LegsReconciled(r.now))
    out = r.send(ev.CallFoundUnrecorded(r.now, "r1"))
    assert r.one(out, c.RecordCall) == c.RecordCall("r1", "r1", "wav")
    assert not r.of(out, c.BridgeLegs)  # bridged already: only the recording is missing
    [again] = r.activities("call_recorded_again", "r1")
    assert again.agent_id == "a1"


def test_a_call_of_a_queue_that_records_nothing_is_left_unrecorded() -> None:
    h = Harness(settings(record_calls=False))
    h.arrive("r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    h.answer(ring.leg_id)
    assert h.send(ev.CallFoundUnrecorded(h.now, "r1")) == []


@pytest.mark.parametrize("record", [True, False])
def test_a_campaign_call_found_unrecorded_follows_the_campaigns_setting(record: bool) -> None:
    h = DiallerHarness(dialler_settings(campaign(record_calls=record), record_calls=not record), [contact(1)])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    dial = h.one(h.answer(ring.leg_id), c.OriginateCustomer)
    request_id = h.one(h.answer(dial.leg_id), c.BridgeLegs).request_id
    out = h.send(ev.CallFoundUnrecorded(h.now, request_id))
    assert h.of(out, c.RecordCall) == ([c.RecordCall(request_id, dial.leg_id, "wav")] if record else [])


def test_a_call_hearing_the_recording_announcement_is_recorded_by_its_end_not_at_once() -> None:
    h, _ring, dial = announcing_callback()
    assert h.send(ev.CallFoundUnrecorded(h.now, "r1")) == []
    bridge = h.one(h.prompt_done(dial.leg_id), c.BridgeLegs)
    assert bridge.record


def test_a_request_not_connected_or_gone_is_not_recorded() -> None:
    h = Harness(settings(record_calls=True, wrap_up=0.0))
    h.arrive("r1")
    ring = h.one(h.ready("a1"), c.OriginateAgent)  # ringing, not connected
    assert h.send(ev.CallFoundUnrecorded(h.now, "r1")) == []
    h.answer(ring.leg_id)
    h.hang_up("r1")
    assert h.send(ev.CallFoundUnrecorded(h.now, "r1")) == []
    assert h.send(ev.CallFoundUnrecorded(h.now, "nobody")) == []
    assert not h.activities("call_recorded_again")
