"""The callbacks promised lately, read at start-up (SQLite migration 8, PostgreSQL migration 9).

`recent_promises(since)` gives the engine back the callbacks and tickets promised per number in
the last 24 hours (the daily cap, app/core/promise_log.py). The requests table keeps months of
ended requests, so the read goes by the time of the promise, not through all of them.
"""

from __future__ import annotations

PROMISES_BY_TIME = """
    CREATE INDEX requests_promised_at ON requests (callback_requested_at)
        WHERE callback_requested_at IS NOT NULL;
"""
