"""Streaming CSV imports: a campaign's contacts, and do-not-call entries.

Theory of operation:
- The file is read record by record (`csv.reader` over the text stream) and written in batches of
  `batch_size` rows, one transaction per batch (`Store.import_contacts` / `Store.dnc_add`). Only
  one batch of rows is ever held, so 100 000 rows cost no more memory than 2 000; the batches
  run one after another, so the service's own commits get the store between them.
- Parsing and the number checks (phonenumbers is the costly part) run in a worker thread, batch by
  batch, so a large upload through the API does not stall the service's event loop.
- Each row is checked with the campaign's number rules (its `eligibility` settings) by the same
  function as callback eligibility (`app/core/eligibility.py`: valid, allowed region and number
  type, block/allow lists). A refused
  row is reported with its line number (the line where its record starts; the header is line 1)
  and a reason code; the rest of the file goes on. Blank lines are not rows.
- A number already in the campaign, or repeated in the file, is merged into one contact: the
  later row's name, time zone and priority where given, free fields combined, progress kept.
- A half-finished import (the store failed mid-file) has stored the batches before the failure;
  running it again is safe, as repeated numbers merge.
- Columns: `number` (required), `name`, `timezone` (IANA, e.g. Europe/Copenhagen; a place's
  zone, not an abbreviation such as EST, which keeps no summer time), `priority`
  (-1000..1000, higher is called first); every other column is a free field shown to the agent.
  Header names are matched without case or surrounding blanks; "," or ";" separates cells.
- A NUL character (0x00) in a cell refuses its row (`nul_character`), in the header the file:
  PostgreSQL cannot store it, and no contact's text has one (it is a sign of a binary or
  UTF-16 file read as UTF-8).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import json
import re
import time
import zoneinfo
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO, TypeVar

import phonenumbers

from app.core import eligibility
from app.core.campaigns import NOT_A_PLACE
from app.core.settings import CoreSettings, EligibilityRules
from app.store.codec import NUL
from app.store.contact_records import ImportRow

if TYPE_CHECKING:
    from app.store.base import Store

T = TypeVar("T")

BATCH_SIZE = 2000  # one transaction each: on SQLite 25-50 ms that the service's commits wait for
MAX_REPORTED = 1000  # refused rows listed one by one; the rest are only counted
MAX_COLUMNS = 50
MAX_NAME = 200
MAX_FIELD = 1000
PRIORITY_MIN, PRIORITY_MAX = -1000, 1000
KNOWN_COLUMNS = ("number", "name", "timezone", "priority")
_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}\*$")

# Every reason code a refused row can carry (besides the eligibility refusals: hidden, invalid,
# foreign, premium_rate, shared_cost, toll_free, voip, type_not_allowed, blocked).
NO_NUMBER = "no_number"
BAD_ROW = "bad_row"
BAD_PRIORITY = "bad_priority"
BAD_TIMEZONE = "bad_timezone"
TOO_LONG = "too_long"
NUL_CHARACTER = "nul_character"

# The uncached check: an upload's numbers would only push the engine's own out of its cache.
_check: Callable[[str | None, EligibilityRules], eligibility.Verdict] = eligibility.check.__wrapped__


class ImportRefused(ValueError):
    """The file is refused: its header is unusable (then nothing was stored), or a later line
    cannot be read as CSV (then the rows before it were stored; see `ImportReport.imported`)."""


@dataclass(frozen=True, slots=True)
class Refused:
    line: int
    reason: str
    detail: str


def campaign_rules(settings: CoreSettings, campaign: str) -> EligibilityRules | None:
    """The number rules an upload to `campaign` is checked with (its `eligibility` settings), or
    None when the settings have no such campaign."""
    found = next((c for c in settings.campaigns if c.id == campaign), None)
    return None if found is None else found.eligibility


def known_campaigns(settings: CoreSettings) -> list[str]:
    return sorted(c.id for c in settings.campaigns)


@dataclass(slots=True)
class ImportReport:
    rows: int = 0  # records read, blank lines not counted
    inserted: int = 0  # new contacts (or new do-not-call entries)
    merged: int = 0  # rows merged into a contact already there (or an entry already listed)
    refused: int = 0
    refusals: list[Refused] = field(default_factory=list)  # the first MAX_REPORTED
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    listener: Callable[[Refused], None] | None = None  # told of every refused row (the CLI prints them)

    @property
    def imported(self) -> int:
        return self.inserted + self.merged

    def stored_note(self) -> str:
        """What a refused or failed import left behind, for its error message."""
        if self.imported == 0:
            return "nothing was stored"
        return f"{self.imported} rows before it were stored; importing the file again merges them"

    def refuse(self, line: int, reason: str, detail: str) -> None:
        self.refused += 1
        self.reasons[reason] += 1
        refused = Refused(line, reason, detail)
        if len(self.refusals) < MAX_REPORTED:
            self.refusals.append(refused)
        if self.listener is not None:
            self.listener(refused)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone_problem(name: str) -> str | None:
    """Why `name` cannot be a contact's time zone (None: it can)."""
    if name not in _zones():
        return f"time zone {name!r} is unknown; use an IANA name like Europe/Paris"
    suggestion = NOT_A_PLACE.get(name)
    if suggestion is not None:
        return (
            f"time zone {name!r} is an abbreviation or a fixed offset, not a place, and can be an hour "
            f"off the contact's clock in summer; use the place's zone, e.g. {suggestion}"
        )
    return None


