"""Predictive pacing plans each live answer with the time an agent really has from when the engine
learns of it: the 2 s to an agent count from the end of the contact's greeting, and with
answering-machine detection AMD() says HUMAN only after_greeting_silence after that greeting ends
(0.8 s by amd.conf's default), so an agent has 2 s less that silence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.core import pacing
from app.core.pacing import HoldfastPacer, PacingView
from app.core.settings import CONNECT_WITHIN, CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


class Recording(HoldfastPacer):
    """Holdfast's pacer, keeping the views the dialler asked it with."""

    def __init__(self) -> None:
        super().__init__()
        self.views: list[PacingView] = []

    def dials(self, view: PacingView) -> int:
        self.views.append(view)
        return super().dials(view)


def _allowance_seen(**fields: Any) -> float:
    h = DiallerHarness(
        dialler_settings(campaign(mode=CampaignMode.PREDICTIVE, **fields), agents=2),
        [contact(i) for i in range(1, 20)],
    )
    pacer = Recording()
    for _ in range(200):  # room in the judged windows: the pacer is asked (a fresh one is not)
        pacer.observe_live(h.now - 60, abandoned=False)
    h.engine.pacer_factory = lambda _c: pacer
    h.ready("a1")
    assert pacer.views  # asked at the agent's ready
    return pacer.views[-1].connect_allowance


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"amd": True}, CONNECT_WITHIN - 0.8),  # amd.conf's after_greeting_silence
        ({"amd": True, "amd_after_greeting_silence": 0.5}, CONNECT_WITHIN - 0.5),  # tuned (the "quick" tuning)
        ({"amd": True, "amd_after_greeting_silence": 1.0}, CONNECT_WITHIN - 1.0),
        ({"amd": False, "amd_after_greeting_silence": 0.5}, CONNECT_WITHIN),  # no detection: the answer is the pick-up
    ],
)
def test_the_dialler_tells_the_pacer_the_time_an_agent_has_after_a_live_answer(
    fields: dict[str, Any], expected: float
) -> None:
    assert _allowance_seen(**fields) == pytest.approx(expected)


def test_less_time_to_connect_means_fewer_dials_when_the_agent_comes_free_too_late() -> None:
    pacer = HoldfastPacer()
    for _ in range(200):
        pacer.observe_live(0.0, abandoned=False)
    for i in range(200):  # every other dial a person, 2-3 s after the dial
        pacer.observe_end(0.0, pacing.LIVE if i % 2 else pacing.NO_ANSWER, 2.0 if i % 2 else 25.0)
    # nobody ready: ten agents leave wrap-up 5.5 s from now. The answers, learned by 4 s from now,
    # have them with 2 s to connect (by 6 s), not with 1.2 s (by 5.2 s)
    without_amd = PacingView(100.0, ready=0, present=10, wrapping=(5.5,) * 10, connect_allowance=2.0)
    with_amd = replace(without_amd, connect_allowance=1.2)
    assert pacer.dials(with_amd) < pacer.dials(without_amd)
