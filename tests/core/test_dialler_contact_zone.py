"""A contact's zone from the upload decides its calling hours, but only a place's zone: "EST" and
the like (stored before the importer refused them) are fixed clocks an hour off in summer, so the
number's own zones are used instead."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core import commands as c
from app.core.campaigns import NOT_A_PLACE, contact_zones
from app.core.settings import OpeningHours, TimeRange
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

NY = "+12125550100"
SUMMER_2130_IN_NEW_YORK = datetime(2026, 7, 15, 1, 30, tzinfo=UTC).timestamp()  # 20:30 by "EST"
DAY = (TimeRange(8 * 3600, 21 * 3600),)  # TCPA: 8-21 in the contact's local time


@pytest.mark.parametrize("zone", ["EST", "EST5EDT", "UTC"])
def test_a_stored_zone_that_is_not_a_place_gives_way_to_the_numbers(zone: str) -> None:
    assert zone in NOT_A_PLACE
    assert contact_zones(NY, zone, "Europe/Copenhagen") == ("America/New_York",)


def test_a_new_york_contact_stored_as_est_is_not_rung_at_2130_in_summer() -> None:
    camp = campaign(calling_hours=OpeningHours(weekly=(DAY,) * 7))
    h = DiallerHarness(dialler_settings(camp), [contact(1, number=NY, timezone="EST")], start=SUMMER_2130_IN_NEW_YORK)
    h.ready("a1")
    assert not h.of(h.log, c.OriginateAgent)
    p = h.progress(1)
    assert p is not None and p.next_due == datetime(2026, 7, 15, 12, 0, tzinfo=UTC).timestamp()  # 08:00 EDT
