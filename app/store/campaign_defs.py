"""Campaigns created over the API: their definitions, stored so they outlive a restart.

Theory of operation: a definition is the campaign's settings as the API accepted them (the same
keys as a `campaigns:` entry of the YAML, already validated by app/config's CampaignConfig),
kept as JSON per campaign id. The service merges them with the YAML's campaigns at start-up and
on every change (app/web/campaign_crud.py); the YAML's own campaigns are never stored here.
Contacts and the state (paused, stopped) live in their own tables, as for YAML campaigns. A
delete removes the stored state with the definition, in one transaction: a campaign created again
under the id starts as its new definition says, not as the deleted one was left. Its contacts
stay (as for a campaign removed from the file).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

SQLITE_CAMPAIGN_DEFS = """
CREATE TABLE campaign_defs (
    campaign TEXT PRIMARY KEY,
    definition TEXT NOT NULL CHECK (json_valid(definition)),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    updated_by TEXT NOT NULL
);
"""

POSTGRES_CAMPAIGN_DEFS = """
CREATE TABLE campaign_defs (
    campaign TEXT PRIMARY KEY,
    definition JSONB NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    updated_by TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class CampaignDef:
    campaign: str
    definition: dict[str, Any]  # the `campaigns.<id>` mapping, as accepted
    created_at: float
    updated_at: float
    updated_by: str


class SQLiteCampaignDefs:
    """Mixed into SQLiteStore, which provides `_run` (one transaction on the connection's thread)."""

    async def _run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        raise NotImplementedError

    async def save_campaign_def(self, campaign: str, definition: dict[str, Any], at: float, by: str) -> None:
        text = json.dumps(definition, sort_keys=True)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO campaign_defs (campaign, definition, created_at, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign) DO UPDATE SET definition = excluded.definition, "
                "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (campaign, text, at, at, by),
            )

        await self._run(run)

    async def campaign_defs(self) -> list[CampaignDef]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT campaign, definition, created_at, updated_at, updated_by FROM campaign_defs ORDER BY campaign"
            ).fetchall()

        return [
            CampaignDef(r[0], json.loads(r[1]), float(r[2]), float(r[3]), r[4])
            for r in await self._run(run, write=False)
        ]

    async def delete_campaign_def(self, campaign: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM campaign_states WHERE campaign = ?", (campaign,))
            return conn.execute("DELETE FROM campaign_defs WHERE campaign = ?", (campaign,)).rowcount > 0

        return await self._run(run)


class PostgresCampaignDefs:
    """Mixed into PostgresStore, which provides `_transaction`."""

    def _transaction(self, isolation: str = "read_committed") -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def save_campaign_def(self, campaign: str, definition: dict[str, Any], at: float, by: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO campaign_defs (campaign, definition, created_at, updated_at, updated_by) "
                "VALUES ($1, $2::jsonb, $3, $3, $4) ON CONFLICT (campaign) DO UPDATE SET "
                "definition = excluded.definition, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                campaign,
                json.dumps(definition, sort_keys=True),
                at,
                by,
            )

    async def campaign_defs(self) -> list[CampaignDef]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT campaign, definition::text, created_at, updated_at, updated_by FROM campaign_defs "
                "ORDER BY campaign"
            )
        return [CampaignDef(r[0], json.loads(r[1]), float(r[2]), float(r[3]), r[4]) for r in rows]

    async def delete_campaign_def(self, campaign: str) -> bool:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM campaign_states WHERE campaign = $1", campaign)
            status = await conn.execute("DELETE FROM campaign_defs WHERE campaign = $1", campaign)
        return bool(status.endswith(" 1"))
