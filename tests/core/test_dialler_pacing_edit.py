"""An admin edits a running predictive campaign: a lower abandon cap, another false-positive share
or ring time reach its pacing at once (they waited for a restart), and the windows the campaign is
judged on keep the calls already made."""

from __future__ import annotations

from app.core import events as ev
from app.core.pacing import HoldfastPacer
from app.core.settings import CampaignMode, CoreSettings
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def predictive(**fields: object) -> CoreSettings:
    return dialler_settings(campaign(mode=CampaignMode.PREDICTIVE, **fields), agents=2)


def test_an_edited_cap_reaches_the_running_pacing_and_keeps_its_windows() -> None:
    h = DiallerHarness(predictive(abandon_cap=0.03, ring_time=25.0), [contact(i) for i in range(1, 5)])
    h.ready("a1")
    pacer = h.engine.pacer("spring")
    assert isinstance(pacer, HoldfastPacer)
    pacer.observe_live(h.now, abandoned=True)  # a call the campaign is judged on
    h.send(ev.SettingsChanged(h.now, predictive(abandon_cap=0.01, amd_false_positive=0.02, ring_time=20.0)))
    assert h.engine.pacer("spring") is pacer
    assert (pacer.cap, pacer.amd_false_positive, pacer.est.ring_time) == (0.01, 0.02, 20.0)
    assert (pacer.day.lives, pacer.day.abandoned) == (1.0, 1.0)
