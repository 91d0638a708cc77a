"""Number eligibility: may we call this number back?

Theory of operation, in the order the checks run:
1. A withheld caller id ("anonymous", "unavailable", empty…) is never eligible: `hidden`.
2. The number must parse as a valid number (national numbers read in the queue's first allowed
   region): otherwise `invalid`. A number with an extension ("+4532123456;ext=12", "… ext. 12",
   "…,12", "…x12") is `invalid` too: only the main number could be dialled, which rings the
   switchboard and not the person who asked.
3. The allowlist (exact E.164 or a prefix ending in "*") overrides region, type and blocklist.
4. The blocklist refuses with `blocked`.
5. The number's region must be allowed: otherwise `foreign`.
6. Its type (mobile, fixed line, premium rate…) must be listed: premium rate, shared cost, toll
   free and VoIP refuse with their own reason so prompts and statistics can tell them apart.

The daily cap per number (`daily_limit`) depends on what was promised, not on the number alone:
the engine applies it after these checks (`EngineBase.callback_verdict`); allowlisted numbers are
exempt from it too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from app.core.settings import EligibilityRules
from app.core.states import Refusal

HIDDEN_CALLER_IDS = frozenset({"", "anonymous", "unavailable", "unknown", "private", "restricted", "withheld"})

_TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
NUMBER_TYPES = frozenset(_TYPE_NAMES.values())

_TYPE_REFUSALS = {
    "premium_rate": Refusal.PREMIUM_RATE,
    "shared_cost": Refusal.SHARED_COST,
    "toll_free": Refusal.TOLL_FREE,
    "voip": Refusal.VOIP,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    eligible: bool
    number: str | None  # E.164 when the number parsed
    refusal: Refusal | None = None
    number_type: str | None = None


def _listed(e164: str, entries: tuple[str, ...]) -> bool:
    for entry in entries:
        if entry.endswith("*"):
            if e164.startswith(entry[:-1]):
                return True
        elif e164 == entry:
            return True
    return False


def allowlisted(e164: str, rules: EligibilityRules) -> bool:
    return _listed(e164, rules.allowlist)


def _parse_valid(raw: str | None, default_region: str) -> phonenumbers.PhoneNumber | None:
    if raw is None:
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_region)
    except NumberParseException:
        return None
    if parsed.extension or not phonenumbers.is_valid_number(parsed):
        return None
    return parsed


def normalize(raw: str | None, default_region: str) -> str | None:
    """E.164 form of a caller id or keyed-in number, or None when it is not a valid number."""
    parsed = _parse_valid(raw, default_region)
    return None if parsed is None else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=4096)  # pure and called several times per event (validate, handle)
def check(raw: str | None, rules: EligibilityRules) -> Verdict:
    if raw is None or raw.strip().lower() in HIDDEN_CALLER_IDS:
        return Verdict(False, None, Refusal.HIDDEN)
    parsed = _parse_valid(raw, rules.default_region)
    if parsed is None:
        return Verdict(False, None, Refusal.INVALID)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    number_type = _TYPE_NAMES.get(phonenumbers.number_type(parsed), "unknown")
    if _listed(e164, rules.allowlist):
        return Verdict(True, e164, None, number_type)
    if _listed(e164, rules.blocklist):
        return Verdict(False, e164, Refusal.BLOCKED, number_type)
    region = phonenumbers.region_code_for_number(parsed)
    if region not in rules.allowed_regions:
        return Verdict(False, e164, Refusal.FOREIGN, number_type)
    if number_type not in rules.allowed_types:
        return Verdict(False, e164, _TYPE_REFUSALS.get(number_type, Refusal.TYPE_NOT_ALLOWED), number_type)
    return Verdict(True, e164, None, number_type)
