"""The committer's copy of a request for the store (`snapshot`, issue 13: cheaper than a deep
copy): equal to the request when taken, untouched by the engine's later changes."""

from __future__ import annotations

import dataclasses
import typing

from app.core.request import Attempt, Menu, Request
from app.core.states import AttemptOutcome, RequestKind, RequestState
from app.telephony.committer import snapshot

# Field types a shared reference is safe for: nothing in them can change in place.
IMMUTABLE = {"str", "int", "float", "bool", "None", "PlaceKey", "RequestKind", "RequestState", "Outcome"}
COPIED = {"attempts", "menu", "contact"}  # snapshot copies these itself


def _request() -> Request:
    req = Request("r1", "support", RequestKind.INBOUND, 0, 1.0, 1.0, (0, 1.0, 3), "+4520123456")
    req.attempts.append(Attempt(1, 2.0, "1001"))
    req.menu = Menu("enter", digits="12")
    req.contact = {"name": "Ann", "fields": {"ref": "A-1"}}
    return req


def test_snapshot_equals_the_request_and_shares_nothing_mutable() -> None:
    req = _request()
    copy = snapshot(req)
    assert copy == req and copy is not req
    req.state = RequestState.CONNECTED
    req.attempts[0].outcome = AttemptOutcome.NO_ANSWER
    req.attempts.append(Attempt(2, 3.0, "1002"))
    assert req.menu is not None and req.contact is not None
    req.menu.digits += "3"
    req.contact["fields"]["ref"] = "B-2"
    assert copy.state is RequestState.WAITING
    assert copy.attempts == [Attempt(1, 2.0, "1001")]
    assert copy.menu == Menu("enter", digits="12")
    assert copy.contact == {"name": "Ann", "fields": {"ref": "A-1"}}


def test_every_request_field_is_immutable_or_copied() -> None:
    """A mutable field added to Request later must be copied by snapshot too (then listed here)."""
    hints = typing.get_type_hints(Request)
    for field in dataclasses.fields(Request):
        if field.name in COPIED:
            continue
        names = {getattr(t, "__name__", str(t)) for t in typing.get_args(hints[field.name])} or {
            getattr(hints[field.name], "__name__", str(hints[field.name]))
        }
        names = {"None" if n == "NoneType" else n for n in names}
        assert names <= IMMUTABLE, f"Request.{field.name}: {names - IMMUTABLE} may change in place"
