"""Turning requests, attempts and log data into rows and back; shared by every backend.

Theory of operation: the fields the store queries on (state, queue, place, numbers, times) are
columns; every other persisted field of `Request` goes into one JSON object (`extra`), found by
looking at the dataclass, so a field added to `Request` later is kept without a migration as long
as it is JSON-able. The callback menu is kept too (where the caller is in it), so a restart can
re-prompt the caller from that point instead of taking their next keys as a fresh choice.
JSON is strict: a value that is not JSON-able raises StoreDataError instead of being stored as
something it is not. Non-finite floats (an infinite wait estimate) are stored as strings, since
neither JSON nor PostgreSQL's jsonb has them.

NUL: PostgreSQL refuses the character 0x00 in text and "\\u0000" in jsonb, and a commit it refuses
would be retried and then stop the service. The API and the imports refuse NUL with a clear
error (app/web, app/store/contact_import.py); as the last line of defence every text the rows
below carry is written with NUL replaced by U+FFFD (`text`, `texts`), on every backend alike, so
a NUL that slips through some other path is stored the same everywhere and stops nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

from app.core.commands import Activity
from app.core.request import Attempt, Menu, Request
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestKind, RequestState
from app.store.errors import StoreDataError
from app.store.records import AdminEntry, AgentRecord, LockHolder, StoredEvent

REQUEST_COLUMNS = (
    "id",
    "queue",
    "kind",
    "state",
    "priority",
    "arrived_at",
    "queued_since",
    "place_rank",
    "place_time",
    "place_seq",
    "caller_number",
    "callback_number",
    "callback_requested_at",
    "not_before",
    "outcome",
    "ended_at",
    "extra",
)
ATTEMPT_COLUMNS = ("request_id", "number", "started_at", "agent_id", "outcome", "ended_at")

_IN_COLUMNS = frozenset(REQUEST_COLUMNS) | {"place"}
_NOT_KEPT = frozenset({"attempts"})  # in their own table
EXTRA_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Request) if f.name not in _IN_COLUMNS and f.name not in _NOT_KEPT
)

RequestRow = tuple[Any, ...]
AttemptRow = tuple[Any, ...]


NUL, REPLACEMENT = "\x00", "\ufffd"


def text(value: str) -> str:
    """`value` as the store writes it: NUL (which PostgreSQL cannot hold) becomes U+FFFD."""
    return value.replace(NUL, REPLACEMENT) if NUL in value else value


def texts(row: Sequence[Any]) -> tuple[Any, ...]:
    """A row of column values with every text written as `text` does."""
    return tuple(text(v) if isinstance(v, str) else v for v in row)


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {text(str(k)): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise StoreDataError(f"{where} is a {type(value).__name__}, which cannot be stored as JSON")


def dump_json(value: Mapping[str, Any], where: str) -> str:
    return json.dumps(_plain(value, where), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def load_json(text: str | None, where: str) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    if isinstance(text, dict):  # a driver that decodes JSON itself
        return text
    try:
        value = json.loads(text)
    except ValueError as e:
        raise StoreDataError(f"{where} holds invalid JSON: {e}") from e
    if not isinstance(value, dict):
        raise StoreDataError(f"{where} holds JSON {type(value).__name__}, expected an object")
    return value


def request_row(req: Request) -> RequestRow:
    rank, place_time, seq = req.place
    extra = {name: getattr(req, name) for name in EXTRA_FIELDS}
    if req.menu is not None:
        extra["menu"] = asdict(req.menu)
    return texts(
        (
            req.id,
            req.queue,
            req.kind.value,
            req.state.value,
            req.priority,
            req.arrived_at,
            req.queued_since,
            rank,
            place_time,
            seq,
            req.caller_number,
            req.callback_number,
            req.callback_requested_at,
            req.not_before,
            req.outcome.value if req.outcome is not None else None,
            req.ended_at,
            dump_json(extra, f"request {req.id}"),
        )
    )


def attempt_rows(req: Request) -> list[AttemptRow]:
    return [
        texts(
            (
                req.id,
                a.number,
                a.started_at,
                a.agent_id,
                a.outcome.value if a.outcome is not None else None,
                a.ended_at,
            )
        )
        for a in req.attempts
    ]


def _enum(cls: type[Any], value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise StoreDataError(
            f"{where} is {value!r}, which this Holdfast does not know; was the database written by a newer one?"
        ) from None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def request_from_row(row: Sequence[Any], attempts: Sequence[Sequence[Any]]) -> Request:
    values = dict(zip(REQUEST_COLUMNS, row, strict=True))
    rid = values["id"]
    extra = load_json(values["extra"], f"request {rid} extra")
    kept = {k: v for k, v in extra.items() if k in EXTRA_FIELDS}  # fields since removed are dropped
    if kept.get("menu") is not None:
        kept["menu"] = _menu(kept["menu"], rid)
    outcome = values["outcome"]
    return Request(
        id=rid,
        queue=values["queue"],
        kind=_enum(RequestKind, values["kind"], f"request {rid} kind"),
        priority=int(values["priority"]),
        arrived_at=float(values["arrived_at"]),
        queued_since=float(values["queued_since"]),
        place=(int(values["place_rank"]), float(values["place_time"]), int(values["place_seq"])),
        caller_number=values["caller_number"],
        state=_enum(RequestState, values["state"], f"request {rid} state"),
        callback_number=values["callback_number"],
        callback_requested_at=_float(values["callback_requested_at"]),
        not_before=float(values["not_before"]),
        attempts=[attempt_from_row(a, rid) for a in attempts],
        outcome=_enum(Outcome, outcome, f"request {rid} outcome") if outcome is not None else None,
        ended_at=_float(values["ended_at"]),
        **kept,
    )


def _menu(value: Any, rid: str) -> Menu:
    if not isinstance(value, dict):
        raise StoreDataError(f"request {rid} menu is {value!r}, expected an object")
    names = {f.name for f in fields(Menu)}
    try:  # keys since removed are dropped; a missing required one is an error
        return Menu(**{k: v for k, v in value.items() if k in names})
    except TypeError as e:
        raise StoreDataError(f"request {rid} menu is incomplete: {e}") from None


def attempt_from_row(row: Sequence[Any], rid: str) -> Attempt:
    # row: number, started_at, agent_id, outcome, ended_at
    number, started_at, agent_id, outcome, ended_at = row
    return Attempt(
        number=int(number),
        started_at=float(started_at),
        agent_id=agent_id,
        outcome=_enum(AttemptOutcome, outcome, f"request {rid} attempt {number} outcome")
        if outcome is not None
        else None,
        ended_at=_float(ended_at),
    )


def activity_row(a: Activity) -> tuple[Any, ...]:
    return texts((a.at, a.kind, a.request_id, a.agent_id, a.queue, dump_json(a.data, f"activity {a.kind!r} data")))


# Rows of the agent, log and lock tables, in the column order both backends select.


AGENT_COLUMNS = (
    "agent_id",
    "state",
    "pause_reason",
    "since",
    "after_call",
    "after_call_reason",
    "wrap_up_until",
    "wrap_up_extended",
)


def agent_row(a: AgentRecord) -> tuple[Any, ...]:
    after_call = a.after_call.value if a.after_call is not None else None
    wrap_up = (a.wrap_up_until, a.wrap_up_extended)
    return texts((a.agent_id, a.state.value, a.pause_reason, a.since, after_call, a.after_call_reason, *wrap_up))


def agent_from_row(r: Sequence[Any]) -> AgentRecord:
    after_call = _enum(AgentState, r[4], f"agent {r[0]} after_call") if r[4] is not None else None
    wrap_up_until = float(r[6]) if r[6] is not None else None
    wrap_up_extended = float(r[7]) if r[7] is not None else None
    state = _enum(AgentState, r[1], f"agent {r[0]} state")
    return AgentRecord(r[0], state, r[2], float(r[3]), after_call, r[5], wrap_up_until, wrap_up_extended)


def event_from_row(r: Sequence[Any]) -> StoredEvent:
    return StoredEvent(r[0], float(r[1]), r[2], r[3], r[4], r[5], load_json(r[6], f"event {r[0]} data"))


def admin_from_row(r: Sequence[Any]) -> AdminEntry:
    return AdminEntry(r[0], float(r[1]), r[2], r[3], r[4], load_json(r[5], f"admin entry {r[0]} detail"))


def lock_from_row(r: Sequence[Any]) -> LockHolder:
    return LockHolder(r[0], r[1], float(r[2]), float(r[3]))
