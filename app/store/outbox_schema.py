"""The outbox table (one migration per backend, appended to each backend's list).

`next_at` is when the worker may try a pending row again (exponential backoff); the partial
index keeps the worker's "what is due" query cheap however many delivered rows are kept.
"""

from __future__ import annotations

SQLITE_OUTBOX = """
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,                -- the idempotency key sent to the receiver
    created_at REAL NOT NULL,
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    request_id TEXT,
    queue TEXT,
    payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state, created_at);
"""

POSTGRES_OUTBOX = """
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    request_id TEXT,
    queue TEXT,
    payload JSONB NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    delivered_at DOUBLE PRECISION
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state, created_at);
"""
