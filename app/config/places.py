"""Readers for the locale a setting names: IANA time zones, ISO country codes, language codes.

Shared by the main schema and the notifications section (which the schema imports), so a zone, a
region or a language is refused the same way wherever it is named.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from functools import cache

import phonenumbers

from app.config.errors import bad


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_name(value: object) -> str:
    if not isinstance(value, str):
        raise bad("expected text")
    name = value.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = suggest(name, sorted(_zones()))
        raise bad(f'expected an IANA time zone name like "Europe/Copenhagen"{hint}') from None
    return name


@cache
def supported_regions() -> frozenset[str]:
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def region_code(value: object) -> str:
    """One two-letter ISO country code phonenumbers knows ("dk" is read as "DK")."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if not re.fullmatch(r"[A-Z]{2}", code) or code not in supported_regions():
        raise bad(f'"{value}" is not a two-letter ISO country code like "DK"')
    return code


def language_code(value: object) -> str:
    """A language code as prompts and message templates are named by ("en", "da", "en_GB")."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z]{2,4})?", value):
        raise bad('expected a language code like "en" or "en_GB"')
    return value
