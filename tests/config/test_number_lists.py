"""Block and allow list entries: callers are matched by their canonical E.164 form, so an exact
entry check-config accepts must be one a caller's number can equal."""

from __future__ import annotations

import pytest

from app.core import eligibility
from app.core.states import Refusal

from .helpers import problems, valid, with_value

EL = "queues.support.eligibility"


@pytest.mark.parametrize("key", ["blocklist", "allowlist"])
@pytest.mark.parametrize(
    ("entry", "canonical"),
    [
        ("+4407400123456", "+447400123456"),  # UK mobile written with its trunk 0 after +44
        ("+49015112345678", "+4915112345678"),  # German mobile, trunk 0 kept
    ],
)
def test_trunk_zero_after_the_country_code_is_refused_with_the_canonical_form(
    key: str, entry: str, canonical: str
) -> None:
    """Accepted, such an entry would never match: the caller's "07400 123456" is +447400123456."""
    found = problems(with_value(f"{EL}.{key}", [entry]))
    assert any(f"{EL}.{key} is" in p and f'did you mean "{canonical}"?' in p for p in found), found


@pytest.mark.parametrize("key", ["blocklist", "allowlist"])
def test_an_entry_that_is_not_a_valid_number_is_refused(key: str) -> None:
    """Numbers libphonenumber does not know are refused as invalid before any list is looked at."""
    found = problems(with_value(f"{EL}.{key}", ["+4512345678"]))
    assert any(f"{EL}.{key} is" in p and "is not a valid phone number" in p for p in found), found


@pytest.mark.parametrize(
    ("entry", "caller", "region"),
    [
        ("+447400123456", "07400 123456", "GB"),
        ("+447400123456", "+44 (0)7400 123456", "GB"),
        ("+4915112345678", "015112345678", "DE"),
        ("+4532123456", "32 12 34 56", "DK"),
    ],
)
def test_an_accepted_blocklist_entry_blocks_the_caller_in_any_notation(entry: str, caller: str, region: str) -> None:
    data = with_value(f"{EL}.blocklist", [entry])
    data = with_value(f"{EL}.allowed_regions", [region], data)
    rules = valid(data).core().queue("support").eligibility
    assert eligibility.check(caller, rules).refusal is Refusal.BLOCKED


def test_prefixes_are_kept_as_written() -> None:
    """A prefix is matched on its digits alone, so it is not a number to check: kept as written."""
    data = with_value(f"{EL}.blocklist", ["+4590*", "+44*"])
    data = with_value(f"{EL}.allowlist", ["+4520*"], data)
    rules = valid(data).core().queue("support").eligibility
    assert rules.blocklist == ("+4590*", "+44*") and rules.allowlist == ("+4520*",)
