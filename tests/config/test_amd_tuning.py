"""A campaign's `amd_tuning:`: durations become AMD()'s millisecond arguments, in AMD()'s order,
reach the core's CampaignSettings and the customer call's channel variable; mistakes are named."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.config import ConfigError, validate_config
from app.config.amd import AMD_ARGS_VARIABLE, AmdTuning, amd_variables

from .helpers import BASE


def campaign_with(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["campaigns"] = {"spring": {"queue": "sales", "amd": True, **fields}}
    return data


def test_a_tuning_becomes_amd_arguments_in_amd_order_on_the_campaign() -> None:
    tuning = {
        "initial_silence": "2.5s",
        "greeting": 2,
        "after_greeting_silence": "0.8s",
        "total_analysis_time": "6s",
        "min_word_length": 0.12,
        "between_words_silence": "0.05s",
        "maximum_number_of_words": 4,
        "silence_threshold": 300,
        "maximum_word_length": "4s",
    }
    (c,) = validate_config(campaign_with(amd_tuning=tuning)).core().campaigns
    assert c.amd_args == "2500,2000,800,6000,120,50,4,300,4000"


def test_parameters_left_out_are_empty_arguments_so_amd_conf_applies() -> None:
    (c,) = validate_config(campaign_with(amd_tuning={"greeting": "2s", "maximum_number_of_words": 4})).core().campaigns
    assert c.amd_args == ",2000,,,,,4"
    (plain,) = validate_config(campaign_with()).core().campaigns
    assert plain.amd_args == ""  # nothing tuned: AMD() runs with amd.conf alone
    (empty,) = validate_config(campaign_with(amd_tuning=None)).core().campaigns
    assert empty.amd_args == ""


def test_the_variable_is_set_only_on_calls_that_run_detection_with_a_tuning() -> None:
    assert amd_variables(True, ",2000") == {AMD_ARGS_VARIABLE: ",2000"}
    assert amd_variables(False, ",2000") == {}
    assert amd_variables(True, "") == {}
    assert AmdTuning().dial_arguments() == ""


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"greeting": "0s"}, "campaigns.spring.amd_tuning.greeting"),
        ({"total_analysis_time": "2m"}, "allowed 0.5s to 1m"),
        ({"maximum_number_of_words": 0}, "allowed 1-50"),
        ({"maximum_number_of_words": "many"}, "expected a whole number"),
        ({"silence_threshold": 40000}, "allowed 1-32767"),
        ({"initial_silence": "soon"}, "expected seconds or a duration"),
        ({"greting": "2s"}, "greting"),
    ],
)
def test_mistakes_are_named(tuning: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(campaign_with(amd_tuning=tuning))
    assert message in str(err.value)


def test_the_campaign_knows_how_long_detection_may_listen_after_the_answer() -> None:
    """The engine's guard on a dial adds it (a late answer is not hung up on as no answer)."""
    (tuned,) = validate_config(campaign_with(amd_tuning={"total_analysis_time": "30s"})).core().campaigns
    assert tuned.amd_analysis_time == 30.0
    (default,) = validate_config(campaign_with()).core().campaigns
    assert default.amd_analysis_time == 5.0  # amd.conf's
