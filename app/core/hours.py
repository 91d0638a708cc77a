"""Opening hours in a queue's own time zone.

Theory of operation: a day's ranges come from its date exception when there is one, else from
its weekday. Times are wall-clock seconds since local midnight, so "08:00-16:00" means 08:00 local
on DST days too. `next_change` finds the next instant the open/closed answer flips, which the
engine uses as a timer (close sweeps at closing time, callback dispatch at opening time).
Reading the tz database is the only I/O here and it is deterministic.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.core.settings import OpeningHours, TimeRange

_SCAN_DAYS = 400  # long enough to cross any run of closed exception days


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _ranges_for(hours: OpeningHours, day: date) -> tuple[TimeRange, ...]:
    key = day.isoformat()
    for when, ranges in hours.exceptions:
        if when == key:
            return ranges
    return hours.weekly[day.weekday()]


def is_open(hours: OpeningHours | None, now: float) -> bool:
    if hours is None:
        return True
    local = datetime.fromtimestamp(now, _zone(hours.timezone))
    second = local.hour * 3600 + local.minute * 60 + local.second
    return any(r.start <= second < r.end for r in _ranges_for(hours, local.date()))


def _instants(day: date, second: int, zone: ZoneInfo) -> tuple[float, ...]:
    """The instants of a wall-clock second of `day` (86400 is the next midnight), in order: one on
    most days; both passes of an hour the clocks go back over; and for a time the clocks skip
    (02:30 when they go from 02:00 to 03:00) the instant of the jump, the first one past it."""
    # Add to the naive wall time, then attach the zone, so DST days keep their local meaning.
    wall = datetime(day.year, day.month, day.day) + timedelta(seconds=second)
    first, second_pass = (wall.replace(tzinfo=zone, fold=f).timestamp() for f in (0, 1))
    if datetime.fromtimestamp(first, zone).replace(tzinfo=None) == wall:
        return (first,) if first == second_pass else (first, second_pass)
    # Skipped: the jump lies between the two readings; find its first second past `wall`.
    lo, hi = int(min(first, second_pass)), int(max(first, second_pass))
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return (float(lo),)


def next_change(hours: OpeningHours | None, now: float) -> float | None:
    """The first instant after `now` at which `is_open` changes, or None if it never does."""
    if hours is None:
        return None
    zone = _zone(hours.timezone)
    state = is_open(hours, now)
    today = datetime.fromtimestamp(now, zone).date()
    for offset in range(_SCAN_DAYS):
        day = today + timedelta(days=offset)
        found = [
            at
            for r in _ranges_for(hours, day)
            for second in (r.start, r.end)
            for at in _instants(day, second, zone)
            if at > now and is_open(hours, at) != state
        ]
        if found:
            return min(found)
    return None


def open_time_after(hours: OpeningHours | None, start: float, seconds: float) -> float | None:
    """The instant by which `seconds` of opening time have passed since `start` (a wait that only
    goes on while the queue is open), or None if the hours never open again."""
    at, left = start, max(0.0, seconds)
    for _ in range(64):  # each turn passes one open or closed stretch
        change = next_change(hours, at)
        if is_open(hours, at):
            if change is None or at + left <= change:
                return at + left
            left -= change - at
        elif change is None:
            return None
        at = change
    return None


def last_close_before(hours: OpeningHours | None, now: float) -> float | None:
    """When the queue last closed, if it is closed now (for max_wait_after_close)."""
    if hours is None or is_open(hours, now):
        return None
    zone = _zone(hours.timezone)
    today = datetime.fromtimestamp(now, zone).date()
    for offset in range(0, 8):
        day = today - timedelta(days=offset)
        ends = [at for r in _ranges_for(hours, day) for at in _instants(day, r.end, zone) if at <= now]
        if ends:
            return max(ends)
    return None
