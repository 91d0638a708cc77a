"""The outbox's reads and writes, for both backends (mixed into SQLiteStore and PostgresStore).

Theory of operation: rows are inserted by the commit of the step that caused them
(`write_sqlite` / `write_postgres`, called from the backends' commit transaction), so a
notification is never stored without its cause nor its cause without it. The delivery worker
(app/notify/worker.py) then reads what is due and records each try's outcome here (and the text
of a message rendered again as it is sent late: `notification_restated`). A row is never
deleted by the worker: delivered and failed rows stay for the API (`GET /api/notifications`).
Inserting an id that exists already is ignored: the key is the notification's identity.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from app.store import codec
from app.store.outbox_records import DELIVERED, FAILED, PENDING, STATES, Notification, StoredNotification

_COLUMNS = (
    "id, created_at, event, channel, request_id, queue, payload, state, attempts, next_at, expires_at, "
    "last_error, delivered_at"
)
MAX_ERROR = 500  # characters of a receiver's error kept with the row


@runtime_checkable
class OutboxStore(Protocol):
    async def due_notifications(
        self, now: float, limit: int = 50, skip_channels: Collection[str] = ()
    ) -> list[StoredNotification]:
        """Pending rows due at `now`, earliest first; none of `skip_channels` (the worker's
        channels with every slot taken: their backlog must not hide another channel's rows)."""
        ...

    async def next_notification_at(self, after: float | None = None) -> float | None:
        """The earliest `next_at` of a pending row (later than `after`, if given)."""
        ...

    async def notification_delivered(self, notification_id: str, now: float) -> None: ...

    async def notification_retry(self, notification_id: str, next_at: float, error: str) -> None: ...

    async def notification_failed(self, notification_id: str, error: str) -> None: ...

    async def notification_restated(self, notification_id: str, payload: dict[str, Any]) -> None:
        """A pending row's payload as it is sent now (a message rendered again at send time)."""
        ...

    async def notifications(
        self,
        state: str | None = None,
        limit: int = 100,
        request_id: str | None = None,
        *,
        queues: Collection[str] | None = None,
        campaigns: Collection[str] | None = None,
    ) -> list[StoredNotification]:
        """Newest first. `queues` / `campaigns` (both None: every row) narrow the rows to a
        scope's, in the database, before the limit: a supervisor's newest rows are not lost
        behind a thousand newer of other queues. See `_scope_filter`."""
        ...

    async def pending_request_ids(self, events: Collection[str]) -> set[str]:
        """The requests with a pending row of one of these `events`: all of them, however many
        rows are pending (the worker's start looks for held-up confirmations this way)."""
        ...


def _row(n: Notification) -> tuple[Any, ...]:
    payload = codec.dump_json(n.payload, f"notification {n.id} payload")
    return codec.texts(
        (n.id, n.created_at, n.event, n.channel, n.request_id, n.queue, payload, n.created_at, n.expires_at)
    )


def _from_row(row: Sequence[Any]) -> StoredNotification:
    n = Notification(
        id=row[0],
        created_at=row[1],
        event=row[2],
        channel=row[3],
        request_id=row[4],
        queue=row[5],
        payload=codec.load_json(row[6], f"notification {row[0]} payload"),
        expires_at=row[10],
    )
    return StoredNotification(
        n, state=row[7], attempts=row[8], next_at=row[9], last_error=row[11], delivered_at=row[12]
    )


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _scope_filter(
    queues: Collection[str] | None, campaigns: Collection[str] | None, mark: Callable[[object], str]
) -> str | None:
    """SQL for the rows of `queues` (but a dialler contact's: those go with their campaign) and
    of the contacts of `campaigns` (request ids dial-<campaign>-<contact>-<seq>); None for no
    filter. A superset of what app/web/access.py lets a scope see (a campaign named as the start
    of another's name matches that one's too), so the API still filters each row exactly.
    `mark(value)` adds a parameter and returns its placeholder."""
    if queues is None and campaigns is None:
        return None
    parts = []
    if queues:
        listed = ", ".join(mark(q) for q in queues)
        parts.append(f"(queue IN ({listed}) AND (request_id IS NULL OR request_id NOT LIKE 'dial-%'))")
    for campaign in campaigns or ():
        parts.append(f"request_id LIKE {mark('dial-' + _like_prefix(campaign) + '-%')} ESCAPE '\\'")
    return f"({' OR '.join(parts)})" if parts else "1 = 0"


def _check_state(state: str | None) -> None:
    if state is not None and state not in STATES:
        raise ValueError(f"state is {state!r}; one of {', '.join(STATES)}")


def write_sqlite(conn: sqlite3.Connection, notifications: Sequence[Notification]) -> None:
    """Inside the commit's transaction (app/store/sqlite.py `_write_changes`)."""
    conn.executemany(
        "INSERT INTO outbox (id, created_at, event, channel, request_id, queue, payload, next_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        [_row(n) for n in notifications],
    )


async def write_postgres(conn: Any, notifications: Sequence[Notification]) -> None:
    """Inside the commit's transaction (app/store/postgres.py `commit_many`)."""
    await conn.executemany(
        "INSERT INTO outbox (id, created_at, event, channel, request_id, queue, payload, next_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9) ON CONFLICT (id) DO NOTHING",
        [_row(n) for n in notifications],
    )


class SQLiteOutbox:
    """Mixed into SQLiteStore: uses its `_transaction`."""

    def _transaction(self, mode: str = "IMMEDIATE") -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def _select(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        async with self._transaction("DEFERRED") as db, db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def _update(self, sql: str, params: tuple[Any, ...]) -> None:
        async with self._transaction() as db:
            await db.execute(sql, params)

    async def due_notifications(
        self, now: float, limit: int = 50, skip_channels: Collection[str] = ()
    ) -> list[StoredNotification]:
        skip = list(skip_channels)
        rows = await self._select(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND next_at <= ? "
            f"AND channel NOT IN ({', '.join('?' * len(skip))}) ORDER BY next_at, id LIMIT ?",
            (now, *skip, limit),
        )
        return [_from_row(r) for r in rows]

    async def next_notification_at(self, after: float | None = None) -> float | None:
        rows = await self._select(
            "SELECT MIN(next_at) FROM outbox WHERE state = 'pending' AND (? IS NULL OR next_at > ?)", (after, after)
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def notification_delivered(self, notification_id: str, now: float) -> None:
        await self._update(
            "UPDATE outbox SET state = ?, attempts = attempts + 1, delivered_at = ?, last_error = NULL "
            "WHERE id = ? AND state = ?",
            (DELIVERED, now, notification_id, PENDING),
        )

    async def notification_retry(self, notification_id: str, next_at: float, error: str) -> None:
        await self._update(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ? AND state = ?",
            (next_at, error[:MAX_ERROR], notification_id, PENDING),
        )

    async def notification_failed(self, notification_id: str, error: str) -> None:
        await self._update(
            "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND state = ?",
            (FAILED, error[:MAX_ERROR], notification_id, PENDING),
        )

    async def notification_restated(self, notification_id: str, payload: dict[str, Any]) -> None:
        await self._update(
            "UPDATE outbox SET payload = ? WHERE id = ? AND state = ?",
            (codec.dump_json(payload, f"notification {notification_id} payload"), notification_id, PENDING),
        )

    async def notifications(
        self,
        state: str | None = None,
        limit: int = 100,
        request_id: str | None = None,
        *,
        queues: Collection[str] | None = None,
        campaigns: Collection[str] | None = None,
    ) -> list[StoredNotification]:
        _check_state(state)
        where, params = ["1 = 1"], list[Any]()
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if request_id is not None:
            where.append("request_id = ?")
            params.append(request_id)

        def mark(value: object) -> str:
            params.append(value)
            return "?"

        if (scoped := _scope_filter(queues, campaigns, mark)) is not None:
            where.append(scoped)
        rows = await self._select(
            f"SELECT {_COLUMNS} FROM outbox WHERE {' AND '.join(where)} ORDER BY created_at DESC, id LIMIT ?",
            (*params, limit),
        )
        return [_from_row(r) for r in rows]

    async def pending_request_ids(self, events: Collection[str]) -> set[str]:
        if not events:
            return set()
        marks = ", ".join("?" for _ in events)
        rows = await self._select(
            f"SELECT DISTINCT request_id FROM outbox WHERE state = ? AND request_id IS NOT NULL AND event IN ({marks})",
            (PENDING, *sorted(events)),
        )
        return {str(r[0]) for r in rows}


class PostgresOutbox:
    """Mixed into PostgresStore: uses its `_transaction`."""

    def _transaction(self, isolation: str = "read_committed") -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def _pg_fetch(self, sql: str, *params: Any) -> list[Any]:
        async with self._transaction() as conn:
            return list(await conn.fetch(sql, *params))

    async def _pg_execute(self, sql: str, *params: Any) -> None:
        async with self._transaction() as conn:
            await conn.execute(sql, *params)

    async def due_notifications(
        self, now: float, limit: int = 50, skip_channels: Collection[str] = ()
    ) -> list[StoredNotification]:
        rows = await self._pg_fetch(
            f"SELECT {_COLUMNS.replace('payload', 'payload::text')} FROM outbox "
            "WHERE state = 'pending' AND next_at <= $1 AND NOT (channel = ANY($3::text[])) "
            "ORDER BY next_at, id LIMIT $2",
            now,
            limit,
            list(skip_channels),
        )
        return [_from_row(tuple(r)) for r in rows]

    async def next_notification_at(self, after: float | None = None) -> float | None:
        rows = await self._pg_fetch(
            "SELECT MIN(next_at) FROM outbox WHERE state = 'pending' AND ($1::float8 IS NULL OR next_at > $1)", after
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def notification_delivered(self, notification_id: str, now: float) -> None:
        await self._pg_execute(
            "UPDATE outbox SET state = $1, attempts = attempts + 1, delivered_at = $2, last_error = NULL "
            "WHERE id = $3 AND state = $4",
            DELIVERED,
            now,
            notification_id,
            PENDING,
        )

    async def notification_retry(self, notification_id: str, next_at: float, error: str) -> None:
        await self._pg_execute(
            "UPDATE outbox SET attempts = attempts + 1, next_at = $1, last_error = $2 WHERE id = $3 AND state = $4",
            next_at,
            error[:MAX_ERROR],
            notification_id,
            PENDING,
        )

    async def notification_failed(self, notification_id: str, error: str) -> None:
        await self._pg_execute(
            "UPDATE outbox SET state = $1, attempts = attempts + 1, last_error = $2 WHERE id = $3 AND state = $4",
            FAILED,
            error[:MAX_ERROR],
            notification_id,
            PENDING,
        )

    async def notification_restated(self, notification_id: str, payload: dict[str, Any]) -> None:
        await self._pg_execute(
            "UPDATE outbox SET payload = $1::jsonb WHERE id = $2 AND state = $3",
            codec.dump_json(payload, f"notification {notification_id} payload"),
            notification_id,
            PENDING,
        )

    async def notifications(
        self,
        state: str | None = None,
        limit: int = 100,
        request_id: str | None = None,
        *,
        queues: Collection[str] | None = None,
        campaigns: Collection[str] | None = None,
    ) -> list[StoredNotification]:
        _check_state(state)
        where, params = ["TRUE"], list[Any]()

        def mark(value: object) -> str:
            params.append(value)
            return f"${len(params)}"

        if state is not None:
            where.append(f"state = {mark(state)}")
        if request_id is not None:
            where.append(f"request_id = {mark(request_id)}")
        if (scoped := _scope_filter(queues, campaigns, mark)) is not None:
            where.append(scoped)
        params.append(limit)
        rows = await self._pg_fetch(
            f"SELECT {_COLUMNS.replace('payload', 'payload::text')} FROM outbox WHERE {' AND '.join(where)} "
            f"ORDER BY created_at DESC, id LIMIT ${len(params)}",
            *params,
        )
        return [_from_row(tuple(r)) for r in rows]

    async def pending_request_ids(self, events: Collection[str]) -> set[str]:
        rows = await self._pg_fetch(
            "SELECT DISTINCT request_id FROM outbox "
            "WHERE state = $1 AND request_id IS NOT NULL AND event = ANY($2::text[])",
            PENDING,
            sorted(events),
        )
        return {str(r[0]) for r in rows}
