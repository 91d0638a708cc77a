"""Commands the engine asks the shell to carry out, in order.

They name things by stable ids: request ids, agent ids, and leg ids handed out by the engine.
The shell maps them to ARI channels and reports back with events carrying the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Command:
    pass


@dataclass(frozen=True, slots=True)
class Answer(Command):
    leg_id: str


@dataclass(frozen=True, slots=True)
class JoinHolding(Command):
    """Put the caller on music on hold in the queue's holding bridge."""

    leg_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class PromptItem:
    name: str  # a prompt key (e.g. "callback_offer"), or a value: "number" (phone number), "digits",
    # "count" and "minutes" (spoken as numbers), or "ringback": a tone that plays until stopped
    value: str | int | None = None


@dataclass(frozen=True, slots=True)
class PlayPrompt(Command):
    leg_id: str
    items: tuple[PromptItem, ...]
    hangup_after: bool = False  # the shell hangs the leg up once the prompt ends
    report_finish: bool = False  # the shell reports PromptFinished(leg_id)


@dataclass(frozen=True, slots=True)
class StopPrompt(Command):
    leg_id: str


@dataclass(frozen=True, slots=True)
class OriginateAgent(Command):
    leg_id: str
    request_id: str
    agent_id: str
    caller_id_name: str
    caller_id_number: str
    timeout: float
    queue: str
    auto_answer: bool = False  # ask the phone to answer by itself (SIP Call-Info / Alert-Info headers)


@dataclass(frozen=True, slots=True)
class OriginateCustomer(Command):
    leg_id: str
    request_id: str
    number: str  # E.164
    caller_id_number: str
    timeout: float
    queue: str
    attempt: int
    amd: bool = False
    amd_args: str = ""  # AMD()'s tuned arguments (app/config/amd.py); "": amd.conf's values


@dataclass(frozen=True, slots=True)
class BridgeLegs(Command):
    request_id: str
    customer_leg: str
    agent_leg: str
    # Record the bridge once both legs are in it (queue or campaign `record_calls`); only this
    # command records, and it joins agent and customer, so a whisper is never recorded.
    record: bool = False
    record_format: str = "wav"


@dataclass(frozen=True, slots=True)
class RecordCall(Command):
    """Record a call already bridged from now on (one found unrecorded at a restart), added to
    any file of its name. `leg_id` is the customer's: it runs in that leg's order, as BridgeLegs."""

    request_id: str
    leg_id: str
    record_format: str = "wav"


@dataclass(frozen=True, slots=True)
class Hangup(Command):
    leg_id: str
    reason: str = "normal"


@dataclass(frozen=True, slots=True)
class LoadContacts(Command):
    """Ask the store for up to `limit` contacts of `campaign` due now; answered by ContactsLoaded."""

    campaign: str
    limit: int


@dataclass(frozen=True, slots=True)
class Notify(Command):
    """Something a person should hear of outside the call (SMS, webhook, e-mail)."""

    kind: str  # "closed", "missed_callback", "callback_expired"
    request_id: str
    queue: str
    number: str | None
    # The step's `now`, and times and waits for the message: arrived_at, waited (seconds since
    # arrival), per kind more (callback_requested_at, expected_at); plain JSON values, stored with
    # the notification. Not part of equality: a Notify is who is told what, of which request.
    at: float = field(default=0.0, compare=False)
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Activity(Command):
    """One line of the raw event log: every change of a request or agent appends one."""

    kind: str
    request_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    at: float = 0.0
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
