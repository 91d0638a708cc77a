"""docs/settings.md against the schema: the `campaigns` table names every key the model takes, every
mode, and the predictive-only keys with their real defaults and bounds (the table offered
`preview | power` only and had no row for the predictive keys)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import ConfigError, validate_config
from app.config.schema import PREDICTIVE_ONLY, CampaignConfig
from app.core.settings import CampaignMode

from .test_campaigns_config import with_campaign
from .test_campaigns_predictive_config import CALLER_ID

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def table(heading: str) -> dict[str, list[str]]:
    """The rows of the table under `heading` (a `##` line of the doc), by each backticked key of
    their first cell (`a`, `b` -> both); cells split on " | " so an escaped `\\|` stays inside."""
    lines = DOC.read_text().splitlines()
    start = lines.index(heading) + 1
    rows: dict[str, list[str]] = {}
    for line in lines[start:]:
        if line.startswith("#"):
            break
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        for key in re.findall(r"`([^`]+)`", cells[0]):
            rows[key] = cells
    return rows


CAMPAIGNS = table("## `campaigns`")


def test_every_key_of_a_campaign_is_documented() -> None:
    documented = {key.split(".")[0] for key in CAMPAIGNS}  # `recording.announce` documents `recording`
    assert sorted(set(CampaignConfig.model_fields) - documented) == []
    assert sorted(documented - set(CampaignConfig.model_fields)) == []


def test_the_documented_modes_are_the_models() -> None:
    documented = set(re.findall(r"`([a-z]+)`", CAMPAIGNS["mode"][1]))  # the type cell: `preview` \| `power` ...
    assert documented == {mode.value for mode in CampaignMode}


def accepted(key: str, value: str) -> bool:
    try:
        validate_config(with_campaign(mode="predictive", caller_id=CALLER_ID, **{key: value}))
    except ConfigError:
        return False
    return True


def beyond(bound: str, factor: float) -> str:
    """A value just past a documented bound, written the same way ("10%" -> "11%")."""
    number = float(bound.rstrip("%"))
    return f"{number * factor if number else -1:g}" + ("%" if bound.endswith("%") else "")


@pytest.mark.parametrize("key", PREDICTIVE_ONLY)
def test_predictive_keys_are_marked_with_their_default_and_bounds(key: str) -> None:
    _, _, default, allowed, meaning = CAMPAIGNS[key]
    assert meaning.startswith("Predictive only"), meaning
    fields = {"mode": "predictive", "caller_id": CALLER_ID, key: default.strip("`")}
    (c,) = validate_config(with_campaign(**fields)).core().campaigns
    assert getattr(c, key) == pytest.approx(CampaignConfig.model_fields[key].default)
    low, high = allowed.split(",")[0].split("\N{EN DASH}")  # the range before ", written ...", at its en dash
    assert accepted(key, low) and accepted(key, high), allowed
    assert not accepted(key, beyond(low, 0.9)) and not accepted(key, beyond(high, 1.1)), allowed
