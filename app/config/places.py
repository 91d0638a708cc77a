"""Readers for the locale a setting names: IANA time zones, ISO country codes, language codes.

Shared by the main schema and the notifications section (which the schema imports), so a zone, a
region or a language is refused the same way wherever it is named.

A zone named by a fixed offset from GMT ("Etc/GMT+1") is refused: POSIX inverts its sign (Etc/GMT+1
is UTC-01:00, an hour behind London), so an admin who meant "Copenhagen, UTC+1" would shift every
opening hour by two hours, and the zone never follows summer time either. Business hours belong to a
place: the error asks for the region's zone ("Europe/Copenhagen"). Refused rather than warned about:
a check-config or reload refusal is seen at once and changes nothing (a refused reload keeps the
running settings), a warning in the log is found after the callers met closed queues. Only a
campaign definition stored over the API before this rule is still read (context STORED_DEFINITION,
app/config/errors.py): refusing it would stop the service at start.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from functools import cache

import phonenumbers
from pydantic import ValidationInfo

from app.config.errors import bad, stored_definition


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


# "Etc/GMT+1", "GMT-2", "UTC+01:00": a zone named by its offset (the sign group and the hours)
_OFFSET_NAME = re.compile(r"(?:Etc/)?(?:GMT|UTC)([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@cache
def _suggestible_zones() -> list[str]:
    return sorted(z for z in _zones() if not _inverted(z))


def _inverted(name: str) -> bool:
    """An Etc/GMT±N zone with N > 0: its sign is the opposite of what it reads as."""
    found = _OFFSET_NAME.fullmatch(name)
    return found is not None and name.upper().startswith(("ETC/GMT", "GMT")) and int(found[2]) != 0


def _offset_refusal(name: str) -> str | None:
    """Why a zone named by an offset is refused (module comment), or None for any other name."""
    found = _OFFSET_NAME.fullmatch(name)
    if found is None or (int(found[2]) == 0 and not int(found[3] or 0)):
        return None  # "Etc/GMT+0", "GMT-0": UTC itself, no sign to get wrong
    sign, hours, minutes = found[1], int(found[2]), found[3] or "00"
    advice = (
        'name the region instead, like "Europe/Copenhagen" (its hours then follow summer time too), '
        'or "UTC" for UTC itself'
    )
    if _inverted(name) and name in _zones():
        real = f"UTC{'-' if sign == '+' else '+'}{hours:02d}:{minutes}"
        read = f"UTC{sign}{hours:02d}:{minutes}"
        return f"{name} is {real}, not {read}: in Etc/GMT zone names the sign is inverted (POSIX); {advice}"
    return f"a fixed offset is not a time zone name; {advice}"


def timezone_name(value: object, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise bad("expected text")
    name = value.strip()
    stored = stored_definition(info)
    refusal = _offset_refusal(name)
    if refusal is not None and not (stored and name in _zones()):
        raise bad(refusal)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = suggest(name, _suggestible_zones())
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
