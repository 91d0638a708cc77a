"""The outbox's rows: a notification committed with the engine step that caused it.

`Notification` is what a step adds (written in the step's own transaction, so a notification
exists if and only if its cause was stored); `StoredNotification` is a row as the delivery worker
and the API read it back, with its delivery state. `id` is the idempotency key sent to the
receiver: stable across retries and restarts, so a receiver can ignore a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATES = (PENDING, DELIVERED, FAILED)


@dataclass(frozen=True, slots=True)
class Notification:
    id: str  # idempotency key
    created_at: float
    event: str  # closed, missed_callback, callback_requested, ...
    channel: str  # a configured channel: "webhook:<name>" or "sms"
    request_id: str | None
    queue: str | None
    expires_at: float  # not delivered by then: failed (kept, with its last error)
    payload: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class StoredNotification:
    notification: Notification
    state: str
    attempts: int
    next_at: float
    last_error: str | None
    delivered_at: float | None

    @property
    def id(self) -> str:
        return self.notification.id
