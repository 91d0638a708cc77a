"""The SQLite store's dialler contacts, do-not-call lists and campaign states (mixed into SQLiteStore).

Theory of operation: each operation is one transaction run as ONE call on aiosqlite's thread (as
`commit_many` does), so an upload batch of thousands of rows is one `executemany` without a hop
through the event loop per row. Contacts' progress from the engine is written by `commit_many`
through `write_progress`, inside its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

from app.core.contacts import ContactProgress, DueContact
from app.store.codec import texts
from app.store.contact_records import (
    CONNECTED,
    CONTACT_COLUMNS,
    MACHINE,
    CampaignFigures,
    CampaignState,
    ContactRecord,
    DialMinute,
    DncEntry,
    ImportCounts,
    ImportRow,
    contact_from_row,
    dnc_from_row,
    due_from_row,
    figures_from_row,
    scope,
    stored_state,
)
from app.store.contacts_schema import DIAL_ACTIVITY, GLOBAL_SCOPE
from app.store.errors import StoreDataError

log = logging.getLogger(__name__)
T = TypeVar("T")

DAY = 86400.0

# A number is on a campaign's list when a global or campaign entry is the number or a prefix of it.
_NOT_DNC = (
    "NOT EXISTS (SELECT 1 FROM dnc d WHERE d.scope IN ('', c.campaign) AND d.entry = c.number AND d.is_prefix = 0) "
    "AND NOT EXISTS (SELECT 1 FROM dnc d WHERE d.scope IN ('', c.campaign) AND d.is_prefix = 1 "
    "AND substr(c.number, 1, length(d.entry)) = d.entry)"
)
# Contacts held back by do-not-call that no entry covers any more go back to the campaign.
_DNC_RELEASE = (
    "UPDATE contacts AS c SET state = CASE WHEN attempts > 0 THEN 'scheduled' ELSE 'new' END, updated_at = ?1 "
    f"WHERE c.state = 'dnc' AND (?2 = '' OR c.campaign = ?2) AND {_NOT_DNC}"
)
# Open contacts of campaign ?1 on a do-not-call list, found from the lists' side: exact entries
# by the (campaign, number) index, each prefix as a range of it (see contacts_schema.py).
_OPEN = "('new', 'scheduled', 'claimed')"
_LISTED_OPEN = (
    "SELECT count(*) FROM ("
    "SELECT c.id FROM dnc d JOIN contacts c ON c.campaign = ?1 AND c.number = d.entry "
    f"WHERE d.scope IN ('', ?1) AND d.is_prefix = 0 AND c.state IN {_OPEN} "
    "UNION SELECT c.id FROM dnc d JOIN contacts c ON c.campaign = ?1 AND c.number >= d.entry "
    f"AND c.number < d.entry || ':' WHERE d.scope IN ('', ?1) AND d.is_prefix = 1 AND c.state IN {_OPEN})"
)
# The list has contacts and none is left to dial, now or later (claimed ones are the engine's).
_EXHAUSTED = (
    "SELECT EXISTS (SELECT 1 FROM contacts WHERE campaign = ?1) AND NOT EXISTS (SELECT 1 FROM contacts c "
    f"WHERE c.campaign = ?1 AND c.state IN ('new', 'scheduled') AND {_NOT_DNC})"
)
_PENDING_DISPOSITIONS = (
    "SELECT id, attempts, reserved_agent FROM contacts WHERE campaign = ? AND state = 'done' "
    "AND last_outcome = 'answered' AND reserved_agent IS NOT NULL ORDER BY updated_at, id"
)
_PROGRESS_UPDATE = (
    "UPDATE contacts SET state = ?, attempts = ?, next_due = ?, last_outcome = ?, reserved_agent = ?, "
    "updated_at = ? WHERE campaign = ? AND id = ?"
)
# A number uploaded again merges into its row: the new row's name, time zone and priority where
# given, its free fields over the old ones; the contact's progress (state, attempts) is kept.
_IMPORT_UPSERT = (
    "INSERT INTO contacts (campaign, number, name, fields, timezone, priority, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, COALESCE(?6, 0), ?7) "
    "ON CONFLICT (campaign, number) DO UPDATE SET "
    "name = CASE WHEN ?3 = '' THEN contacts.name ELSE ?3 END, fields = json_patch(contacts.fields, ?4), "
    "timezone = COALESCE(?5, contacts.timezone), priority = COALESCE(?6, contacts.priority), updated_at = ?7"
)
_FIGURES = (
    "SELECT count(*), "
    f"coalesce(sum(json_extract(data, '$.outcome') IN ({', '.join(repr(o) for o in CONNECTED)})), 0), "
    f"coalesce(sum(json_extract(data, '$.outcome') IN ({', '.join(repr(o) for o in MACHINE)})), 0), "
    "coalesce(sum(json_extract(data, '$.abandoned') IS 1 OR json_extract(data, '$.outcome') = 'abandoned'), 0) "
    f"FROM events WHERE kind = '{DIAL_ACTIVITY}' AND json_extract(data, '$.campaign') = ? AND at > ? AND at <= ?"
)
# A dial's live answer in the pacer's windows: a connected one at `connected_at` (older lines: the
# line's time), an abandoned one or a machine verdict at the line's time; per minute.
_ABANDONED = "(json_extract(data, '$.abandoned') IS 1 OR json_extract(data, '$.outcome') = 'abandoned')"
_MINUTES = (
    "SELECT CAST(t / 60 AS INTEGER) AS m, sum(live), sum(ab), sum(mach) FROM ("
    "SELECT coalesce(json_extract(data, '$.connected_at'), at) AS t, "
    f"(json_extract(data, '$.outcome') IN ({', '.join(repr(o) for o in CONNECTED)}) OR {_ABANDONED}) AS live, "
    f"{_ABANDONED} AS ab, json_extract(data, '$.outcome') IN ({', '.join(repr(o) for o in MACHINE)}) AS mach "
    f"FROM events WHERE kind = '{DIAL_ACTIVITY}' AND json_extract(data, '$.campaign') = ? AND at > ? AND at <= ?"
    ") WHERE t > ? AND (live OR mach) GROUP BY m ORDER BY m"
)


def write_progress(conn: sqlite3.Connection, contacts: Sequence[ContactProgress]) -> None:
    """Inside the caller's transaction: every contact must exist, or the whole commit is refused."""
    now = time.time()
    cur = conn.executemany(
        _PROGRESS_UPDATE,
        [
            texts(
                (
                    stored_state(p.state, p.last_outcome),
                    p.attempts,
                    p.next_due,
                    p.last_outcome,
                    p.reserved_agent,
                    now,
                    p.campaign,
                    p.contact_id,
                )
            )
            for p in contacts
        ],
    )
    if cur.rowcount != len(contacts):
        missing = [
            (p.campaign, p.contact_id)
            for p in contacts
            if conn.execute(
                "SELECT 1 FROM contacts WHERE campaign = ? AND id = ?", (p.campaign, p.contact_id)
            ).fetchone()
            is None
        ]
        raise StoreDataError(f"progress for contacts that are not stored (campaign, id): {missing[:10]}")


