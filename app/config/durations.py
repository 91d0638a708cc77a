"""Durations as admins write them: "30s", "5m", "1h30m", "72h", "2d", or a plain number of seconds.

Theory of operation: the YAML holds durations for people; the core wants seconds (float). A
duration is either a number (seconds) or a string of one or more `<number><unit>` parts with
units d, h, m, s, largest first, each at most once ("1h30m", "1d 12h", "1.5h"). A string that is
only a number is seconds too ("45"). Negative, infinite or NaN values are refused.
`format_duration` writes seconds back in the shortest such form, so parse/format round-trips.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS: dict[str, int] = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_PART = re.compile(rf"\s*({_NUMBER})\s*([dhms])", re.IGNORECASE)
_PLAIN = re.compile(rf"\s*({_NUMBER})\s*")

EXPECTED = 'expected seconds or a duration like "30s", "5m", "1h30m", "2d"'


class DurationError(ValueError):
    """A value that is not a duration; the message says what is expected."""


def parse_duration(value: object) -> float:
    """Seconds from a number or a duration string; raises DurationError."""
    if isinstance(value, bool) or value is None:
        raise DurationError(EXPECTED)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise DurationError(EXPECTED)
    if math.isnan(seconds) or math.isinf(seconds):
        raise DurationError(EXPECTED)
    if seconds < 0:
        raise DurationError("a duration must not be negative")
    return seconds


def _parse_text(text: str) -> float:
    stripped = text.strip()
    if stripped.startswith("-"):
        # Say "negative" rather than "not a duration" for "-5" and "-5m".
        try:
            _parse_text(stripped[1:])
        except DurationError:
            raise DurationError(EXPECTED) from None
        raise DurationError("a duration must not be negative")
    plain = _PLAIN.fullmatch(text)
    if plain:
        return float(plain.group(1))
    total = 0.0
    pos = 0
    last_rank = -1
    ranks = list(_UNITS)
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m:
            if text[pos:].strip() == "" and pos > 0:
                break
            raise DurationError(EXPECTED)
        unit = m.group(2).lower()
        rank = ranks.index(unit)
        if rank <= last_rank:
            raise DurationError(f"{EXPECTED}, with units largest first and each used once")
        last_rank = rank
        total += float(m.group(1)) * _UNITS[unit]
        pos = m.end()
    if last_rank < 0:
        raise DurationError(EXPECTED)
    return total


def format_duration(seconds: float) -> str:
    """The shortest duration string for `seconds`: 5400 -> "1h30m", 0 -> "0s", 1.5 -> "1.5s"."""
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"cannot format {seconds!r} as a duration")
    whole = int(seconds)
    fraction = seconds - whole
    parts: list[str] = []
    for unit, size in _UNITS.items():
        if size == 1:
            break
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if whole or fraction or not parts:
        # The shortest repr, written without an exponent, parses back to the same float.
        secs = format(Decimal(repr(whole + fraction)), "f") if fraction else str(whole)
        parts.append(f"{secs}s")
    return "".join(parts)
