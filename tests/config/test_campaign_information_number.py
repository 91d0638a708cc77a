"""A campaign that can abandon calls (power, predictive) must present a caller ID, and its
information message says a number to call back (UK Ofcom): `information_number`, by default the
caller ID, said as a person in the campaign's country dials it."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import validate_config

from .test_campaigns_config import problems, with_campaign


def information_number(**fields: Any) -> str:
    (c,) = validate_config(with_campaign(mode="power", **fields)).core().campaigns
    return c.information_number


@pytest.mark.parametrize("mode", ["power", "predictive"])
def test_a_campaign_that_abandons_calls_needs_a_caller_id(mode: str) -> None:
    message = problems(with_campaign(mode=mode))
    assert f"campaigns.spring.caller_id is required in mode: {mode}" in message
    assert "abandons the calls no agent takes within 2 s" in message and "present a number" in message
    # only the caller ID satisfies it: the number said is not the number shown
    assert "caller_id is required" in problems(with_campaign(mode=mode, information_number="+4533445566"))


def test_a_preview_campaign_may_leave_the_caller_id_out() -> None:
    (c,) = validate_config(with_campaign(mode="preview")).core().campaigns
    assert (c.caller_id, c.information_number) == ("", "")


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"caller_id": "+4533445566"}, "33445566"),  # DK, the default region: the 8 national digits
        ({"caller_id": "33445566"}, "33445566"),  # written nationally: the same
        (
            {"caller_id": "+4533445566", "eligibility": {"allowed_regions": ["GB", "DK"]}},
            "4533445566",  # foreign to the campaign's (first) country: the digits as written, no "+"
        ),
        ({"caller_id": "+442071234567", "eligibility": {"allowed_regions": ["GB"]}}, "02071234567"),  # trunk 0
        ({"caller_id": "+4533445566", "eligibility": {"allowed_regions": []}}, "4533445566"),  # no country
        ({"caller_id": "+4533445566", "information_number": "+4570101010"}, "70101010"),  # its own number
    ],
)
def test_the_number_said_is_dialled_as_at_home(fields: dict[str, Any], said: str) -> None:
    assert information_number(**fields) == said


def test_the_information_number_is_checked_as_the_caller_id_is() -> None:
    message = problems(with_campaign(mode="power", caller_id="+4533445566", information_number="33 44 55 66"))
    assert 'campaigns.spring.information_number is "33 44 55 66"; expected digits with an optional leading +' in message
