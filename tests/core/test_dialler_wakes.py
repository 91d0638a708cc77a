"""A campaign on a long list (every load comes back full) retries its busy contacts for hours: the
engine's wakes for them (when a retried contact falls due, the store is asked again) must not pile
up. Only the wakes still ahead carry information; a centre dialling for days would otherwise keep
a float per retried dial for good."""

from __future__ import annotations

from dataclasses import replace

from app.core.settings import CampaignMode, RetryIntervals
from app.core.states import AttemptOutcome
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

HOUR = 3600.0
STEP = 20.0  # each agent's line places one dial per step, busy at once
RETRY = 1800.0  # busy contacts are due again half an hour later
AGENTS = 5
CONTACTS = 1500  # more than an hour dials: every load finds a window's worth due (first tries, then retries)


def long_list() -> DiallerHarness:
    c0 = campaign(mode=CampaignMode.POWER, max_attempts=100, retry=replace(RetryIntervals(), busy=RETRY))
    contacts = [contact(i, number=f"+4521{i:06d}") for i in range(CONTACTS)]
    h = DiallerHarness(dialler_settings(c0, agents=AGENTS), contacts)
    for i in range(AGENTS):
        h.ready(f"a{i + 1}")
    return h


def test_the_wakes_of_a_long_list_are_only_those_ahead() -> None:
    h = long_list()
    ringing = h.dials()
    dials = 0
    wakes_by_hour: list[int] = []
    for step in range(int(6 * HOUR / STEP)):
        h.tick(STEP)
        busy, ringing = ringing, []
        for dial in busy:  # each failed dial frees its line: the next one is placed at once
            ringing += h.dials(h.fail(dial.leg_id, AttemptOutcome.BUSY))
        dials += len(busy)
        assert len(ringing) == AGENTS  # the list never ran dry
        if (step + 1) % int(HOUR / STEP) == 0:
            wakes = h.engine._wakes["spring"]
            # the last dials' wake was just set: every wake kept is still ahead of now
            assert all(w > h.now for w in wakes), [w - h.now for w in wakes if w <= h.now][:5]
            wakes_by_hour.append(len(wakes))
    assert dials > 5000  # 6 h of a 5-line campaign, each dial retried while attempts remain
    # one wake per step's dials (they end at the same instant) for the RETRY ahead: was every retried
    # dial since the start (about 900 an hour), only those of loads that came back short dropped
    assert max(wakes_by_hour) <= RETRY / STEP + 1, wakes_by_hour
