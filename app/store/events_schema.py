"""The event log read by kind (SQLite migration 6, PostgreSQL migration 7).

`events_of_kinds(kinds, since_id)` is how a reader that cares about a few kinds of lines (the
recordings' retention, the campaigns' finished marks) follows the log without reading every line
of it: (kind, id) makes each kind an index range in log order; the reader merges a few of them.
"""

from __future__ import annotations

EVENTS_KIND_ID = """
    CREATE INDEX events_kind_id ON events (kind, id);
"""
