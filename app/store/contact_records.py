"""Plain records of the dialler's contact storage: contacts, do-not-call entries, campaign figures.

Rows are turned into these here, the same way for every backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.contacts import DueContact
from app.store.codec import load_json
from app.store.contacts_schema import GLOBAL_SCOPE

# One row of an upload, checked and normalized: number (E.164), name, free fields (a JSON object
# of text), timezone (IANA name or None), priority (None: 0 for a new contact, kept on a merge).
ImportRow = tuple[str, str, str, str | None, int | None]

# Dial outcomes (the `outcome` of a `dial_attempt` activity) counted by the campaign figures.
CONNECTED = ("answered",)
MACHINE = ("machine", "voicemail")

CONTACT_COLUMNS = (
    "id, campaign, number, name, fields, timezone, priority, state, attempts, next_due, last_outcome, "
    "reserved_agent, updated_at"
)


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A contact as stored: its upload data and its progress through the campaign."""

    campaign: str
    contact_id: int
    number: str
    name: str
    fields: Mapping[str, str]
    timezone: str | None
    priority: int
    state: str  # new | claimed | scheduled | done | dnc | invalid
    attempts: int
    next_due: float | None
    last_outcome: str | None
    reserved_agent: str | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class DncEntry:
    campaign: str | None  # None: every campaign
    entry: str  # E.164 number, or the prefix of one
    is_prefix: bool
    added_at: float
    added_by: str


@dataclass(frozen=True, slots=True)
class DialFigures:
    """Dials of one campaign over a window. The abandon rate is abandoned / (connected + abandoned):
    of the contacts who answered a person, the share who heard no agent."""

    attempts: int = 0
    connects: int = 0
    machines: int = 0
    abandoned: int = 0

    @property
    def abandon_rate(self) -> float | None:
        live = self.connects + self.abandoned
        return None if live == 0 else self.abandoned / live

    def judged_abandon_rate(self, amd_false_positive: float) -> float | None:
        """The rate the campaign is paced on (app/core/pacing.py): each machine verdict counts
        `amd_false_positive` of a person hung up on as a machine, a live answer abandoned."""
        persons = self.machines * amd_false_positive
        live = self.connects + self.abandoned + persons
        return None if live == 0 else (self.abandoned + persons) / live


@dataclass(frozen=True, slots=True)
class DialMinute:
    """One minute of a campaign's dial log: live answers (connected + abandoned; a connected dial
    at its `connected_at`, else at the line's time), abandoned ones and machine verdicts. What the
    pacer's judged windows are seeded from at start-up."""

    minute: int  # floor(seconds / 60)
    lives: int
    abandoned: int
    machines: int


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    campaign: str
    contacts: Mapping[str, int]  # how many contacts in each state
    left: int  # new, scheduled or claimed, and not on a do-not-call list
    last_24h: DialFigures
    last_30d: DialFigures
    at: float


@dataclass(frozen=True, slots=True)
class CampaignState:
    campaign: str
    state: str  # active | paused | stopped
    updated_at: float
    updated_by: str


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What one batch of an upload did: rows new to the campaign, rows merged into one there."""

    inserted: int
    merged: int


# A contact the engine is done with because of do-not-call, or whose number does not exist, is
# stored in its own state, so a supervisor can list them (and a do-not-call entry removed later
# gives the first kind back to the campaign; see `dnc_remove`).
_DONE_AS = {"dnc": "dnc", "invalid": "invalid"}


def stored_state(state: str, last_outcome: str | None) -> str:
    return _DONE_AS.get(last_outcome or "", state) if state == "done" else state


def scope(campaign: str | None) -> str:
    if campaign is not None and campaign == GLOBAL_SCOPE:
        raise ValueError("a campaign id cannot be empty")
    return GLOBAL_SCOPE if campaign is None else campaign


def contact_from_row(r: Sequence[Any]) -> ContactRecord:
    cid = int(r[0])
    return ContactRecord(
        campaign=r[1],
        contact_id=cid,
        number=r[2],
        name=r[3],
        fields=_text_fields(r[4], cid),
        timezone=r[5],
        priority=int(r[6]),
        state=r[7],
        attempts=int(r[8]),
        next_due=None if r[9] is None else float(r[9]),
        last_outcome=r[10],
        reserved_agent=r[11],
        updated_at=float(r[12]),
    )


def due_from_row(r: Sequence[Any]) -> DueContact:
    c = contact_from_row(r)
    return DueContact(
        campaign=c.campaign,
        contact_id=c.contact_id,
        number=c.number,
        name=c.name,
        fields=c.fields,
        timezone=c.timezone,
        priority=c.priority,
        attempts=c.attempts,
        reserved_agent=c.reserved_agent,
        last_outcome=c.last_outcome,  # "call_back": a promise, dialled whatever attempts were used
    )


def dnc_from_row(r: Sequence[Any]) -> DncEntry:
    return DncEntry(None if r[0] == GLOBAL_SCOPE else r[0], r[1], bool(r[2]), float(r[3]), r[4])


def figures_from_row(r: Sequence[Any] | None) -> DialFigures:
    if r is None:
        return DialFigures()
    return DialFigures(*(int(v or 0) for v in r))


def _text_fields(raw: Any, cid: int) -> dict[str, str]:
    return {str(k): str(v) for k, v in load_json(raw, f"contact {cid} fields").items()}


def merge_rows(rows: Sequence[ImportRow]) -> list[ImportRow]:
    """One row per number, as if the rows were upserted one by one: the later row's name, time
    zone and priority where given, free fields combined (the later value wins); first-seen order."""
    merged: dict[str, ImportRow] = {}
    for row in rows:
        old = merged.get(row[0])
        if old is None:
            merged[row[0]] = row
            continue
        fields = (
            old[2]
            if row[2] == "{}"
            else json.dumps({**json.loads(old[2]), **json.loads(row[2])}, ensure_ascii=False, separators=(",", ":"))
        )
        merged[row[0]] = (
            row[0],
            row[1] or old[1],
            fields,
            row[3] if row[3] is not None else old[3],
            row[4] if row[4] is not None else old[4],
        )
    return list(merged.values())
