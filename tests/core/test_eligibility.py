"""Number eligibility (phonenumbers): regions, types, hidden numbers, block and allow lists."""

from __future__ import annotations

import pytest

from app.core.eligibility import check, normalize
from app.core.settings import EligibilityRules
from app.core.states import Refusal

DK = EligibilityRules()
ALL_TYPES = ("mobile", "fixed_line", "fixed_line_or_mobile")


@pytest.mark.parametrize(
    ("raw", "rules", "refusal"),
    [
        (None, DK, Refusal.HIDDEN),
        ("", DK, Refusal.HIDDEN),
        ("anonymous", DK, Refusal.HIDDEN),
        (" Anonymous ", DK, Refusal.HIDDEN),
        ("unavailable", DK, Refusal.HIDDEN),
        ("12", DK, Refusal.INVALID),
        ("not a number", DK, Refusal.INVALID),
        ("+46701234567", DK, Refusal.FOREIGN),
        ("+4590123456", DK, Refusal.PREMIUM_RATE),
        ("+4580123456", DK, Refusal.TOLL_FREE),
        ("+971700012345", EligibilityRules(allowed_regions=("AE",)), Refusal.SHARED_COST),
        ("+445612345678", EligibilityRules(allowed_regions=("GB",)), Refusal.VOIP),
        ("+447640123456", EligibilityRules(allowed_regions=("GB",)), Refusal.TYPE_NOT_ALLOWED),  # pager
        ("+4520123456", EligibilityRules(allowed_types=("fixed_line",)), Refusal.TYPE_NOT_ALLOWED),
        ("+4520123456", EligibilityRules(blocklist=("+4520123456",)), Refusal.BLOCKED),
        ("+4520123456", EligibilityRules(blocklist=("+452012*",)), Refusal.BLOCKED),
    ],
)
def test_refusal_reasons(raw: str | None, rules: EligibilityRules, refusal: Refusal) -> None:
    verdict = check(raw, rules)
    assert not verdict.eligible and verdict.refusal is refusal


@pytest.mark.parametrize("raw", ["+4520123456", "20123456", "20 12 34 56", "004520123456", "+4532123456"])
def test_danish_numbers_are_eligible_in_any_notation(raw: str) -> None:
    verdict = check(raw, DK)
    assert verdict.eligible and verdict.refusal is None and verdict.number is not None
    assert verdict.number.startswith("+45")


def test_block_prefix_only_matches_its_prefix() -> None:
    rules = EligibilityRules(blocklist=("+4590*",), allowed_types=(*ALL_TYPES, "premium_rate"))
    assert check("+4590123456", rules).refusal is Refusal.BLOCKED
    assert check("+4520123456", rules).eligible


@pytest.mark.parametrize(
    ("raw", "allow", "blocklist"),
    [
        ("+4590123456", ("+4590123456",), ()),  # premium rate type
        ("+46701234567", ("+46*",), ()),  # foreign region
        ("+4520123456", ("+4520*",), ("+4520123456",)),  # blocked
    ],
)
def test_allowlist_overrides_region_type_and_blocklist(
    raw: str, allow: tuple[str, ...], blocklist: tuple[str, ...]
) -> None:
    verdict = check(raw, EligibilityRules(allowlist=allow, blocklist=blocklist))
    assert verdict.eligible


@pytest.mark.parametrize("raw", [None, "anonymous", "private", "restricted"])
def test_hidden_is_never_eligible_even_with_a_catch_all_allowlist(raw: str | None) -> None:
    assert check(raw, EligibilityRules(allowlist=("+*",))).refusal is Refusal.HIDDEN


def test_allowed_regions_can_be_several() -> None:
    rules = EligibilityRules(allowed_regions=("DK", "SE"))
    assert check("+46701234567", rules).eligible
    assert check("20123456", rules).number == "+4520123456"  # national numbers read in the first region


def test_normalize_returns_e164_or_none() -> None:
    assert normalize("0045 20 12 34 56", "DK") == "+4520123456"
    assert normalize("123", "DK") is None
    assert normalize(None, "DK") is None


@pytest.mark.parametrize(
    "raw", ["+4532123456;ext=12", "+45 32 12 34 56 ext. 12", "+4532123456,12", "+4532123456x12", "32123456#12"]
)
def test_a_number_with_an_extension_is_invalid(raw: str) -> None:
    """Only the main number could be dialled: the callback would ring the switchboard, not the caller."""
    verdict = check(raw, EligibilityRules(allowlist=("+45*",)))
    assert not verdict.eligible and verdict.refusal is Refusal.INVALID and verdict.number is None
    assert normalize(raw, "DK") is None
