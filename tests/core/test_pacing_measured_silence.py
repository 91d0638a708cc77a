"""Predictive pacing plans with the silence AMD() really measured after persons' greetings, not the
configured one. AMD() says HUMAN once it has heard at least after_greeting_silence of silence, and
its AMDCAUSE ("HUMAN-818-800") shows it heard a little more: the 2 s to an agent count from the end
of the greeting, so the window an agent has from the verdict is 2 s less the measured silence. Planned
with the configured one, the pacer takes each answer's window for longer than it is, and counts on
agents who come free too late for it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.core import events as ev
from app.core import pacing
from app.core.pacing import GreetingSilence
from app.core.settings import CONNECT_WITHIN, CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

AGENTS = 30


def predictive(**fields: Any) -> DiallerHarness:
    settings = dialler_settings(campaign(mode=CampaignMode.PREDICTIVE, amd=True, window=40, **fields), agents=AGENTS)
    return DiallerHarness(settings, [contact(i) for i in range(1, 90)])


def answer(h: DiallerHarness, people: int, silence: float | None, voicemail: bool = False, skip: int = 0) -> None:
    """`people` agents (after the first `skip`) come ready (a fresh pacer dials one contact each),
    then every dial is answered: HUMAN `silence` s after the greeting (as the shell reads it from
    AMDCAUSE), or a machine."""
    first = len(h.dials())
    h.at(1)  # past the pacing's gap since the last batch
    for i in range(people):
        h.ready(f"a{skip + i + 1}")
    dials = h.dials()[first:]
    assert len(dials) == people
    h.at(6)
    for d in dials:
        greeting_ended = None if silence is None else h.now - silence
        h.send(ev.LegAnswered(h.now, d.leg_id, voicemail=voicemail, greeting_ended=greeting_ended))


def allowance(h: DiallerHarness) -> float:
    return h.engine.pacing_view(h.engine.campaigns["spring"]).connect_allowance


def test_the_pacer_plans_with_the_silence_amd_measured_not_the_configured_one() -> None:
    h = predictive()  # amd.conf's after_greeting_silence: 0.8 s
    answer(h, 25, silence=0.85)  # AMDCAUSE HUMAN-850-800, 25 times
    assert allowance(h) == pytest.approx(CONNECT_WITHIN - 0.85)


def test_the_configured_silence_until_enough_answers_were_measured() -> None:
    h = predictive()
    answer(h, pacing.SILENCE_MIN_SAMPLES - 1, silence=0.85)
    assert allowance(h) == pytest.approx(CONNECT_WITHIN - 0.8)


def test_machine_verdicts_teach_nothing() -> None:
    h = predictive()
    answer(h, 25, silence=0.9, voicemail=True)
    assert allowance(h) == pytest.approx(CONNECT_WITHIN - 0.8)


def test_answers_without_a_heard_greeting_teach_nothing() -> None:
    h = predictive()
    answer(h, 25, silence=None)  # no greeting end heard (the shell could not read AMDCAUSE)
    answer(h, 5, silence=0.9, skip=25)  # too few measured yet
    assert allowance(h) == pytest.approx(CONNECT_WITHIN - 0.8)


def test_never_more_time_than_the_configured_silence_leaves() -> None:
    h = predictive(amd_after_greeting_silence=0.5)
    answer(h, 25, silence=0.3)  # shorter than AMD() can say HUMAN after: not believed
    assert allowance(h) == pytest.approx(CONNECT_WITHIN - 0.5)


def test_an_edited_silence_is_learnt_afresh() -> None:
    h = predictive()
    answer(h, 25, silence=0.85)
    edited = replace(h.engine.campaigns["spring"], amd_after_greeting_silence=0.5)
    h.send(ev.SettingsChanged(h.now, dialler_settings(edited, agents=AGENTS)))
    assert h.engine.campaigns["spring"].amd_after_greeting_silence == 0.5
    assert allowance(h) == pytest.approx(CONNECT_WITHIN - 0.5)  # 0.85 s was heard with the old tuning


def test_the_learnt_silence_is_a_high_quantile_of_the_last_measured_ones() -> None:
    s = GreetingSilence(0.8)
    for i in range(100):  # 0.800 .. 0.899 s
        s.observe(0.8 + i / 1000)
    assert s.planned() == pytest.approx(0.889)  # 9 answers in 10 leave at least 2 s less this
    for _ in range(pacing.SILENCE_KEEP):  # the oldest are forgotten
        s.observe(0.81)
    assert s.planned() == pytest.approx(0.81)
