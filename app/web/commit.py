"""A change is answered only once it is stored: a 201 must survive a kill -9 right after it.

Theory of operation: the engine applies an event at once, the committer stores the step after
(commit before act). An API answer waits for that commit; if the store cannot take it the
service is stopping (`service.fatal`), and the client gets 503: the change may be lost and the
client should ask again later, rather than believe in a callback nobody will make.
"""

from __future__ import annotations

import asyncio

from app.core.events import Event
from app.telephony.service import TelephonyService
from app.web.errors import ApiError


async def feed_and_commit(service: TelephonyService, event: Event) -> None:
    """Apply `event` (a CoreError means refused, nothing changed) and wait until it is stored."""
    refuse_if_stopping(service)
    # Becomes `await service.feed_and_commit(event)` once the service has it.
    service.feed(event)
    await committed(service)


def refuse_if_stopping(service: TelephonyService) -> None:
    """503 before a change is applied that could not be stored anyway."""
    if service.fatal.is_set():
        raise _unavailable()


async def committed(service: TelephonyService) -> None:
    """Until every step fed so far is stored; ApiError 503 when the service cannot store it."""
    refuse_if_stopping(service)
    # Wait for the commit or for the service giving up, whichever comes first: a step queued
    # behind a failed commit is never committed, and its waiter would otherwise hang.
    commit = asyncio.ensure_future(service.wait_committed())
    fatal = asyncio.ensure_future(service.fatal.wait())
    try:
        await asyncio.wait({commit, fatal}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (commit, fatal):
            task.cancel()
        await asyncio.gather(commit, fatal, return_exceptions=True)
    if commit.done() and not commit.cancelled() and commit.exception() is not None:
        raise _unavailable(str(commit.exception())) from commit.exception()
    if service.fatal.is_set():  # the failed commit may have been ours: it is not stored
        raise _unavailable()


def _unavailable(detail: str = "") -> ApiError:
    why = f" ({detail})" if detail else ""
    return ApiError(503, f"the change could not be stored{why}: the service is stopping; try again later")
