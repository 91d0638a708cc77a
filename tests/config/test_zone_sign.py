"""A zone named by a fixed offset is refused (app/config/places.py): "Etc/GMT+1" is UTC-01:00, so an
admin who meant Copenhagen's winter time shifted every opening hour by two hours, and it was
accepted without a word. The refusal names the key and the reason and asks for the region's zone,
at check-config and at a reload (which keeps the running settings)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.cli import main
from app.config import ConfigError, validate_config
from app.config.errors import STORED_DEFINITION
from app.config.schema import CampaignConfig
from tests.ari.fake_ari import FakeAri
from tests.config.helpers import with_value
from tests.config.test_cli import EXAMPLE, secrets_set  # noqa: F401  (a fixture)
from tests.telephony.conftest import Shell, config_text, fake_ari, make_shell  # noqa: F401


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_config(data, env={})
    return caught.value.problems


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("queues.support.hours", {"timezone": "Etc/GMT+1", "mon": "08:00-16:00"}),
        ("notifications", {"timezone": "Etc/GMT+1"}),
        ("campaigns", {"winback": {"queue": "support", "timezone": "Etc/GMT+1"}}),
    ],
)
def test_an_inverted_etc_gmt_zone_is_refused_with_the_key_and_the_reason(path: str, value: object) -> None:
    (msg,) = problems(with_value(path, value))
    key = {"queues.support.hours": path, "notifications": path, "campaigns": "campaigns.winback"}[path]
    assert msg.startswith(f'{key}.timezone is "Etc/GMT+1"; Etc/GMT+1 is UTC-01:00, not UTC+01:00'), msg
    assert "sign is inverted" in msg and '"Europe/Copenhagen"' in msg


@pytest.mark.parametrize("zone", ["Etc/GMT-2", "GMT+1", "UTC+01:00", "utc-5"])
def test_any_zone_named_by_its_offset_asks_for_the_region(zone: str) -> None:
    (msg,) = problems(with_value("queues.support.hours", {"timezone": zone}))
    assert "queues.support.hours.timezone" in msg and "Europe/Copenhagen" in msg
    assert "did you mean" not in msg  # never a suggestion of another inverted zone


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Etc/GMT", "Etc/GMT+0", "GMT-0", "Europe/Copenhagen"])
def test_utc_itself_and_region_zones_are_accepted(zone: str) -> None:
    config = validate_config(with_value("queues.support.hours", {"timezone": zone}), env={})
    assert config.queues["support"].hours is not None and config.queues["support"].hours.timezone == zone


def test_a_misspelt_zone_is_never_told_to_use_an_inverted_one() -> None:
    (msg,) = problems(with_value("notifications", {"timezone": "Etc/GMT+13"}))  # no such zone
    assert "Europe/Copenhagen" in msg and "Etc/GMT+1" not in msg.split(";", 1)[1]


def test_a_campaign_stored_over_the_api_before_the_rule_still_loads() -> None:
    """Refusing it would stop the service at start (app/telephony/service.py _restore_api_campaigns);
    a new or edited definition is refused (the API validates without the context)."""
    definition = {"queue": "support", "timezone": "Etc/GMT+1"}
    kept = CampaignConfig.model_validate(definition, context={STORED_DEFINITION: True})
    assert kept.timezone == "Etc/GMT+1"
    with pytest.raises(ValueError, match="sign is inverted"):
        CampaignConfig.model_validate(definition)


def test_check_config_refuses_it(tmp_path: Path, secrets_set: None, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    broken = tmp_path / "holdfast.yaml"
    broken.write_text(EXAMPLE.read_text().replace("timezone: Europe/Copenhagen", "timezone: Etc/GMT-1", 1))
    assert main(["check-config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert 'queues.support.hours.timezone is "Etc/GMT-1"; Etc/GMT-1 is UTC+01:00, not UTC-01:00' in err


HOURS = """
  support:
    hours:
      timezone: {zone}
      mon: "08:00-16:00"
  sales: {{}}
"""


@pytest.fixture
async def shell(fake_ari: FakeAri) -> AsyncIterator[Shell]:  # noqa: F811
    s = await make_shell(fake_ari, config_text(fake_ari, queues=HOURS.format(zone="Europe/Copenhagen")))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def test_a_reload_naming_one_is_refused_and_the_running_hours_stay(shell: Shell, tmp_path: Path) -> None:
    path = tmp_path / "holdfast.yaml"
    path.write_text(config_text(shell.fake, queues=HOURS.format(zone="Etc/GMT-1")))
    shell.service.config_path = path
    refused = shell.service.reload()
    assert refused is not None and 'queues.support.hours.timezone is "Etc/GMT-1"' in refused
    assert "sign is inverted" in refused
    hours = shell.service.engine.queues["support"].hours
    assert hours is not None and hours.timezone == "Europe/Copenhagen"
    assert shell.service.config.queues["support"].hours.timezone == "Europe/Copenhagen"  # type: ignore[union-attr]
