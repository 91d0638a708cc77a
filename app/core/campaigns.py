"""Campaign rules that need no engine state: dates, calling hours, do-not-call, retries, parity.

Theory of operation:
- A campaign dials only while it is running and within its active dates (ISO dates, inclusive,
  in the campaign's time zone).
- A contact is called only within the campaign's calling hours in the contact's local time. The
  zone is the contact's own when the upload gave one (a place's zone: "EST" and the like,
  NOT_A_PLACE, are ignored), else the zones phonenumbers knows for the number, else the
  campaign's. A number spanning several zones (a country-wide range) is called only when the
  hours hold in every one of them: never outside anyone's hours.
- Do-not-call entries are E.164 numbers or prefixes, global or per campaign, checked at dial time.
- After an attempt a contact is retried after the interval for its outcome while attempts remain;
  answered, invalid and abandoned attempts are not retried by these intervals (abandoned waits
  ABANDON_QUARANTINE, see dialler.py).
- Parity: among campaigns of the same order, the next call goes to the one furthest behind its
  share (dials / parity, ties by id), so 2:1 parities share calls 2:1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import timezone as pn_timezone

from app.core import hours
from app.core.settings import CampaignSettings
from app.core.states import AttemptOutcome

_UNKNOWN_ZONE = "Etc/Unknown"

# Zone names that are a clock, not a place: abbreviations and POSIX-style rules from the tz
# database's backward files, and the host's own zone. "EST" is UTC-5 all year, so a New York
# contact given "EST" would be rung an hour late by its clock all summer (21:30 for hours ending
# 21:00). The upload refuses them (the value is the place's zone it suggests); one stored before
# that is called by its number's zones instead. Etc/GMT±N is not in the list yet: the end-to-end
# tests upload such zones to get a given local hour (see tests/e2e/test_dialler_rules.py).
NOT_A_PLACE = {
    "EST": "America/New_York",
    "EST5EDT": "America/New_York",
    "CST6CDT": "America/Chicago",
    "MST": "America/Denver (America/Phoenix for Arizona)",
    "MST7MDT": "America/Denver",
    "PST8PDT": "America/Los_Angeles",
    "HST": "Pacific/Honolulu",
    "CET": "Europe/Berlin",
    "MET": "Europe/Berlin",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
    "GMT": "Europe/London",
    "GMT0": "Europe/London",
    "GMT+0": "Europe/London",
    "GMT-0": "Europe/London",
    "Greenwich": "Europe/London",
    "UTC": "Europe/London",
    "UCT": "Europe/London",
    "Universal": "Europe/London",
    "Zulu": "Europe/London",
    "Factory": "Europe/London",
    "localtime": "Europe/London",
}


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def in_dates(c: CampaignSettings, now: float) -> bool:
    today = datetime.fromtimestamp(now, _zone(c.timezone)).date()
    if c.active_from is not None and today < date.fromisoformat(c.active_from):
        return False
    return not (c.active_to is not None and today > date.fromisoformat(c.active_to))


@lru_cache(maxsize=4096)
def _number_zones(number: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException:
        return ()
    zones = pn_timezone.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != _UNKNOWN_ZONE)


def contact_zones(number: str, contact_tz: str | None, campaign_tz: str) -> tuple[str, ...]:
    """The time zones whose clocks decide when this contact may be called."""
    if contact_tz and contact_tz not in NOT_A_PLACE:
        return (contact_tz,)
    return _number_zones(number) or (campaign_tz,)


def callable_now(c: CampaignSettings, zones: Iterable[str], now: float) -> bool:
    if c.calling_hours is None:
        return True
    return all(hours.is_open(dataclasses.replace(c.calling_hours, timezone=z), now) for z in zones)


def next_callable(c: CampaignSettings, zones: tuple[str, ...], now: float) -> float | None:
    """The first instant after `now` within calling hours in every zone (None: never)."""
    if c.calling_hours is None:
        return now
    at = now
    for _ in range(64):  # each step moves to some zone's next opening; zones overlap quickly or never
        if callable_now(c, zones, at):
            return at
        later = []
        for z in zones:
            h = dataclasses.replace(c.calling_hours, timezone=z)
            if not hours.is_open(h, at):
                change = hours.next_change(h, at)
                if change is None:
                    return None
                later.append(change)
        at = max(later)
    return None


class DncList:
    """Do-not-call entries: exact numbers and prefixes, global (None) or per campaign."""

    def __init__(self) -> None:
        self._exact: dict[str | None, set[str]] = {}
        self._prefixes: dict[str | None, set[str]] = {}

    def replace(self, campaign: str | None, entries: Iterable[tuple[str, bool]]) -> None:
        self._exact[campaign] = set()
        self._prefixes[campaign] = set()
        self.add(campaign, entries)

    def add(self, campaign: str | None, entries: Iterable[tuple[str, bool]]) -> None:
        for entry, is_prefix in entries:
            (self._prefixes if is_prefix else self._exact).setdefault(campaign, set()).add(entry)

    def remove(self, campaign: str | None, entries: Iterable[tuple[str, bool]]) -> None:
        for entry, is_prefix in entries:
            (self._prefixes if is_prefix else self._exact).get(campaign, set()).discard(entry)

    def drop_if_empty(self, campaign: str) -> None:
        """Forget a campaign's scope that holds no entry (a removed campaign's, say)."""
        for scopes in (self._exact, self._prefixes):
            if campaign in scopes and not scopes[campaign]:
                del scopes[campaign]

    def missing(self, campaign: str | None, entries: Iterable[tuple[str, bool]]) -> list[tuple[str, bool]]:
        """The entries of this list (campaign's own, or global) that it does not hold yet."""
        exact, prefixes = self._exact.get(campaign, set()), self._prefixes.get(campaign, set())
        return [(entry, is_prefix) for entry, is_prefix in entries if entry not in (prefixes if is_prefix else exact)]

    def blocked(self, number: str, campaign: str) -> bool:
        for scope in (None, campaign):
            if number in self._exact.get(scope, ()):
                return True
            if any(number.startswith(p) for p in self._prefixes.get(scope, ())):
                return True
        return False


def retry_delay(c: CampaignSettings, outcome: AttemptOutcome) -> float | None:
    """Seconds before the next attempt after `outcome`; None: this outcome is not retried."""
    return {
        AttemptOutcome.BUSY: c.retry.busy,
        AttemptOutcome.NO_ANSWER: c.retry.no_answer,
        AttemptOutcome.MACHINE: c.retry.machine,
        AttemptOutcome.VOICEMAIL: c.retry.machine,
        AttemptOutcome.FAILED: c.retry.failed,
    }.get(outcome)


def parity_pick(candidates: list[CampaignSettings], dials: dict[str, float]) -> CampaignSettings | None:
    """The campaign that gets the next call: lowest order, then furthest behind its parity."""
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.order, dials.get(c.id, 0.0) / max(1, c.parity), c.id))
