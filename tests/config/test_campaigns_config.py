"""The `campaigns:` section: what an admin writes becomes the core's CampaignSettings, and
mistakes are named with their key path and what is allowed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.config import ConfigError, load_config, validate_config
from app.core.settings import CampaignMode, TimeRange

from .helpers import BASE, EXAMPLE


def with_campaign(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["campaigns"] = {"spring": {"queue": "sales", **fields}}
    return data


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    return str(err.value)


def test_a_campaign_becomes_core_settings() -> None:
    config = validate_config(
        with_campaign(
            mode="power",
            caller_id="+4533445566",
            lines_per_agent=2,
            timezone="Europe/Copenhagen",
            calling_hours={"mon": "09:00-20:00"},
            retry={"busy": "2m"},
            ring_time="30s",
            parity=2,
        )
    )
    (c,) = config.core().campaigns
    assert (c.id, c.queue, c.mode, c.lines_per_agent, c.parity, c.ring_time) == (
        "spring",
        "sales",
        CampaignMode.POWER,
        2.0,
        2,
        30.0,
    )
    assert c.retry.busy == 120.0 and c.retry.no_answer == 3600.0
    assert c.calling_hours is not None and c.calling_hours.weekly[0] == (TimeRange(9 * 3600, 20 * 3600),)
    assert c.calling_hours.timezone == "Europe/Copenhagen"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ring_time": "10s"}, 'campaigns.spring.ring_time is "10s"; allowed 15s-2m'),
        ({"lines_per_agent": 4}, "campaigns.spring.lines_per_agent is 4; allowed a number from 1.0 to 3.0"),
        ({"mode": "predictiv"}, 'campaigns.spring.mode is "predictiv"; allowed: preview, power'),
        ({"queue": "sale"}, 'campaigns.spring.queue names unknown queue "sale"; known queues: sales, support'),
        ({"active_from": "2026-05-01", "active_to": "2026-04-01"}, "active_to 2026-04-01 is before active_from"),
        ({"dispositions": ["sale", "sale"]}, '"sale" is listed twice'),
        ({"timezone": "Europe/Copenhagn"}, "did you mean Europe/Copenhagen?"),
        ({"max_attemps": 3}, "max_attemps"),
    ],
)
def test_mistakes_are_named(fields: dict[str, Any], message: str) -> None:
    assert message in problems(with_campaign(**fields))


def test_the_example_file_declares_two_campaigns() -> None:
    env = {"HOLDFAST_ARI_PASSWORD": "a", "HOLDFAST_AGENT_1003_PASSWORD": "b", "HOLDFAST_AGENT_1004_PASSWORD": "c"}
    config = load_config(EXAMPLE.with_name("dialler.yaml"), env=env)
    assert {c.id: c.mode for c in config.core().campaigns} == {
        "spring-offer": CampaignMode.PREVIEW,
        "renewals": CampaignMode.POWER,
    }


@pytest.mark.parametrize("hours", [{}, {"mon": "closed", "sat": []}, {"exceptions": {"2026-12-24": "closed"}}])
def test_calling_hours_closed_every_day_are_refused_with_the_pause_hint(hours: dict[str, Any]) -> None:
    """Hours that never open were the admin's way to stop dialling for now; the dialler can only
    keep looking at such contacts again every day. A pause says it, and shows on the live page."""
    message = problems(with_campaign(calling_hours=hours))
    assert "campaigns.spring.calling_hours are closed every day" in message
    assert "pause the campaign" in message


def test_calling_hours_open_only_on_an_exception_date_are_accepted() -> None:
    config = validate_config(with_campaign(calling_hours={"exceptions": {"2026-12-27": "10:00-14:00"}}))
    (c,) = config.core().campaigns
    assert c.calling_hours is not None and c.calling_hours.exceptions == (("2026-12-27", (TimeRange(36000, 50400),)),)
