"""Forgetting what is older than the history kept (`service.keep_history`): ended requests with their
attempts, event-log lines, delivered or failed notifications.

Theory of operation: `prune_history(before, limit)` deletes at most `limit` rows of each kind older
than `before`, in one short transaction, and says how many went; the service's keeper
(app/telephony/history.py) calls it again until a call removes fewer than `limit` of each, so the
write lock is never held for long and the engine's commits go between the batches. Only what is
over is deleted: a request still active (a callback waiting, a call in progress) is kept whatever
its age, with its event-log lines, and so is a notification still to be delivered. A request's lines go
together: none while any of them is at or after the cut (a callback promised before it and served
after keeps its promise, which the statistics read). The admin log (who changed what, and
why) is kept: it names requests, never numbers, and is the audit trail. Event ids are AUTOINCREMENT, so an id is never
reused after its line is gone and the incremental readers (the live page) keep their place.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from app.store.common import rows_affected

T = TypeVar("T")

# An active request's lines stay with it, however old (its history on the live page and the API).
# So do a campaign's finishing marks: every start reads the last one (app/telephony/
# contacts_loader.py), and without it a campaign finished long ago is announced finished again.
# One line per finish, reopening or removal: they cannot grow the log.
_NOT_ACTIVE = (
    "AND (request_id IS NULL OR request_id NOT IN (SELECT id FROM requests WHERE state <> 'ended')) "
    "AND kind NOT IN ('campaign_finished', 'campaign_reopened', 'campaign_removed')"
)


# A request's lines go only when its last one is older than the cut (the cut's parameter: {}).
_WHOLE_REQUEST = (
    "AND (request_id IS NULL OR NOT EXISTS "
    "(SELECT 1 FROM events later WHERE later.request_id = events.request_id AND later.at >= {}))"
)


@dataclass(frozen=True, slots=True)
class Pruned:
    requests: int = 0  # ended requests (their attempts went with them)
    events: int = 0
    notifications: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(
            self.requests + other.requests, self.events + other.events, self.notifications + other.notifications
        )

    def most(self) -> int:
        return max(self.requests, self.events, self.notifications)


@runtime_checkable
class HistoryStore(Protocol):
    async def prune_history(self, before: float, limit: int) -> Pruned: ...


class SQLiteHistory:
    """Mixed into SQLiteStore, which provides `_run` (one transaction on the connection's thread)."""

    async def _run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        raise NotImplementedError

    async def prune_history(self, before: float, limit: int) -> Pruned:
        def run(conn: sqlite3.Connection) -> Pruned:
            requests = conn.execute(
                "DELETE FROM requests WHERE id IN (SELECT id FROM requests "
                "WHERE state = 'ended' AND ended_at IS NOT NULL AND ended_at < ? LIMIT ?)",
                (before, limit),
            ).rowcount
            events = conn.execute(
                f"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ?1 {_NOT_ACTIVE} "
                f"{_WHOLE_REQUEST.format('?1')} ORDER BY at LIMIT ?2)",
                (before, limit),
            ).rowcount
            notifications = conn.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                "WHERE state <> 'pending' AND created_at < ? LIMIT ?)",
                (before, limit),
            ).rowcount
            return Pruned(requests, events, notifications)

        return await self._run(run)


class PostgresHistory:
    """Mixed into PostgresStore, which provides `_transaction`."""

    def _transaction(self, isolation: str = "read_committed") -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def prune_history(self, before: float, limit: int) -> Pruned:
        async with self._transaction() as conn:
            requests = await conn.execute(
                "DELETE FROM requests WHERE id IN (SELECT id FROM requests "
                "WHERE state = 'ended' AND ended_at IS NOT NULL AND ended_at < $1 LIMIT $2)",
                before,
                limit,
            )
            events = await conn.execute(
                f"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 {_NOT_ACTIVE} "
                f"{_WHOLE_REQUEST.format('$1')} ORDER BY at LIMIT $2)",
                before,
                limit,
            )
            notifications = await conn.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                "WHERE state <> 'pending' AND created_at < $1 LIMIT $2)",
                before,
                limit,
            )
        return Pruned(rows_affected(requests), rows_affected(events), rows_affected(notifications))