def _in_transaction(conn: sqlite3.Connection, mode: str, fn: Callable[..., T], args: tuple[Any, ...], path: str) -> T:
    conn.execute(f"BEGIN {mode}")
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
        return result
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed on %s", path)
        raise


class SQLiteContacts:
    """Mixed into SQLiteStore, which provides these four."""

    path: str
    _lock: asyncio.Lock

    def _conn(self) -> aiosqlite.Connection:
        raise NotImplementedError

    def _translated(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    async def _run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        """`fn(connection, *args)` in one transaction on the connection's thread."""
        db = self._conn()
        async with self._lock:
            with self._translated():
                mode = "IMMEDIATE" if write else "DEFERRED"
                return await db._execute(_in_transaction, db._conn, mode, fn, args, self.path)  # type: ignore[no-any-return,no-untyped-call]

    # --------------------------------------------------------------- contacts

    async def import_contacts(self, campaign: str, rows: Sequence[ImportRow], now: float) -> ImportCounts:
        def run(conn: sqlite3.Connection) -> ImportCounts:
            before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0]
            conn.executemany(_IMPORT_UPSERT, [texts((campaign, *row, now)) for row in rows])
            inserted = conn.execute(
                "SELECT count(*) FROM contacts WHERE id > ? AND campaign = ?", (before, campaign)
            ).fetchone()[0]
            return ImportCounts(int(inserted), len(rows) - int(inserted))

        scope(campaign)
        return await self._run(run)

    async def after_import(self, campaign: str | None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA optimize")  # runs ANALYZE where SQLite finds it worth it

        await self._run(run)

    async def contacts_due(self, campaign: str, now: float, limit: int) -> list[DueContact]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                f"SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.campaign = ? AND c.state IN ('new', 'scheduled') "
                f"AND (c.next_due IS NULL OR c.next_due <= ?) AND {_NOT_DNC} ORDER BY c.priority DESC, c.id LIMIT ?",
                (campaign, now, limit),
            ).fetchall()

        return [due_from_row(r) for r in await self._run(run, write=False)]

    async def contacts_exhausted(self, campaign: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute(_EXHAUSTED, (campaign,)).fetchone()
            return bool(row[0])

        return await self._run(run, write=False)

    async def pending_dispositions(self, campaign: str) -> list[tuple[int, int, str]]:
        def run(conn: sqlite3.Connection) -> list[tuple[int, int, str]]:
            rows = conn.execute(_PENDING_DISPOSITIONS, (campaign,)).fetchall()
            return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

        return await self._run(run, write=False)

    async def release_claimed(self, campaign: str | None, keep: Collection[int]) -> int:
        """Claimed contacts not in `keep` (the engine's window after a restart) may be handed out
        again: "scheduled" if they were dialled before (their next_due stays), else "new"."""

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE contacts SET state = CASE WHEN attempts > 0 THEN 'scheduled' ELSE 'new' END, updated_at = ? "
                "WHERE state = 'claimed' AND (?2 IS NULL OR campaign = ?2) "
                "AND id NOT IN (SELECT value FROM json_each(?3))",
                (time.time(), campaign, json.dumps(sorted(int(k) for k in keep))),
            )
            return int(cur.rowcount)

        return await self._run(run)

    async def list_contacts(
        self, campaign: str, state: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ContactRecord]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            if state is None:  # two queries, each along its own index
                return conn.execute(
                    f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign = ? ORDER BY id LIMIT ? OFFSET ?",
                    (campaign, limit, offset),
                ).fetchall()
            return conn.execute(
                f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign = ? AND state = ? ORDER BY id LIMIT ? OFFSET ?",
                (campaign, state, limit, offset),
            ).fetchall()

        return [contact_from_row(r) for r in await self._run(run, write=False)]

    async def contact(self, campaign: str, contact_id: int) -> ContactRecord | None:
        def run(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign = ? AND id = ?", (campaign, contact_id)
            ).fetchone()

        row = await self._run(run, write=False)
        return None if row is None else contact_from_row(row)

    async def campaign_figures(self, campaign: str, now: float) -> CampaignFigures:
        def run(conn: sqlite3.Connection) -> CampaignFigures:
            states = dict(
                conn.execute("SELECT state, count(*) FROM contacts WHERE campaign = ? GROUP BY state", (campaign,))
            )
            listed = conn.execute(_LISTED_OPEN, (campaign,)).fetchone()[0]
            left = sum(states.get(s, 0) for s in ("new", "scheduled", "claimed")) - listed
            day = conn.execute(_FIGURES, (campaign, now - DAY, now)).fetchone()
            month = conn.execute(_FIGURES, (campaign, now - 30 * DAY, now)).fetchone()
            return CampaignFigures(
                campaign,
                {k: int(v) for k, v in states.items()},
                int(left),
                figures_from_row(day),
                figures_from_row(month),
                now,
            )

        return await self._run(run, write=False)

    async def abandoned_dials(self, since: float) -> list[tuple[str, float]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, float]]:
            rows = conn.execute(
                f"SELECT json_extract(data, '$.number'), at FROM events WHERE kind = '{DIAL_ACTIVITY}' "
                f"AND at > ? AND {_ABANDONED}",
                (since,),
            ).fetchall()
            return [(str(number), float(at)) for number, at in rows if number]

        return await self._run(run, write=False)

    async def dial_minutes(self, campaign: str, since: float, until: float) -> list[DialMinute]:
        def run(conn: sqlite3.Connection) -> list[DialMinute]:
            rows = conn.execute(_MINUTES, (campaign, since, until, since)).fetchall()
            return [DialMinute(int(m), int(lives), int(ab), int(mach)) for m, lives, ab, mach in rows]

        return await self._run(run, write=False)

    # --------------------------------------------------------------- do-not-call

    async def dnc_add(self, campaign: str | None, entries: Iterable[tuple[str, bool]], at: float, by: str) -> int:
        """Add entries (number or prefix, is_prefix); returns how many were new."""
        where = scope(campaign)
        rows = [(where, entry, int(is_prefix), at, by) for entry, is_prefix in entries]

        def run(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO dnc (scope, entry, is_prefix, added_at, added_by) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                rows,
            )
            return conn.total_changes - before

        return await self._run(run)

    async def dnc_remove(self, campaign: str | None, entries: Iterable[tuple[str, bool]]) -> int:
        where = scope(campaign)
        rows = [(where, entry, int(is_prefix)) for entry, is_prefix in entries]

        def run(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany("DELETE FROM dnc WHERE scope = ? AND entry = ? AND is_prefix = ?", rows)
            removed = conn.total_changes - before
            if removed:
                conn.execute(_DNC_RELEASE, (time.time(), where))
            return removed

        return await self._run(run)

    async def dnc_list(self, campaign: str | None, offset: int = 0, limit: int = 1000) -> list[DncEntry]:
        """One list's own entries (global, or one campaign's), by entry."""

        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT scope, entry, is_prefix, added_at, added_by FROM dnc WHERE scope = ? "
                "ORDER BY is_prefix, entry LIMIT ? OFFSET ?",
                (scope(campaign), limit, offset),
            ).fetchall()

        return [dnc_from_row(r) for r in await self._run(run, write=False)]

    async def dnc_entries(self, campaign: str | None) -> list[tuple[str, bool]]:
        """What a dial for `campaign` must check: the global entries and the campaign's own
        (None: the global ones only), as (entry, is_prefix)."""

        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT DISTINCT entry, is_prefix FROM dnc WHERE scope IN (?, ?) ORDER BY is_prefix, entry",
                (GLOBAL_SCOPE, scope(campaign)),
            ).fetchall()

        return [(r[0], bool(r[1])) for r in await self._run(run, write=False)]

    # --------------------------------------------------------------- campaign states

    async def set_campaign_state(self, campaign: str, state: str, at: float, by: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO campaign_states (campaign, state, updated_at, updated_by) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (campaign) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                (scope(campaign), state, at, by),
            )

        await self._run(run)

    async def campaign_states(self) -> list[CampaignState]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT campaign, state, updated_at, updated_by FROM campaign_states ORDER BY campaign"
            ).fetchall()

        return [CampaignState(r[0], r[1], float(r[2]), r[3]) for r in await self._run(run, write=False)]
