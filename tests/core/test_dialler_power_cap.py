"""Power mode above one line per agent abandons the answers no agent is free for; the campaign
stays under its abandon cap (3 %, judged over 24 h and 30 days) by dialling one line per agent
whenever its windows hold no room for one more abandon, until answered calls make room again. It
dialled its full ratio whatever it abandoned: 2 answers in 3 with one agent and 3 lines."""

from __future__ import annotations

import math

from app.core import commands as c
from app.core import events as ev
from app.core.pacing import HistoryMinute, PacingHistory
from app.core.settings import CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def three_lines(contacts: int = 60) -> DiallerHarness:
    c3 = campaign(mode=CampaignMode.POWER, lines_per_agent=3.0)
    return DiallerHarness(dialler_settings(c3), [contact(i) for i in range(1, contacts + 1)], power_record=0)


def answered_calls(h: DiallerHarness, lives: int, abandoned: int) -> None:
    """The event log's record of earlier calls, as a restart reads it back (minute by minute)."""
    minute = math.floor(h.now / 60) - 30
    h.engine.restore_pacing(PacingHistory(h.now, "spring", (HistoryMinute(minute, lives, abandoned, 0),)))


def test_a_fresh_campaign_dials_one_line_per_agent_until_its_window_has_room() -> None:
    h = three_lines()
    assert len(h.dials(h.ready("a1"))) == 1  # nothing judged yet: no abandon would be under 3 %


def test_room_under_the_cap_allows_the_ratio_and_none_left_takes_it_back() -> None:
    roomy = three_lines()
    answered_calls(roomy, lives=100, abandoned=1)  # room for 2 more under 3 %
    assert len(roomy.dials(roomy.ready("a1"))) == 3
    full = three_lines()
    answered_calls(full, lives=100, abandoned=3)  # at the cap: one more would be over it
    assert len(full.dials(full.ready("a1"))) == 1


def test_a_run_that_abandons_goes_back_to_one_line_and_stays_under_the_cap() -> None:
    h = three_lines(200)
    answered_calls(h, lives=60, abandoned=0)  # room for 1.8 abandons: the ratio is allowed
    out = h.ready("a1")
    for _ in range(12):
        dials = h.dials(out)
        ring = None
        for d in dials:  # every contact answers; one agent takes one of them
            rung = h.of(h.at(0.1).answer(d.leg_id), c.OriginateAgent)
            ring = ring or (rung[0] if rung else None)
        assert ring is not None
        h.at(0.2).answer(ring.leg_id)
        h.run_until(h.now + 3.0)  # the others hear the information message: abandoned
        h.at(30).leg_hung_up(ring.leg_id)
        h.send(ev.ContactDisposed(h.now, "a1", "sale"))
        out = h.run_until(h.now + 11.0)  # wrap-up over: ready again
    records = h.activities("dial_attempt")
    abandoned = sum(1 for a in records if a.data["abandoned"])
    lives = 60 + sum(1 for a in records if a.data["outcome"] == "answered") + abandoned
    assert abandoned / lives <= 0.03, (abandoned, lives)
    assert abandoned >= 1  # it did dial its ratio while there was room


def test_a_campaign_edited_between_power_and_predictive_is_judged_on_the_same_calls() -> None:
    h = three_lines()
    answered_calls(h, lives=100, abandoned=2)
    h.send(ev.SettingsChanged(h.now, dialler_settings(campaign(mode=CampaignMode.PREDICTIVE))))
    pacer = h.engine.pacer("spring")
    assert pacer is not None and (pacer.day.lives, pacer.day.abandoned) == (100, 2)  # type: ignore[attr-defined]
    h.send(ev.SettingsChanged(h.now, dialler_settings(campaign(mode=CampaignMode.POWER, lines_per_agent=3.0))))
    assert h.engine._judged("spring").day.abandoned == 2
