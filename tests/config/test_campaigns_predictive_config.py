"""`mode: predictive` in the campaigns section: its abandon cap, assumed AMD false positives and
dial level reach the core, and mistakes are named in the admin's terms."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import validate_config
from app.core.settings import CampaignMode

from .test_campaigns_config import problems, with_campaign

CALLER_ID = "+4533445566"  # a power or predictive campaign must show one


def test_a_predictive_campaign_becomes_core_settings() -> None:
    config = validate_config(
        with_campaign(
            mode="predictive", caller_id=CALLER_ID, abandon_cap="2.5%", amd_false_positive=0.02, max_dial_level=3
        )
    )
    (c,) = config.core().campaigns
    assert (c.mode, c.abandon_cap, c.amd_false_positive, c.max_dial_level) == (
        CampaignMode.PREDICTIVE,
        pytest.approx(0.025),
        0.02,
        3.0,
    )


def test_predictive_defaults_are_the_regulators_cap() -> None:
    (c,) = validate_config(with_campaign(mode="predictive", caller_id=CALLER_ID)).core().campaigns
    assert (c.abandon_cap, c.amd_false_positive, c.max_dial_level) == (0.03, 0.0, 4.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "predictive", "abandon_cap": 3}, "allowed 0.1% to 10%, written as 3% or 0.03 (a share: 3% is 0.03"),
        ({"mode": "predictive", "abandon_cap": "0%"}, "campaigns.spring.abandon_cap"),
        ({"mode": "predictive", "amd_false_positive": "60%"}, "allowed 0% to 50%"),
        ({"mode": "predictive", "max_dial_level": 0.5}, "allowed a number from 1.0 to 10.0"),
        ({"mode": "power", "abandon_cap": "3%"}, "abandon_cap only apply to mode: predictive (this campaign is power)"),
    ],
)
def test_predictive_mistakes_are_named(fields: dict[str, Any], message: str) -> None:
    assert message in problems(with_campaign(**fields))
