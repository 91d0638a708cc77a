"""Plain records the store hands back besides requests: agent states and log lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.commands import Activity
from app.core.contacts import ContactProgress
from app.core.request import Request
from app.core.states import AgentState
from app.store.outbox_records import Notification


@dataclass(frozen=True, slots=True)
class AgentRecord:
    agent_id: str
    state: AgentState
    pause_reason: str | None
    since: float
    after_call: AgentState | None = None  # paused / logged_off asked for during a call: made at its end
    after_call_reason: str | None = None
    # when the wrap-up ends (extensions included); None out of wrap-up, and in rows stored before it was kept
    wrap_up_until: float | None = None
    # the seconds of it granted as extensions (counted against the cap); None as wrap_up_until is, and
    # in rows stored before it was kept (the restore then counts it back from the end)
    wrap_up_extended: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What one engine step changed, as `commit(requests, activities, agents)` takes it; a list of
    these is what `commit_many` stores in one transaction."""

    requests: Sequence[Request] = ()
    activities: Sequence[Activity] = ()
    agents: Sequence[AgentRecord] = ()
    contacts: Sequence[ContactProgress] = ()  # dialler contacts' progress, in the same transaction
    notifications: Sequence[Notification] = ()  # outbox rows (app/store/outbox.py), in the same transaction


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One line of the raw event log, with the id the store gave it (increasing, never reused)."""

    id: int
    at: float
    kind: str
    request_id: str | None
    agent_id: str | None
    queue: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def activity(self) -> Activity:
        return Activity(
            kind=self.kind,
            request_id=self.request_id,
            agent_id=self.agent_id,
            queue=self.queue,
            at=self.at,
            data=dict(self.data),
        )


@dataclass(frozen=True, slots=True)
class AdminEntry:
    id: int
    at: float
    who: str
    action: str
    request_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LockHolder:
    name: str
    owner: str
    acquired_at: float
    expires_at: float
