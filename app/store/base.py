"""The one storage interface every backend (SQLite, PostgreSQL) implements.

Theory of operation:
- The service calls `commit(requests, activities)` after every engine step and BEFORE carrying
  out the step's commands ("commit before act"): a caller hears "we will call you back" only
  once the promise is on disk, and a customer is dialled only once the attempt is recorded. If
  the commit raises, nothing of it was written and the commands must not be carried out.
- `save_requests` writes the full state of each given request (upsert) and replaces its
  attempts; ended requests stay as rows (for statistics) but are not loaded back as active.
- The event log and the admin log are append-only; ids increase and are never reused, so a
  reader can follow them with `since_id`.
- The instance lock keeps a second service instance from driving the same Asterisk app: a
  fresh lock held by another owner refuses `acquire_lock`; the holder refreshes it well within
  its ttl and releases it on shutdown. Time is passed in (wall-clock seconds), as in the core.
- `commit_many(changes)` is group commit: several steps' changes in ONE transaction (one fsync),
  with the end state of committing them one by one in order (a request's or agent's last state
  wins; activities are appended in order). All of them are stored or none.
- A change's `contacts` (the dialler's `ContactProgress`) are written in the same transaction as
  the rest of it; progress for a contact that is not stored (or not in that campaign) refuses the
  whole commit. The dialler's lists themselves (contacts, do-not-call entries, campaign states)
  are below; see app/store/contacts_schema.py.
- Every failure raises a `StoreError` subclass; a call that raised wrote nothing, except a
  `StoreIOError` at or after the COMMIT (PostgreSQL: the answer lost on the network), which may
  have stored it: the writes that matter look it up (`commit_many`, `append_admin`); the others
  are safe to repeat (tests/store/test_pg_ambiguous_commit_audit.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from app.core.commands import Activity
from app.core.contacts import DueContact
from app.core.request import Request
from app.core.states import AgentState
from app.store.campaign_defs import CampaignDef
from app.store.contact_records import (
    CampaignFigures,
    CampaignState,
    ContactRecord,
    DialMinute,
    DncEntry,
    ImportCounts,
    ImportRow,
)
from app.store.records import AdminEntry, AgentRecord, Change, LockHolder, StoredEvent

DEFAULT_LOCK = "service"
DEFAULT_LIMIT = 1000


@runtime_checkable
class Store(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date; refuses a database newer than this code."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    # --------------------------------------------------------------- requests and events

    async def save_requests(self, requests: Iterable[Request]) -> None:
        """Upsert the full state of these requests and their attempts, in one transaction."""

    async def append_events(self, activities: Iterable[Activity]) -> None:
        """Append these activities to the raw event log, in one transaction."""

    async def commit(
        self,
        requests: Iterable[Request],
        activities: Iterable[Activity],
        agents: Iterable[AgentRecord] = (),
    ) -> None:
        """Write requests, agent states and activities atomically: all of it or nothing."""

    async def commit_many(self, changes: Iterable[Change]) -> None:
        """Commit these changes in one transaction, as if committed one by one in order; all of
        them or none."""

    async def load_active_requests(self) -> list[Request]:
        """Every request not ended, with attempts, in queue place order."""

    async def load_request(self, request_id: str) -> Request | None:
        """One request, active or ended."""

    async def recent_promises(self, since: float) -> list[tuple[str, float]]:
        """(number, promised at) of every callback or ticket promised after `since`, active or
        ended, but for callbacks ended merged into a later one (its event-log line `ended`, reason
        `merged`): the later one counts for both. The daily cap's memory after a restart."""

    # --------------------------------------------------------------- agents

    async def save_agent(self, agent_id: str, state: AgentState, reason: str | None, since: float) -> None: ...

    async def load_agents(self) -> list[AgentRecord]:
        """Every agent's last saved state, by agent id."""

    # --------------------------------------------------------------- logs

    async def events(
        self,
        since_id: int = 0,
        request_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        agent_id: str | None = None,
    ) -> list[StoredEvent]:
        """Events with id > since_id in log order, optionally for one request or agent."""

    async def events_of_kinds(
        self, kinds: Collection[str], since_id: int = 0, limit: int = DEFAULT_LIMIT
    ) -> list[StoredEvent]:
        """Events of these kinds with id > since_id in log order (by the (kind, id) index, so a
        reader of a few kinds does not walk the whole log)."""

    async def append_admin(
        self,
        at: float,
        who: str,
        action: str,
        request_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Record an admin's change; returns its id."""

    async def admin_log(
        self, since_id: int = 0, request_id: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[AdminEntry]: ...

    async def admin_log_newest(
        self, since_id: int = 0, before_id: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[AdminEntry]:
        """Admin entries with since_id < id < before_id (no upper bound when None), NEWEST first:
        the change log's page reads back from the end however long the log has grown."""

    # --------------------------------------------------------------- instance lock

    async def acquire_lock(self, owner: str, ttl: float, now: float, name: str = DEFAULT_LOCK) -> bool:
        """Take the lock if it is free, expired (expires_at <= now) or already ours."""

    async def refresh_lock(self, owner: str, ttl: float, now: float, name: str = DEFAULT_LOCK) -> bool:
        """Extend our lock to now + ttl; False if someone else holds it (we lost it)."""

    async def release_lock(self, owner: str, name: str = DEFAULT_LOCK) -> None:
        """Drop the lock if we hold it; a no-op otherwise."""

    async def lock_holder(self, name: str = DEFAULT_LOCK) -> LockHolder | None:
        """Who holds the lock (possibly expired), for messages like 'held by host:pid until …'."""

    # --------------------------------------------------------------- dialler contacts

    async def import_contacts(self, campaign: str, rows: Sequence[ImportRow], now: float) -> ImportCounts:
        """Upsert one batch of checked upload rows in one transaction; a number the campaign has
        already is merged into its contact (name, time zone, priority where given; free fields
        combined; progress kept). See app/store/contact_import.py for the streaming importer."""

    async def after_import(self, campaign: str | None) -> None:
        """An upload (contacts or do-not-call entries) ended: refresh the query planner's
        statistics, so the next `contacts_due` does not plan for the tables as they were before
        (PostgreSQL would otherwise check every contact until autovacuum catches up)."""

    async def contacts_due(self, campaign: str, now: float, limit: int) -> list[DueContact]:
        """Up to `limit` contacts "new" or "scheduled" with next_due unset or <= now, not on a
        do-not-call list (global or the campaign's), highest priority first, then by id."""

    async def contacts_exhausted(self, campaign: str) -> bool:
        """Whether the campaign's list is finished: it has contacts, and none is left to dial now
        or later ("new" or "scheduled", any next_due, not on a do-not-call list). Claimed ones are
        the engine's; done, dnc and invalid ones are final. An empty list is not finished (nothing
        was uploaded yet). The engine's campaign_finished rests on it."""

    async def pending_dispositions(self, campaign: str) -> list[tuple[int, int, str]]:
        """Answered contacts whose agent has not set a disposition yet (the engine keeps that agent
        in `reserved_agent` of the "done" row until then): (contact id, attempts, agent), oldest
        first, so a restart can take the agent's pending disposition back."""

    async def release_claimed(self, campaign: str | None, keep: Collection[int]) -> int:
        """Claimed contacts (of one campaign, or all) whose ids are not in `keep` go back to "new"
        (never dialled) or "scheduled" (next_due kept); returns how many."""

    # A ContactProgress "done" with last_outcome "dnc" or "invalid" is stored in state "dnc" or
    # "invalid" (listable by state).

    async def list_contacts(
        self, campaign: str, state: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ContactRecord]:
        """A campaign's contacts by id, optionally in one state."""

    async def contact(self, campaign: str, contact_id: int) -> ContactRecord | None: ...

    async def campaign_figures(self, campaign: str, now: float) -> CampaignFigures:
        """Contacts per state and left to call; dials, connects, machines, abandoned over the last
        24 h and 30 days from the event log's `dial_attempt` lines (data: campaign, outcome, abandoned)."""

    async def abandoned_dials(self, since: float) -> list[tuple[str, float]]:
        """(number, at) of every abandoned dial (any campaign) the event log's `dial_attempt` lines
        record after `since`: the 72 h no-redial rule's memory after a restart."""

    async def dial_minutes(self, campaign: str, since: float, until: float) -> list[DialMinute]:
        """The campaign's live answers, abandoned ones and machine verdicts per minute, from the event
        log's `dial_attempt` lines written in (since, until] (a connected dial counts at its
        `connected_at` when the line has it), minutes after `since` only, in order; minutes with
        none of them left out."""

    async def dnc_add(self, campaign: str | None, entries: Iterable[tuple[str, bool]], at: float, by: str) -> int:
        """Add (entry, is_prefix) to the global list (campaign None) or a campaign's; returns how
        many were not there yet."""

    async def dnc_remove(self, campaign: str | None, entries: Iterable[tuple[str, bool]]) -> int:
        """Remove entries; returns how many were there. Contacts in state "dnc" (the engine was
        done with them because of do-not-call) that no entry covers any more go back to "new"
        (never dialled) or "scheduled"."""

    async def dnc_list(self, campaign: str | None, offset: int = 0, limit: int = 1000) -> list[DncEntry]:
        """The entries of one list (global, or one campaign's own)."""

    async def dnc_entries(self, campaign: str | None) -> list[tuple[str, bool]]:
        """(entry, is_prefix) a dial for `campaign` must avoid: global plus the campaign's."""

    async def set_campaign_state(self, campaign: str, state: str, at: float, by: str) -> None:
        """Store a campaign's state as set over the API: running, paused or stopped."""

    async def campaign_states(self) -> list[CampaignState]: ...

    # --------------------------------------------------------------- campaigns created over the API

    async def save_campaign_def(self, campaign: str, definition: dict[str, Any], at: float, by: str) -> None:
        """Create or replace an API campaign's definition (app/store/campaign_defs.py)."""

    async def campaign_defs(self) -> list[CampaignDef]:
        """Every stored API campaign, by id."""

    async def delete_campaign_def(self, campaign: str) -> bool:
        """Remove an API campaign's definition and its stored state (one transaction); False if
        there was no definition."""

    # --------------------------------------------------------------- the page's log-in key

    async def session_key(self, candidate: bytes) -> bytes:
        """The key that signs the page's log-in cookies, one for every node on this store: the
        stored one, or `candidate` (at least 32 bytes) stored now if there was none. Atomic: two
        nodes asking at once get the same key back (app/store/web_sessions.py)."""
