"""Message text: `%name%` placeholders filled from a notification's fields.

Unknown placeholders cannot reach here (the config refuses them); a field a notification lacks
renders as an empty string rather than failing a delivery that can never succeed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from app.config.notifications import PLACEHOLDER
from app.core.callers import spoken_minutes
from app.core.commands import Notify


def render(template: str, fields: Mapping[str, object], escape: Callable[[str], str] = str) -> str:
    return PLACEHOLDER.sub(lambda m: escape(str(fields.get(m.group(1), ""))), template)


def json_escape(text: str) -> str:
    """For a placeholder inside a JSON string literal of a gateway's body."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def form_escape(text: str) -> str:
    return quote_plus(text)


def _clock(at: float | None, zone: ZoneInfo, fmt: str) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).astimezone(zone).strftime(fmt)


def message_fields(notify: Notify, queue_name: str, timezone: str) -> dict[str, object]:
    """What a message template may name (app/config/notifications.py MESSAGE_FIELDS)."""
    zone = ZoneInfo(timezone)
    data = notify.data
    arrived = data.get("arrived_at")
    waited = data.get("waited")
    expected = data.get("expected_at")
    return {
        "number": notify.number or "",
        "queue": notify.queue,
        "queue_name": queue_name,
        "event": notify.kind,
        "request_id": notify.request_id,
        "time": _clock(notify.at, zone, "%H:%M"),
        "date": _clock(notify.at, zone, "%Y-%m-%d"),
        "arrived_time": _clock(arrived if isinstance(arrived, int | float) else None, zone, "%H:%M"),
        "waited": int(waited) if isinstance(waited, int | float) else "",
        "waited_minutes": spoken_minutes(waited) if isinstance(waited, int | float) else "",
        "expected_time": _clock(expected if isinstance(expected, int | float) else None, zone, "%H:%M"),
        "expected_date": _clock(expected if isinstance(expected, int | float) else None, zone, "%Y-%m-%d"),
        "campaign": str(data.get("campaign", "")),
    }
