"""Contacts as the core sees them: a small window of rows the store holds by the thousand.

The store keeps every contact of every campaign; the core never holds a whole list. It asks for
the few due now (`LoadContacts` → `ContactsLoaded`, each a `DueContact`) and reports each
contact's change of state (`ContactProgress`) with the step that caused it, so the store writes
both in one transaction: a contact taken into the window is "claimed" (never handed out twice,
even to a second node), a contact to retry is "scheduled" with its next due time, a contact whose
campaign has finished with it is "done". A contact's last outcome is reported again with every
change that is not a dial (claimed, given back), so a call_back promise outlives its claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# ContactProgress.state values
CLAIMED = "claimed"
SCHEDULED = "scheduled"
DONE = "done"
PROGRESS_STATES = frozenset({CLAIMED, SCHEDULED, DONE})


@dataclass(frozen=True, slots=True)
class DueContact:
    campaign: str
    contact_id: int
    number: str  # E.164
    name: str
    fields: Mapping[str, str]  # the free columns of the upload, shown to the agent
    timezone: str | None  # IANA name given with the contact; None: from the number or campaign
    priority: int  # higher first, then lower id (as the store orders them)
    attempts: int  # dials already made (counted toward max_attempts)
    reserved_agent: str | None  # a call_back disposition may keep the contact for its agent
    # the stored last outcome or disposition: "call_back" is a promise, dialled whatever attempts
    # were used (the answered call that made it counted); kept through claims and hand-backs
    last_outcome: str | None = None
    # the engine's own: when a reservation taken out of the window lapses (kept with its dial,
    # so a contact back in the window keeps its first deadline); never from the store
    reserved_until: float | None = None


@dataclass(frozen=True, slots=True)
class ContactProgress:
    campaign: str
    contact_id: int
    state: str  # "claimed" | "scheduled" | "done"
    attempts: int
    next_due: float | None  # for "scheduled": not due before this time
    last_outcome: str | None  # the last attempt's outcome (AttemptOutcome value) or disposition
    reserved_agent: str | None
