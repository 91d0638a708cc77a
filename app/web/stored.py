"""Routes that write the store themselves answer for what the store then holds.

Theory of operation: campaign states and definitions, do-not-call lists and contact uploads are
written to the store by the route (the engine reads them back at start-up), and only then given
to the running engine. So such a route refuses first what it can, with nothing written: the
service stopping (`refuse_if_stopping`) and what the engine would refuse (`checked`, its
read-only `Engine.check`). Once the store write is done the change is kept, whatever happens
next, and the answer must not say otherwise (`after_store`):
- the service starts stopping meanwhile: 503 saying it is stored and applies at the next start;
- the running engine refuses it (a reload or a delete removed the campaign meanwhile): 409
  saying what is stored;
and either way the change-log line is written, so no stored change goes unaccounted for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from app.core.errors import CoreError
from app.core.events import Event
from app.telephony.errors import ServiceStopping
from app.telephony.service import TelephonyService
from app.web.callbacks import refused
from app.web.commit import refuse_if_stopping
from app.web.errors import ApiError


def checked(service: TelephonyService, event: Event) -> None:
    """Before a store write: 503 if the service is stopping, 404/409 if the running engine would
    refuse `event` (nothing is written either way)."""
    refuse_if_stopping(service)
    try:
        service.engine.check(event)
    except CoreError as error:
        raise refused(error) from None


async def after_store(
    service: TelephonyService,
    what: str,
    apply: Callable[[], Awaitable[object]] | None,
    *,
    at: float,
    by: str,
    action: str,
    detail: Mapping[str, object],
    **extra: object,
) -> None:
    """`what` is stored: give it to the running engine (`apply`; None: it already has it), then
    write its change-log line. Raises the answer (with `stored: true` and `extra`) when either
    could not be done."""
    try:
        if apply is not None:
            await apply()
    except ServiceStopping as error:
        note = await log_stored(service, at, by, action, {**detail, "applied": "at the next start"})
        raise ApiError(
            503,
            f"{what} is stored and applies when the service starts again; the running service is stopping"
            f" ({error}){note}",
            stored=True,
            **extra,
        ) from None
    except CoreError as error:
        note = await log_stored(service, at, by, action, {**detail, "applied": f"no: {error}"})
        raise ApiError(
            409, f"{what} is stored, but the running engine refused it: {error}{note}", stored=True, **extra
        ) from None
    note = await log_stored(service, at, by, action, detail)
    if note:
        raise ApiError(503, f"{what} is stored and applied{note}; the service is stopping", stored=True, **extra)


async def log_stored(service: TelephonyService, at: float, by: str, action: str, detail: Mapping[str, object]) -> str:
    """Write the change-log line of a change the store already holds, even while the service is
    stopping (the change happened). Returns "" or, for the answer, why the line is missing."""
    try:
        await service.record_admin(at, by, action, None, detail)
    except ServiceStopping as error:  # the store refused the log too: the service stops
        return f"; its change-log line could not be written ({error})"
    return ""
