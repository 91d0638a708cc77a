"""One customer contact: an inbound call, possibly turned into a callback, and its attempts.

Every dial of the customer is an `Attempt`, numbered 1, 2, 3… in the order they were made
(`len(attempts) + 1`), so numbers never repeat and the store's UNIQUE(request, number) holds even
when a dial was interrupted. Whether a dial counts toward `max_attempts` is its outcome's `counts`
(`counted_attempts`), not its number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.ordering import PlaceKey
from app.core.states import AttemptOutcome, Outcome, RequestKind, RequestState

PRIORITY_MIN, PRIORITY_MAX = -1000, 1000  # a request's priority stays within these bounds

IN_SERVICE = frozenset(
    {
        RequestState.RINGING_AGENT,
        RequestState.WHISPER,
        RequestState.DIALLING_CUSTOMER,
        RequestState.CONNECTED,
    }
)


@dataclass(slots=True)
class Attempt:
    number: int
    started_at: float
    agent_id: str
    outcome: AttemptOutcome | None = None
    ended_at: float | None = None


@dataclass(slots=True)
class Menu:
    """The callback menu a caller is in: choosing a number, or keying one in."""

    step: str  # "choose" or "enter"
    digits: str = ""
    invalid_entries: int = 0
    deadline: float = 0.0
    # After a restart the caller is re-prompted for `step`; keys are not trusted (some were lost
    # while we were down) until that prompt has been heard to its end with no key pressed.
    resuming: bool = False
    keys_while_resuming: int = 0


@dataclass(slots=True)
class Request:
    id: str
    queue: str
    kind: RequestKind
    priority: int
    arrived_at: float  # first arrival: gross wait counts from here
    queued_since: float  # last return to the queue: net wait (SLA) counts from here
    place: PlaceKey
    caller_number: str | None  # as the network presented it
    state: RequestState = RequestState.WAITING
    callback_number: str | None = None  # E.164, once a callback was promised
    callback_requested_at: float | None = None
    not_before: float = 0.0  # callback delay or quarantine end
    attempts: list[Attempt] = field(default_factory=list)
    customer_leg: str | None = None
    agent_leg: str | None = None
    agent_id: str | None = None
    service_started_at: float | None = None
    first_dispatched_at: float | None = None
    offers: int = 0
    next_offer_at: float | None = None
    next_announce_at: float | None = None
    menu: Menu | None = None
    # The caller's own line after they took a callback, while it plays the confirmation (then the
    # shell hangs it up and reports it ended): kept so a restart can finish it, not leave silence.
    caller_line: str | None = None
    # Connected but not yet bridged: the customer hears the recording announcement; the bridge's
    # recording format, kept so a restart in that moment still bridges (recovery.py).
    announcing: str | None = None
    outcome: Outcome | None = None
    ended_at: float | None = None
    # Dialler (kind CONTACT): the campaign, the contact's id in the store, and its card as loaded
    # (name, fields, timezone, priority, attempts before this dial, reserved_agent): kept with the
    # request so a restart can finish the dial and the agent's card outlives the window.
    campaign: str | None = None
    contact_id: int | None = None
    contact: dict[str, Any] | None = None

    @property
    def next_attempt_number(self) -> int:
        return len(self.attempts) + 1

    @property
    def counted_attempts(self) -> int:
        return sum(1 for a in self.attempts if a.outcome is None or a.outcome.counts)

    def gross_wait(self, now: float) -> float:
        return now - self.arrived_at

    def net_wait(self, now: float) -> float:
        return now - self.queued_since

    @property
    def is_callback(self) -> bool:
        return self.kind is RequestKind.CALLBACK
