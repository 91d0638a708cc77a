"""Settings added for issue 11: max_agent_refusals and callback.allow_duplicate_numbers."""

from __future__ import annotations

import pytest

from .helpers import problems, valid, with_value


def test_defaults_keep_todays_behaviour() -> None:
    q = valid(with_value("queues.support", {})).core().queue("support")
    assert q.max_agent_refusals == 1 and q.callback.allow_duplicate_numbers is False


def test_values_reach_the_core() -> None:
    data = with_value("queues.support.max_agent_refusals", 3)
    data = with_value("queues.support.callback.allow_duplicate_numbers", True, data)
    q = valid(data).core().queue("support")
    assert q.max_agent_refusals == 3 and q.callback.allow_duplicate_numbers is True


@pytest.mark.parametrize("value", [0, 11, "two", 1.5])
def test_max_agent_refusals_out_of_range_is_refused_with_the_key(value: object) -> None:
    found = problems(with_value("queues.support.max_agent_refusals", value))
    assert any("queues.support.max_agent_refusals" in p for p in found), found
