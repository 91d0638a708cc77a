"""Schema migration 2 for both backends: dialler contacts, do-not-call entries, campaign states.

Theory of operation: a campaign's contacts are rows, never objects in memory (a list may hold
100 000). `id` is one increasing number across campaigns (the contact id the core and the API
use); (campaign, number) is unique, so an upload that repeats a number merges into the row
already there. The due index is the order `contacts_due` hands them out (priority high first,
then upload order) over the rows that may be due. Do-not-call entries are global (scope '') or
for one campaign (scope = the campaign id); an entry is an exact E.164 number or a prefix of one.
Numbers and entries are '+' and digits compared byte by byte (PostgreSQL: COLLATE "C"), so the
numbers under a prefix P are the index range P <= number < P || ':' (':' follows '9').
Dial activities (the compliance record of every dial: kind `dial_attempt`, data {campaign,
contact, number, agent, outcome, abandoned}) get a partial index by campaign and time for the
campaign figures over 24 h and 30 days.
"""

from __future__ import annotations

CONTACT_STATES = ("new", "claimed", "scheduled", "done", "dnc", "invalid")
CAMPAIGN_STATES = ("running", "paused", "stopped")  # as app/core/settings.py CampaignState
GLOBAL_SCOPE = ""  # the do-not-call scope that covers every campaign
DIAL_ACTIVITY = "dial_attempt"  # the raw event log's kind for one dial of a contact

_STATES = ", ".join(f"'{s}'" for s in CONTACT_STATES)
_CAMPAIGN_STATES = ", ".join(f"'{s}'" for s in CAMPAIGN_STATES)

SQLITE_CONTACTS = f"""
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an id names one contact for good
        campaign TEXT NOT NULL,
        number TEXT NOT NULL,                  -- E.164
        name TEXT NOT NULL DEFAULT '',
        fields TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(fields)),
        timezone TEXT,
        priority INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ({_STATES})),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_due REAL,
        last_outcome TEXT,
        reserved_agent TEXT,
        updated_at REAL NOT NULL,
        UNIQUE (campaign, number)
    );
    CREATE INDEX contacts_due ON contacts (campaign, priority DESC, id) WHERE state IN ('new', 'scheduled');
    CREATE INDEX contacts_state ON contacts (campaign, state, id);
    CREATE INDEX contacts_campaign ON contacts (campaign, id);

    -- Keyed so that a list's prefixes are read without its (maybe millions of) exact numbers.
    CREATE TABLE dnc (
        scope TEXT NOT NULL,                   -- '' for every campaign, else a campaign id
        is_prefix INTEGER NOT NULL CHECK (is_prefix IN (0, 1)),
        entry TEXT NOT NULL,                   -- E.164 number, or the prefix of one (without "*")
        added_at REAL NOT NULL,
        added_by TEXT NOT NULL,
        PRIMARY KEY (scope, is_prefix, entry)
    ) WITHOUT ROWID;

    CREATE TABLE campaign_states (
        campaign TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ({_CAMPAIGN_STATES})),
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );

    CREATE INDEX events_dial ON events (json_extract(data, '$.campaign'), at) WHERE kind = '{DIAL_ACTIVITY}';
"""

POSTGRES_CONTACTS = f"""
    CREATE TABLE contacts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        campaign TEXT NOT NULL,
        number TEXT COLLATE "C" NOT NULL,  -- "C": byte order, so a prefix is a range of the index
        name TEXT NOT NULL DEFAULT '',
        fields JSONB NOT NULL DEFAULT '{{}}',
        timezone TEXT,
        priority INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ({_STATES})),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_due DOUBLE PRECISION,
        last_outcome TEXT,
        reserved_agent TEXT,
        updated_at DOUBLE PRECISION NOT NULL,
        UNIQUE (campaign, number)
    );
    CREATE INDEX contacts_due ON contacts (campaign, priority DESC, id) WHERE state IN ('new', 'scheduled');
    CREATE INDEX contacts_state ON contacts (campaign, state, id);
    CREATE INDEX contacts_campaign ON contacts (campaign, id);
    CREATE TABLE dnc (
        scope TEXT NOT NULL,
        is_prefix BOOLEAN NOT NULL,
        entry TEXT COLLATE "C" NOT NULL,
        added_at DOUBLE PRECISION NOT NULL,
        added_by TEXT NOT NULL,
        PRIMARY KEY (scope, is_prefix, entry)
    );
    CREATE TABLE campaign_states (
        campaign TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ({_CAMPAIGN_STATES})),
        updated_at DOUBLE PRECISION NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE INDEX events_dial ON events ((data->>'campaign'), at) WHERE kind = '{DIAL_ACTIVITY}';
"""
