"""A power or predictive campaign's contact hears an agent within 2 s of the end of their greeting,
and answering-machine detection says "person" only `after_greeting_silence` after it: a silence that
eats the 2 s is refused, naming the key and why. Preview campaigns (the agent is already there) and
definitions the store kept from before the rule (an upgrade must not stop the service) are not."""

from __future__ import annotations

import pytest

from app.config import validate_config
from app.config.errors import STORED_DEFINITION
from app.config.schema import CampaignConfig

from .test_campaigns_config import problems, with_campaign


@pytest.mark.parametrize("mode", ["power", "predictive"])
def test_a_silence_that_leaves_an_agent_no_time_is_refused(mode: str) -> None:
    raw = with_campaign(mode=mode, caller_id="+4533445566", amd=True, amd_tuning={"after_greeting_silence": "1.6s"})
    message = problems(raw)
    assert "campaigns.spring.amd_tuning.after_greeting_silence is 1.6s, at most 1.5s" in message
    assert "within 2 s of the end of their greeting" in message


def test_a_silence_within_the_limit_is_passed_to_detection() -> None:
    raw = with_campaign(mode="power", caller_id="+4533445566", amd=True, amd_tuning={"after_greeting_silence": "1.5s"})
    (c,) = validate_config(raw).core().campaigns
    assert c.amd_args == ",,1500"
    assert c.amd_after_greeting_silence == 1.5  # what the pacer plans with


@pytest.mark.parametrize(
    ("tuning", "silence"),
    [({}, 0.8), ({"after_greeting_silence": "0.5s", "greeting": "2s"}, 0.5), ({"greeting": "2s"}, 0.8)],
)
def test_the_silence_the_pacer_plans_with_is_the_tuned_one_or_amd_confs(tuning: dict[str, str], silence: float) -> None:
    raw = with_campaign(mode="predictive", caller_id="+4533445566", amd=True, amd_tuning=tuning)
    (c,) = validate_config(raw).core().campaigns
    assert c.amd_after_greeting_silence == silence


def test_preview_and_stored_definitions_keep_any_silence() -> None:
    raw = with_campaign(mode="preview", amd=True, amd_tuning={"after_greeting_silence": "3s"})
    (c,) = validate_config(raw).core().campaigns
    assert c.amd_args == ",,3000"
    stored = {"queue": "support", "mode": "power", "caller_id": "+4533445566", "amd": True}
    stored["amd_tuning"] = {"after_greeting_silence": "3s"}
    kept = CampaignConfig.model_validate(stored, context={STORED_DEFINITION: True})
    assert kept.amd_tuning.after_greeting_silence == 3000
