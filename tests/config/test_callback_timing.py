"""Callback timings across keys: max_age counts from the promise, and so do callback_delay and the
retries after it; settings under which promised callbacks expire unserved are refused."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import problems, valid, with_value

CB = "queues.support.callback"


def _callback(**changes: Any) -> dict[str, Any]:
    return with_value(CB, changes)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        (
            {"callback_delay": "80h"},  # dialled from 80 h, expired at 72 h
            f"{CB}.callback_delay is 3d8h, not shorter than max_age 3d: every callback would expire",
        ),
        ({"callback_delay": "1h", "max_age": "1h"}, f"{CB}.callback_delay is 1h, not shorter than max_age 1h"),
        ({"max_age": "0s"}, f'{CB}.max_age is "0s"; must be longer than 0s'),  # expires as it is promised
        (
            {"max_attempts": 3, "sec_between_retries": "4d"},  # the 2nd attempt would come after 4 days
            f"{CB}.max_attempts is 3, but only 1 attempt fits before max_age 3d",
        ),
        (
            {"max_attempts": 3, "sec_between_retries": "30m", "callback_delay": "10m", "max_age": "1h"},
            f"{CB}.max_attempts is 3, but only 2 attempts fit before max_age 1h (callback_delay 10m, then",
        ),
    ],
)
def test_timings_that_lose_promises_are_refused_with_keys_and_values(changes: dict[str, Any], needle: str) -> None:
    found = problems(_callback(**changes))
    assert any(needle in p for p in found), found


@pytest.mark.parametrize(
    "changes",
    [
        {},  # the defaults
        {"max_attempts": 3, "sec_between_retries": "35h"},  # attempts at 0, 35 h and 70 h: all before 72 h
        {"max_attempts": 3, "sec_between_retries": 0},
        {"callback_delay": "59m", "max_age": "1h"},
    ],
)
def test_timings_with_room_for_every_attempt_are_accepted(changes: dict[str, Any]) -> None:
    valid(_callback(**changes))
