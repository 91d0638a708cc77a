"""The PostgreSQL store's dialler contacts, do-not-call lists and campaign states (mixed into
PostgresStore). Same contract and SQL shape as `sqlite_contacts.py`.

Theory of operation: an upload batch is one `executemany` in one transaction; contacts' progress
from the engine is ONE `UPDATE … FROM unnest(…)` inside `commit_many`'s transaction, whose row
count tells at once whether a contact is missing (then the whole commit is refused).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from app.core.contacts import ContactProgress, DueContact
from app.store.codec import text, texts
from app.store.common import rows_affected
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
    merge_rows,
    scope,
    stored_state,
)
from app.store.contacts_schema import DIAL_ACTIVITY, GLOBAL_SCOPE
from app.store.errors import StoreDataError

DAY = 86400.0

_COLUMNS = CONTACT_COLUMNS.replace("fields,", "fields::text,")
_NOT_DNC = (
    "NOT EXISTS (SELECT 1 FROM dnc d WHERE d.scope IN ('', c.campaign) AND d.entry = c.number AND NOT d.is_prefix) "
    "AND NOT EXISTS (SELECT 1 FROM dnc d WHERE d.scope IN ('', c.campaign) AND d.is_prefix "
    "AND left(c.number, length(d.entry)) = d.entry)"
)
# Contacts held back by do-not-call that no entry covers any more go back to the campaign.
_DNC_RELEASE = (
    "UPDATE contacts AS c SET state = CASE WHEN attempts > 0 THEN 'scheduled' ELSE 'new' END, updated_at = $1 "
    f"WHERE c.state = 'dnc' AND ($2 = '' OR c.campaign = $2) AND {_NOT_DNC}"
)
# Open contacts of campaign $1 on a do-not-call list, found from the lists' side: exact entries
# by the (campaign, number) index, each prefix as a range of it (see contacts_schema.py).
_OPEN = "('new', 'scheduled', 'claimed')"
_LISTED_OPEN = (
    "SELECT count(*) FROM ("
    "SELECT c.id FROM dnc d JOIN contacts c ON c.campaign = $1 AND c.number = d.entry "
    f"WHERE d.scope IN ('', $1) AND NOT d.is_prefix AND c.state IN {_OPEN} "
    "UNION SELECT c.id FROM dnc d JOIN contacts c ON c.campaign = $1 AND c.number >= d.entry "
    f"AND c.number < d.entry || ':' WHERE d.scope IN ('', $1) AND d.is_prefix AND c.state IN {_OPEN}) AS listed"
)
# The list has contacts and none is left to dial, now or later (claimed ones are the engine's).
_EXHAUSTED = (
    "SELECT EXISTS (SELECT 1 FROM contacts WHERE campaign = $1) AND NOT EXISTS (SELECT 1 FROM contacts c "
    f"WHERE c.campaign = $1 AND c.state IN ('new', 'scheduled') AND {_NOT_DNC})"
)
_IMPORT_UPSERT = (
    "INSERT INTO contacts (campaign, number, name, fields, timezone, priority, updated_at) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, COALESCE($6::integer, 0), $7) "
    "ON CONFLICT (campaign, number) DO UPDATE SET "
    "name = CASE WHEN $3 = '' THEN contacts.name ELSE $3 END, fields = contacts.fields || $4::jsonb, "
    "timezone = COALESCE($5, contacts.timezone), priority = COALESCE($6::integer, contacts.priority), "
    "updated_at = $7"
)
# An upload batch in ONE statement: insert the new numbers, merge into the ones already there (the
# UPDATE sees the snapshot before the INSERT, so it never touches a row inserted here).
_IMPORT_BATCH = (
    "WITH u AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::integer[]) "
    "AS u(number, name, fields, timezone, priority)), "
    "ins AS (INSERT INTO contacts (campaign, number, name, fields, timezone, priority, updated_at) "
    "SELECT $1, number, name, fields::jsonb, timezone, COALESCE(priority, 0), $7 FROM u "
    "ON CONFLICT (campaign, number) DO NOTHING RETURNING 1), "
    "upd AS (UPDATE contacts c SET name = CASE WHEN u.name = '' THEN c.name ELSE u.name END, "
    "fields = c.fields || u.fields::jsonb, timezone = COALESCE(u.timezone, c.timezone), "
    "priority = COALESCE(u.priority, c.priority), updated_at = $7 "
    "FROM u WHERE c.campaign = $1 AND c.number = u.number RETURNING 1) "
    "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)"
)
_OUTCOME = "data->>'outcome'"
_FIGURES = (
    "SELECT count(*), "
    f"count(*) FILTER (WHERE {_OUTCOME} IN ({', '.join(repr(o) for o in CONNECTED)})), "
    f"count(*) FILTER (WHERE {_OUTCOME} IN ({', '.join(repr(o) for o in MACHINE)})), "
    f"count(*) FILTER (WHERE data->'abandoned' = 'true'::jsonb OR {_OUTCOME} = 'abandoned') "
    f"FROM events WHERE kind = '{DIAL_ACTIVITY}' AND data->>'campaign' = $1 AND at > $2 AND at <= $3"
)
# A dial's live answer in the pacer's windows: a connected one at `connected_at` (older lines: the
# line's time), an abandoned one or a machine verdict at the line's time; per minute.
_ABANDONED = f"(data->'abandoned' = 'true'::jsonb OR {_OUTCOME} = 'abandoned')"
_MINUTES = (
    "SELECT floor(t / 60)::bigint AS m, count(*) FILTER (WHERE live), count(*) FILTER (WHERE ab), "
    "count(*) FILTER (WHERE mach) FROM ("
    "SELECT coalesce((data->>'connected_at')::float8, at) AS t, "
    f"({_OUTCOME} IN ({', '.join(repr(o) for o in CONNECTED)}) OR {_ABANDONED}) AS live, "
    f"{_ABANDONED} AS ab, coalesce({_OUTCOME} IN ({', '.join(repr(o) for o in MACHINE)}), false) AS mach "
    f"FROM events WHERE kind = '{DIAL_ACTIVITY}' AND data->>'campaign' = $1 AND at > $2 AND at <= $3"
    ") d WHERE t > $2 AND (live OR mach) GROUP BY m ORDER BY m"
)


async def write_progress(conn: asyncpg.Connection, contacts: Sequence[ContactProgress]) -> None:
    """Inside the caller's transaction: every contact must exist, or the whole commit is refused."""
    status = await conn.execute(
        "UPDATE contacts c SET state = u.state, attempts = u.attempts, next_due = u.next_due, "
        "last_outcome = u.last_outcome, reserved_agent = u.reserved_agent, updated_at = $8 "
        "FROM unnest($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::float8[], $6::text[], $7::text[]) "
        "AS u(campaign, id, state, attempts, next_due, last_outcome, reserved_agent) "
        "WHERE c.campaign = u.campaign AND c.id = u.id",
        [p.campaign for p in contacts],
        [p.contact_id for p in contacts],
        [stored_state(p.state, p.last_outcome) for p in contacts],
        [p.attempts for p in contacts],
        [p.next_due for p in contacts],
        [None if p.last_outcome is None else text(p.last_outcome) for p in contacts],
        [None if p.reserved_agent is None else text(p.reserved_agent) for p in contacts],
        time.time(),
    )
    if status != f"UPDATE {len(contacts)}":
        found = {
            (r[0], r[1])
            for r in await conn.fetch(
                "SELECT campaign, id FROM contacts WHERE id = ANY($1::bigint[])", [p.contact_id for p in contacts]
            )
        }
        missing = [(p.campaign, p.contact_id) for p in contacts if (p.campaign, p.contact_id) not in found]
        raise StoreDataError(f"progress for contacts that are not stored (campaign, id): {missing[:10]}")


