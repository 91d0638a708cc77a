"""Times and estimates as the API shows them.

Theory of operation: the engine counts time in epoch seconds (floats); the API shows instants as
ISO 8601 in UTC with milliseconds ("2026-12-04T14:03:05.123Z"), the same width every time, with
the epoch seconds beside them in `*_epoch` fields for clients that compute. Durations (waits)
stay seconds. An estimate the engine cannot make is `null`, never a large number a client might
show as "24 hours".
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The engine once said "unknown" as one day (and infinity); no usable estimate is that long.
UNKNOWN_WAIT = 24 * 3600.0
# The instants `iso` can write: years 1 to 9999 (datetime's own range), in epoch seconds.
FIRST_INSTANT = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH).total_seconds()
LAST_INSTANT = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - EPOCH).total_seconds()


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds, e.g. "2026-12-04T14:03:05.123Z"."""
    # Whole milliseconds first: fromtimestamp(float) could turn .123 into .122999 and truncate it.
    instant = EPOCH + timedelta(milliseconds=round(epoch * 1000))
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def writable(epoch: float) -> bool:
    """Whether `iso` can write this instant (a finite one between years 1 and 9999)."""
    return FIRST_INSTANT <= epoch <= LAST_INSTANT


def iso_or_none(epoch: float | None) -> str | None:
    return None if epoch is None else iso(epoch)


def known_estimate(seconds: float | None) -> float | None:
    """The engine's wait estimate for the API (seconds, one decimal), or None when it is unknown:
    None from the engine, or an infinite or day-long figure (how it said "no agent serves the queue")."""
    if seconds is None or not math.isfinite(seconds) or seconds >= UNKNOWN_WAIT:
        return None
    return round(max(seconds, 0.0), 1)
