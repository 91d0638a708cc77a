"""Schema migrations: an ordered list of SQL scripts; the database's version is how many ran.

Theory of operation: migration N (1-based) takes the schema from version N-1 to N. They are
applied in one transaction at open, so a failed upgrade leaves the previous version intact. A
migration is never edited once released: change the schema by appending a new one. A database
whose version is higher than len(MIGRATIONS) was written by a newer Holdfast and is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from app.store.agents_schema import AGENT_AFTER_CALL, SQLITE_AGENT_WRAP_UP_EXTENDED, SQLITE_AGENT_WRAP_UP_UNTIL
from app.store.campaign_defs import SQLITE_CAMPAIGN_DEFS
from app.store.contacts_schema import SQLITE_CONTACTS
from app.store.events_schema import EVENTS_KIND_ID
from app.store.login_failures import SQLITE_LOGIN_FAILURES
from app.store.outbox_schema import SQLITE_OUTBOX
from app.store.promises_schema import PROMISES_BY_TIME
from app.store.stats_schema import STATS_INDEXES
from app.store.web_sessions import SQLITE_SESSION_KEY, SQLITE_SESSION_REVOCATIONS

SQLITE_MIGRATIONS: tuple[str, ...] = (
    # 1: requests with attempts, agent states, event log, admin log, instance lock
    """
    CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        arrived_at REAL NOT NULL,
        queued_since REAL NOT NULL,
        place_rank INTEGER NOT NULL,      -- the place key (-priority, place time, sequence)
        place_time REAL NOT NULL,
        place_seq INTEGER NOT NULL,
        caller_number TEXT,
        callback_number TEXT,
        callback_requested_at REAL,
        not_before REAL NOT NULL DEFAULT 0,
        outcome TEXT,
        ended_at REAL,
        extra TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra))
    );
    CREATE INDEX requests_active ON requests (queue, place_rank, place_time, place_seq)
        WHERE state <> 'ended';
    CREATE INDEX requests_active_callback_number ON requests (callback_number)
        WHERE state <> 'ended' AND callback_number IS NOT NULL;
    CREATE INDEX requests_ended_at ON requests (ended_at) WHERE ended_at IS NOT NULL;

    CREATE TABLE attempts (
        request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        started_at REAL NOT NULL,
        agent_id TEXT NOT NULL,
        outcome TEXT,
        ended_at REAL,
        PRIMARY KEY (request_id, number)
    ) WITHOUT ROWID;

    CREATE TABLE agent_states (
        agent_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        pause_reason TEXT,
        since REAL NOT NULL
    );

    -- The raw event log. No foreign key to requests: refused or never-saved requests are logged too.
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused, even after pruning
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        request_id TEXT,
        agent_id TEXT,
        queue TEXT,
        data TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data))
    );
    CREATE INDEX events_request ON events (request_id, id) WHERE request_id IS NOT NULL;
    CREATE INDEX events_agent ON events (agent_id, id) WHERE agent_id IS NOT NULL;
    CREATE INDEX events_at ON events (at);
    -- Append-only: lines are never changed. (Deleting old lines for retention stays possible.)
    CREATE TRIGGER events_append_only BEFORE UPDATE ON events
    BEGIN
        SELECT RAISE(ABORT, 'the event log is append-only');
    END;

    CREATE TABLE admin_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        request_id TEXT,
        detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
    );
    CREATE INDEX admin_log_request ON admin_log (request_id, id) WHERE request_id IS NOT NULL;
    CREATE TRIGGER admin_log_append_only BEFORE UPDATE ON admin_log
    BEGIN
        SELECT RAISE(ABORT, 'the admin log is append-only');
    END;

    CREATE TABLE instance_lock (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # 2: dialler contacts, do-not-call entries, campaign states (app/store/contacts_schema.py)
    SQLITE_CONTACTS,
    # 3: the statistics' index on the event log (app/store/stats_schema.py)
    STATS_INDEXES,
    # 4: the notification outbox (app/store/outbox_schema.py)
    SQLITE_OUTBOX,
    # 5: campaigns created over the API (app/store/campaign_defs.py)
    SQLITE_CAMPAIGN_DEFS,
    # 6: the event log by kind (app/store/events_schema.py; PostgreSQL's migration 7)
    EVENTS_KIND_ID,
    # 7: the live page's log-outs (app/store/web_sessions.py; PostgreSQL's migration 8)
    SQLITE_SESSION_REVOCATIONS,
    # 8: the callbacks promised lately, by time (app/store/promises_schema.py; PostgreSQL's migration 9)
    PROMISES_BY_TIME,
    # 9: an agent's pause or log-out asked for during a call (app/store/agents_schema.py; PostgreSQL's migration 10)
    AGENT_AFTER_CALL,
    # 10: the key that signs the page's log-in cookies, one for all nodes (app/store/web_sessions.py;
    # PostgreSQL's migration 11)
    SQLITE_SESSION_KEY,
    # 11: wrong log-in passwords within the throttle's window (app/store/login_failures.py; PostgreSQL's migration 12)
    SQLITE_LOGIN_FAILURES,
    # 12: the end of an agent's wrap-up, extensions included (app/store/agents_schema.py; PostgreSQL's migration 13)
    SQLITE_AGENT_WRAP_UP_UNTIL,
    # 13: the extension granted in an agent's wrap-up (app/store/agents_schema.py; PostgreSQL's migration 14)
    SQLITE_AGENT_WRAP_UP_EXTENDED,
)


def statements(script: str) -> Iterator[str]:
    """Split a script into statements (triggers included), without executescript's implicit COMMIT."""
    chunk = ""
    for piece in script.split(";"):
        chunk += piece + ";"
        if sqlite3.complete_statement(chunk):
            text = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
            if text != ";":
                yield chunk.strip()
            chunk = ""
    if chunk.strip(" \n;"):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {chunk.strip()[:80]!r}")