class PostgresContacts:
    """Mixed into PostgresStore, which provides `_transaction`."""

    def _transaction(self, isolation: str = "read_committed") -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    # --------------------------------------------------------------- contacts

    async def import_contacts(self, campaign: str, rows: Sequence[ImportRow], now: float) -> ImportCounts:
        scope(campaign)
        unique = [texts(r) for r in merge_rows(rows)]  # one statement may not touch a row twice
        async with self._transaction() as conn:
            inserted, updated = await conn.fetchrow(
                _IMPORT_BATCH,
                campaign,
                [r[0] for r in unique],
                [r[1] for r in unique],
                [r[2] for r in unique],
                [r[3] for r in unique],
                [r[4] for r in unique],
                now,
            )
            if inserted + updated != len(unique):
                # Another transaction inserted some of these numbers meanwhile (the statement's
                # snapshot did not see them): merge row by row, which waits for and sees them.
                # Merging a row twice gives the same contact, so the rows done above may repeat.
                await conn.executemany(_IMPORT_UPSERT, [(campaign, *row, now) for row in unique])
        return ImportCounts(int(inserted), len(rows) - int(inserted))

    async def after_import(self, campaign: str | None) -> None:
        async with self._transaction() as conn:
            await conn.execute("ANALYZE contacts, dnc")

    async def contacts_due(self, campaign: str, now: float, limit: int) -> list[DueContact]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM contacts c WHERE c.campaign = $1 AND c.state IN ('new', 'scheduled') "
                f"AND (c.next_due IS NULL OR c.next_due <= $2) AND {_NOT_DNC} ORDER BY c.priority DESC, c.id LIMIT $3",
                campaign,
                now,
                limit,
            )
        return [due_from_row(r) for r in rows]

    async def contacts_exhausted(self, campaign: str) -> bool:
        async with self._transaction() as conn:
            return bool(await conn.fetchval(_EXHAUSTED, campaign))

    async def pending_dispositions(self, campaign: str) -> list[tuple[int, int, str]]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, attempts, reserved_agent FROM contacts WHERE campaign = $1 AND state = 'done' "
                "AND last_outcome = 'answered' AND reserved_agent IS NOT NULL ORDER BY updated_at, id",
                campaign,
            )
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

    async def release_claimed(self, campaign: str | None, keep: Collection[int]) -> int:
        async with self._transaction() as conn:
            status = await conn.execute(
                "UPDATE contacts SET state = CASE WHEN attempts > 0 THEN 'scheduled' ELSE 'new' END, updated_at = $1 "
                "WHERE state = 'claimed' AND ($2::text IS NULL OR campaign = $2) AND id <> ALL($3::bigint[])",
                time.time(),
                campaign,
                [int(k) for k in keep],
            )
        return rows_affected(status)

    async def list_contacts(
        self, campaign: str, state: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ContactRecord]:
        async with self._transaction() as conn:
            if state is None:  # two queries, each along its own index
                rows = await conn.fetch(
                    f"SELECT {_COLUMNS} FROM contacts WHERE campaign = $1 ORDER BY id LIMIT $2 OFFSET $3",
                    campaign,
                    limit,
                    offset,
                )
            else:
                rows = await conn.fetch(
                    f"SELECT {_COLUMNS} FROM contacts WHERE campaign = $1 AND state = $2 "
                    "ORDER BY id LIMIT $3 OFFSET $4",
                    campaign,
                    state,
                    limit,
                    offset,
                )
        return [contact_from_row(r) for r in rows]

    async def contact(self, campaign: str, contact_id: int) -> ContactRecord | None:
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM contacts WHERE campaign = $1 AND id = $2", campaign, contact_id
            )
        return None if row is None else contact_from_row(row)

    async def campaign_figures(self, campaign: str, now: float) -> CampaignFigures:
        async with self._transaction("repeatable_read") as conn:
            states = await conn.fetch(
                "SELECT state, count(*) FROM contacts WHERE campaign = $1 GROUP BY state", campaign
            )
            listed = await conn.fetchval(_LISTED_OPEN, campaign)
            day = await conn.fetchrow(_FIGURES, campaign, now - DAY, now)
            month = await conn.fetchrow(_FIGURES, campaign, now - 30 * DAY, now)
        counts = {r[0]: int(r[1]) for r in states}
        left = sum(counts.get(s, 0) for s in ("new", "scheduled", "claimed")) - int(listed)
        return CampaignFigures(
            campaign,
            counts,
            left,
            figures_from_row(day),
            figures_from_row(month),
            now,
        )

    async def abandoned_dials(self, since: float) -> list[tuple[str, float]]:
        async with self._transaction("repeatable_read") as conn:
            rows = await conn.fetch(
                f"SELECT data->>'number', at FROM events WHERE kind = '{DIAL_ACTIVITY}' AND at > $1 AND {_ABANDONED}",
                since,
            )
        return [(str(r[0]), float(r[1])) for r in rows if r[0]]

    async def dial_minutes(self, campaign: str, since: float, until: float) -> list[DialMinute]:
        async with self._transaction("repeatable_read") as conn:
            rows = await conn.fetch(_MINUTES, campaign, since, until)
        return [DialMinute(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    # --------------------------------------------------------------- do-not-call

    async def dnc_add(self, campaign: str | None, entries: Iterable[tuple[str, bool]], at: float, by: str) -> int:
        where = scope(campaign)
        pairs = list(dict.fromkeys((entry, bool(is_prefix)) for entry, is_prefix in entries))
        async with self._transaction() as conn:
            status = await conn.execute(
                "INSERT INTO dnc (scope, entry, is_prefix, added_at, added_by) "
                "SELECT $1, e, p, $4, $5 FROM unnest($2::text[], $3::boolean[]) AS u(e, p) ON CONFLICT DO NOTHING",
                where,
                [e for e, _ in pairs],
                [p for _, p in pairs],
                at,
                by,
            )
        return rows_affected(status)

    async def dnc_remove(self, campaign: str | None, entries: Iterable[tuple[str, bool]]) -> int:
        where = scope(campaign)
        pairs = [(entry, bool(is_prefix)) for entry, is_prefix in entries]
        async with self._transaction() as conn:
            status = await conn.execute(
                "DELETE FROM dnc d USING unnest($2::text[], $3::boolean[]) AS u(e, p) "
                "WHERE d.scope = $1 AND d.entry = u.e AND d.is_prefix = u.p",
                where,
                [e for e, _ in pairs],
                [p for _, p in pairs],
            )
            removed = rows_affected(status)
            if removed:
                await conn.execute(_DNC_RELEASE, time.time(), where)
        return removed

    async def dnc_list(self, campaign: str | None, offset: int = 0, limit: int = 1000) -> list[DncEntry]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT scope, entry, is_prefix, added_at, added_by FROM dnc WHERE scope = $1 "
                "ORDER BY is_prefix, entry LIMIT $2 OFFSET $3",
                scope(campaign),
                limit,
                offset,
            )
        return [dnc_from_row(r) for r in rows]

    async def dnc_entries(self, campaign: str | None) -> list[tuple[str, bool]]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT DISTINCT entry, is_prefix FROM dnc WHERE scope IN ($1, $2) ORDER BY is_prefix, entry",
                GLOBAL_SCOPE,
                scope(campaign),
            )
        return [(r[0], bool(r[1])) for r in rows]

    # --------------------------------------------------------------- campaign states

    async def set_campaign_state(self, campaign: str, state: str, at: float, by: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO campaign_states (campaign, state, updated_at, updated_by) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (campaign) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                scope(campaign),
                state,
                at,
                by,
            )

    async def campaign_states(self) -> list[CampaignState]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT campaign, state, updated_at, updated_by FROM campaign_states ORDER BY campaign"
            )
        return [CampaignState(r[0], r[1], float(r[2]), r[3]) for r in rows]
