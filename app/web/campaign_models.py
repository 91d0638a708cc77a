"""Bodies and answers of the dialler's contact and do-not-call API (see app/web/campaigns.py).

Same rules as app/web/models.py: strict, bounded, closed bodies; answers built through these
models; instants as ISO 8601 UTC with the epoch seconds beside them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.web.models import Body as _Body
from app.web.models import By, Line, Reason, Timestamp

MAX_ENTRIES = 1000  # do-not-call entries in one JSON body; a file goes through the CSV import
MAX_ENTRY = 40  # "+4520123456", "0045 20 12 34 56", "+4590*"

DncText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ENTRY, description='"+4520123456" (a number) or "+4590*" (a prefix)'),
    Line,
]


class DncBody(_Body):
    """Do-not-call entries to add or remove. A number in national form is read in the campaign's
    first allowed region; on the global list write it with its country code."""

    entries: Annotated[list[DncText], Field(min_length=1, max_length=MAX_ENTRIES)]
    by: By = "admin"
    reason: Reason = ""


class RefusedRow(BaseModel):
    line: int = Field(description="the line where the row starts; the header is line 1")
    reason: str = Field(description="a code: invalid, foreign, premium_rate, no_number, bad_priority, …")
    detail: str


class ImportResult(BaseModel):
    """What an upload did. `refusals` lists the first 1000 refused rows; `reasons` counts them all."""

    campaign: str | None
    rows: int = Field(description="rows read (blank lines are not rows)")
    inserted: int = Field(description="new contacts (or new do-not-call entries)")
    merged: int = Field(description="rows merged into a contact (or entry) already there or earlier in the file")
    refused: int
    refusals: list[RefusedRow]
    reasons: dict[str, int]
    seconds: float


class ContactView(BaseModel):
    campaign: str
    contact_id: int
    number: str
    name: str
    fields: dict[str, str]
    timezone: str | None
    priority: int
    state: str = Field(description="new, claimed, scheduled, done, dnc or invalid")
    attempts: int
    next_due: Timestamp | None = Field(description="not due before this (scheduled contacts)")
    next_due_epoch: float | None
    last_outcome: str | None
    reserved_agent: str | None
    updated_at: Timestamp
    updated_at_epoch: float


class ContactList(BaseModel):
    campaign: str
    offset: int
    limit: int
    contacts: list[ContactView]


class DialFiguresView(BaseModel):
    attempts: int
    connects: int = Field(description="answered by a person and connected to an agent")
    machines: int = Field(description="answering machines")
    abandoned: int = Field(description="answered, but no agent within 2 s")
    abandon_rate: float | None = Field(description="abandoned / (connects + abandoned); null without any")
    amd_false_positives: float = Field(
        description="persons estimated among the machine verdicts (machines times the campaign's amd_false_positive)"
    )
    judged_abandon_rate: float | None = Field(
        description="the rate the campaign is paced on: those persons counted as abandoned live answers"
    )


class FiguresView(BaseModel):
    campaign: str
    contacts: dict[str, int] = Field(description="contacts in each state")
    left: int = Field(description="new, scheduled or claimed, and not on a do-not-call list")
    last_24h: DialFiguresView
    last_30d: DialFiguresView
    at: Timestamp = Field(description="when the figures were taken")
    at_epoch: float


class DncView(BaseModel):
    entry: str
    is_prefix: bool
    added_at: Timestamp
    added_at_epoch: float
    added_by: str


class DncList(BaseModel):
    campaign: str | None = Field(description="null: the global list, which covers every campaign")
    offset: int
    limit: int
    entries: list[DncView]


class DncChange(BaseModel):
    campaign: str | None
    entries: list[str] = Field(description="the entries as stored: E.164, a prefix ending in *")
    changed: int = Field(description="how many were added (not there before) or removed (were there)")


class CampaignStateBody(_Body):
    """Who pauses or resumes a campaign, and why (for the admin log)."""

    by: By = "admin"
    reason: Reason = ""


class CampaignStateView(BaseModel):
    campaign: str
    state: str = Field(description="running or paused as stored (set over the API), else as in the settings")
    engine_state: str | None = Field(description="what the running engine does now: running, paused or stopped")
    stored: bool = Field(description="whether the state was set over the API (it then outlives restarts)")
    updated_at: Timestamp | None
    updated_at_epoch: float | None
    updated_by: str | None