def _records(stream: TextIO) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells) for every non-blank record."""
    first = stream.readline()
    if not first.strip():
        raise ImportRefused("the file is empty: the first line must be the header (number, name, …)")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(_chain(first, stream), delimiter=delimiter)
    line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # e.g. a cell over csv's field size limit (128 KiB)
            raise ImportRefused(
                f"line {line + 1} cannot be read as CSV ({error}); the rest of the file was not read"
            ) from None
        start, line = line + 1, reader.line_num
        if cells and any(c.strip() for c in cells):
            yield start, cells


def _chain(first: str, stream: TextIO) -> Iterator[str]:
    yield first
    yield from stream


def _header(cells: list[str], required: str) -> list[str]:
    names = [c.strip().lower() for c in cells]
    if required not in names:
        raise ImportRefused(f"the header has no {required!r} column (it has: {', '.join(names) or 'nothing'})")
    if len(names) > MAX_COLUMNS:
        raise ImportRefused(f"the header has {len(names)} columns; at most {MAX_COLUMNS} are allowed")
    seen = [n for n in names if names.count(n) > 1]
    if seen:
        raise ImportRefused(f"the header names column {seen[0]!r} twice")
    if any(not n for n in names):
        raise ImportRefused("the header has a column without a name")
    if any(NUL in n for n in names):
        raise ImportRefused("the header has a NUL character (is the file UTF-16 or binary? save it as UTF-8 CSV)")
    return names


def contact_batches(
    stream: TextIO, rules: EligibilityRules, report: ImportReport, batch_size: int = BATCH_SIZE
) -> Iterator[list[ImportRow]]:
    """Checked rows of a contacts CSV in batches; refused rows go into `report`."""
    records = _records(stream)
    names = _header(next(records)[1], "number")
    batch: list[ImportRow] = []
    for line, cells in records:
        report.rows += 1
        row = _contact_row(line, names, cells, rules, report)
        if row is not None:
            batch.append(row)
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def _contact_row(
    line: int, names: list[str], cells: list[str], rules: EligibilityRules, report: ImportReport
) -> ImportRow | None:
    if len(cells) > len(names):
        report.refuse(line, BAD_ROW, f"{len(cells)} cells, but the header has {len(names)} columns")
        return None
    nul = _nul_column(names, cells)
    if nul is not None:
        report.refuse(line, NUL_CHARACTER, f"the {nul} cell has a NUL character, which no contact's text may hold")
        return None
    values = dict(zip(names, (c.strip() for c in cells), strict=False))
    raw = values.get("number", "")
    if not raw:
        report.refuse(line, NO_NUMBER, "the number is empty")
        return None
    verdict = _check(raw, rules)
    if not verdict.eligible or verdict.number is None:
        report.refuse(line, str(verdict.refusal), f"{raw!r} is refused by the campaign's number rules")
        return None
    priority: int | None = None
    if values.get("priority"):
        try:
            priority = int(values["priority"])
        except ValueError:
            priority = None
            report.refuse(line, BAD_PRIORITY, f"priority {values['priority']!r} is not a whole number")
            return None
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            report.refuse(line, BAD_PRIORITY, f"priority {priority} is outside {PRIORITY_MIN}..{PRIORITY_MAX}")
            return None
    timezone = values.get("timezone") or None
    problem = None if timezone is None else _timezone_problem(timezone)
    if problem is not None:
        report.refuse(line, BAD_TIMEZONE, problem)
        return None
    name = values.get("name", "")
    free = {k: v for k, v in values.items() if k not in KNOWN_COLUMNS and v}
    if len(name) > MAX_NAME or any(len(v) > MAX_FIELD for v in free.values()):
        report.refuse(line, TOO_LONG, f"the name is limited to {MAX_NAME} characters, a field to {MAX_FIELD}")
        return None
    fields = json.dumps(free, ensure_ascii=False, separators=(",", ":"))
    return (verdict.number, name, fields, timezone, priority)


def _nul_column(names: list[str], cells: list[str]) -> str | None:
    """The name of the first column whose cell holds NUL (None: none does)."""
    return next((repr(name) for name, cell in zip(names, cells, strict=False) if NUL in cell), None)


def dnc_entry(text: str, default_region: str = "ZZ") -> tuple[str, bool] | None:
    """(entry, is_prefix) for "+4520123456" (a number; national form read in `default_region`) or
    "+4590*" (every number starting so); None when it is neither."""
    text = text.strip().replace(" ", "")
    if text.endswith("*"):
        return (text[:-1], True) if _PREFIX.match(text) else None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), False


def dnc_batches(
    stream: TextIO, default_region: str, report: ImportReport, batch_size: int = BATCH_SIZE
) -> Iterator[list[tuple[str, bool]]]:
    """Entries of a do-not-call CSV (column `number`; "+4590*" for a prefix) in batches."""
    records = _records(stream)
    names = _header(next(records)[1], "number")
    column = names.index("number")
    batch: list[tuple[str, bool]] = []
    for line, cells in records:
        report.rows += 1
        raw = cells[column].strip() if column < len(cells) else ""
        nul = _nul_column(names, cells)
        if nul is not None:
            report.refuse(line, NUL_CHARACTER, f"the {nul} cell has a NUL character, which no entry may hold")
            continue
        if not raw:
            report.refuse(line, NO_NUMBER, "the number is empty")
            continue
        entry = dnc_entry(raw, default_region)
        if entry is None:
            report.refuse(line, "invalid", f"{raw!r} is neither a phone number nor a prefix like +4590*")
            continue
        batch.append(entry)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _ahead(batches: Iterator[T]) -> AsyncIterator[T]:
    """The batches, each read in a worker thread while the one before is being stored."""
    pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    try:
        while (batch := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            yield batch
    finally:
        if not pending.done():
            # The thread cannot be interrupted: let it finish its batch, so the generator is not
            # advanced from two threads, then drop what it read.
            await asyncio.wait([pending])
        if pending.done() and not pending.cancelled():
            pending.exception()  # retrieved: a refusal after a store failure is not logged twice


async def import_contacts(
    store: Store,
    campaign: str,
    stream: TextIO,
    rules: EligibilityRules,
    now: float,
    batch_size: int = BATCH_SIZE,
    report: ImportReport | None = None,
) -> ImportReport:
    """Stream a contacts CSV into `campaign`; raises ImportRefused before storing anything when
    the header is unusable."""
    report = report or ImportReport()
    started = time.perf_counter()
    batches = contact_batches(stream, rules, report, batch_size)
    try:
        async for batch in _ahead(batches):
            counts = await store.import_contacts(campaign, batch, now)
            report.inserted += counts.inserted
            report.merged += counts.merged
    except ImportRefused:
        if report.inserted:  # the rows before the refused line are stored
            await store.after_import(campaign)
        raise
    if report.inserted:
        await store.after_import(campaign)
    report.seconds = time.perf_counter() - started
    return report


async def import_dnc(
    store: Store,
    campaign: str | None,
    stream: TextIO,
    now: float,
    by: str,
    default_region: str = "ZZ",
    batch_size: int = BATCH_SIZE,
    report: ImportReport | None = None,
    after_batch: Callable[[list[tuple[str, bool]]], Awaitable[None]] | None = None,
) -> ImportReport:
    """Stream a do-not-call CSV into the global list (campaign None) or a campaign's;
    `after_batch` is awaited with each batch's entries once they are stored."""
    report = report or ImportReport()
    started = time.perf_counter()
    batches = dnc_batches(stream, default_region, report, batch_size)
    try:
        async for batch in _ahead(batches):
            added = await store.dnc_add(campaign, batch, now, by)
            report.inserted += added
            report.merged += len(batch) - added
            if after_batch is not None:
                await after_batch(batch)
    except ImportRefused:
        if report.inserted:
            await store.after_import(campaign)
        raise
    if report.inserted:
        await store.after_import(campaign)
    report.seconds = time.perf_counter() - started
    return report
