"""A change is answered only once it is stored: a 201 must survive a kill -9 right after it.

Theory of operation: the engine applies an event at once, the committer stores the step after
(commit before act). An API answer waits for that commit (`TelephonyService.feed_and_commit`);
if the store cannot take it the service is stopping, and the client gets 503: the change may be
lost and the client should ask again later, rather than believe in a callback nobody will make.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from app.core.events import Event
from app.telephony.errors import ServiceStopping
from app.telephony.service import TelephonyService
from app.web.errors import ApiError

T = TypeVar("T")


async def feed_and_commit(service: TelephonyService, event: Event) -> None:
    """Apply `event` (a CoreError means refused, nothing changed) and wait until it is stored."""
    await kept(service, lambda: service.feed_and_commit(event))


async def log_change(
    service: TelephonyService, at: float, who: str, action: str, request_id: str | None, detail: Mapping[str, object]
) -> None:
    """Write a change that was made to the admin change log, as the change itself is kept: a log
    the store keeps refusing stops the service (503), never a bare 500 with no line."""
    await kept(service, lambda: service.record_admin(at, who, action, request_id, detail))


async def kept(service: TelephonyService, change: Callable[[], Awaitable[T]]) -> T:
    """Make a change through the service and await it; 503 (before it is applied) if it cannot
    be stored."""
    refuse_if_stopping(service)
    try:
        return await change()
    except ServiceStopping as error:
        raise _unavailable(str(error)) from error


def refuse_if_stopping(service: TelephonyService) -> None:
    """503 before a change is applied that could not be stored anyway."""
    if not service.healthy:
        raise _unavailable()


def _unavailable(detail: str = "") -> ApiError:
    why = f" ({detail})" if detail else ""
    return ApiError(503, f"the change could not be stored{why}: the service is stopping; try again later")
