"""Migration 3 (both backends): the index the statistics read the event log by.

Every report selects a few kinds of lines over a time range (`kind IN (...) AND at >= ? AND
at < ?`): (kind, at) turns that into index range scans instead of walking every line of the
range through `events_at`. Handle time looks a request's later lines up by `events_request`.
"""

STATS_INDEXES = """
    CREATE INDEX events_kind_at ON events (kind, at);
"""
