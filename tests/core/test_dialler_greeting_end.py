"""An answered power or predictive contact hears an agent within 2 s of the end of their greeting
(UK Ofcom, US FTC: "within two seconds of the completed greeting"), not of the detection's verdict:
AMD() says HUMAN only after_greeting_silence (0.8 s by amd.conf's default) after the greeting ended.
Counted from the verdict, a contact could wait 2.8 s in silence and be counted a live answer."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.causes import silence_after_greeting
from app.core.settings import CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def answered_after_detection(silence: float | None) -> tuple[DiallerHarness, str, str]:
    """A power campaign with detection: the contact's verdict arrives `silence` s after their greeting."""
    h = DiallerHarness(dialler_settings(campaign(mode=CampaignMode.POWER, amd=True)), [contact(1)])
    (dial,) = h.dials(h.ready("a1"))
    h.at(6)
    greeting_ended = None if silence is None else h.now - silence
    out = h.send(ev.LegAnswered(h.now, dial.leg_id, greeting_ended=greeting_ended))
    (ring,) = h.of(out, c.OriginateAgent)
    return h, dial.leg_id, ring.leg_id


def test_the_agent_must_answer_within_what_is_left_of_the_2_s_after_the_greeting() -> None:
    h, contact_leg, _agent_leg = answered_after_detection(silence=0.8)
    verdict = h.now
    out = h.run_until(verdict + 1.19)
    assert not h.of(out, c.PlayPrompt)  # still within 2 s of the greeting's end
    out = h.run_until(verdict + 1.21)
    play = h.one(out, c.PlayPrompt)
    assert (play.leg_id, play.items[0].name) == (contact_leg, "dialler_information")
    (abandoned,) = h.activities("dialler_abandoned")
    assert abandoned.request_id is not None


def test_an_agent_connected_in_time_reports_the_wait_from_the_greeting() -> None:
    h, contact_leg, agent_leg = answered_after_detection(silence=0.8)
    out = h.at(1.0).answer(agent_leg)
    assert h.one(out, c.BridgeLegs).customer_leg == contact_leg
    assert h.activities("connected")[-1].data["after_answer"] == pytest.approx(1.8)
    assert not h.activities("dialler_abandoned")


def test_without_a_greeting_heard_the_2_s_count_from_the_answer() -> None:
    h, _contact_leg, agent_leg = answered_after_detection(silence=None)
    out = h.run_until(h.now + 1.9)
    assert not h.of(out, c.PlayPrompt)
    out = h.at(0.05).answer(agent_leg)
    assert h.of(out, c.BridgeLegs)
    assert not h.activities("dialler_abandoned")


def test_detection_s_cause_tells_the_silence_after_a_person_s_greeting() -> None:
    assert silence_after_greeting("HUMAN-800-800") == pytest.approx(0.8)
    assert silence_after_greeting("HUMAN-1020-1000") == pytest.approx(1.02)
    for cause in (None, "", "TOOLONG-5000", "MAXWORDS-4-3", "INITIALSILENCE-2500-2500", "HUMAN-x-800", "HUMAN-800"):
        assert silence_after_greeting(cause) is None
