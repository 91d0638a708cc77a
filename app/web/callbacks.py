"""Callbacks asked for, listed, removed, moved to another queue or to a position of theirs by
people and CRMs over the API."""

from __future__ import annotations

import math
from collections.abc import Callable

from aiohttp import web

from app.ari import new_id
from app.core.engine import IneligibleNumber
from app.core.errors import (
    CoreError,
    DailyLimitReached,
    DuplicateRequest,
    InvalidPosition,
    UnknownQueue,
    UnknownRequest,
)
from app.core.events import CallbackMoved, CallbackRemoved, CallbackRepositioned, CallbackRequested
from app.core.request import Request
from app.core.states import Refusal, RequestState
from app.telephony.service import TelephonyService
from app.web.access import Scope
from app.web.auth import principal_of, scope_of, who
from app.web.body import read_body
from app.web.commit import feed_and_commit, kept, log_change
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.models import (
    AdminResult,
    CallbackList,
    CallbackRequestBody,
    CallbackView,
    MoveCallbackBody,
    PositionCallbackBody,
    RemoveCallbackBody,
)
from app.web.times import iso_or_none


def callback_view(service: TelephonyService, req: Request, scope: Scope) -> CallbackView:
    now = service.clock()
    not_before = req.not_before if req.not_before > now else None
    return CallbackView(
        request_id=req.id,
        queue=req.queue,
        state=req.state.value,
        position=service.engine.position(req.id),
        number=scope.number(req.callback_number),
        requested_at=iso_or_none(req.callback_requested_at),
        requested_at_epoch=req.callback_requested_at,
        attempts=req.counted_attempts,
        not_before=iso_or_none(not_before),
        not_before_epoch=not_before,
        gross_wait=round(req.gross_wait(now), 1),
    )


async def list_callbacks(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    waiting = [
        r
        for r in service.engine.requests.values()
        if r.is_callback
        and r.state in (RequestState.WAITING, RequestState.QUARANTINE)
        and scope.sees_request(r.queue, r.campaign)
    ]
    waiting.sort(key=lambda r: (r.queue, r.state != RequestState.WAITING, r.place))
    answer = CallbackList(callbacks=[callback_view(service, r, scope) for r in waiting])
    return web.json_response(answer.model_dump(mode="json"))


async def request_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = await read_body(request, CallbackRequestBody)
    scope = scope_of(request)
    if body.queue in service.engine.queues and not scope.sees_queue(body.queue):
        raise ApiError(404, f"no queue named {body.queue!r}")
    if not scope.may_act_on_queue(body.queue) and scope.sees_queue(body.queue):
        raise ApiError(403, f"{scope.principal.name} may not add callbacks to {body.queue}")
    request_id = f"web-{new_id()}"
    event = CallbackRequested(service.clock(), request_id, body.queue, body.number, body.priority)
    try:
        await feed_and_commit(service, event)
    except IneligibleNumber as error:
        refusal = error.verdict.refusal
        raise ApiError(422, f"number refused: {refusal}", reason=str(refusal)) from None
    except DailyLimitReached as error:
        wait = max(1, math.ceil(error.free_again_at - event.now))
        raise ApiError(429, str(error), reason=str(Refusal.DAILY_LIMIT), retry_after=wait) from None
    except CoreError as error:
        raise refused(error) from None
    view = callback_view(service, service.engine.requests[request_id], scope)
    return web.json_response(view.model_dump(mode="json"), status=201)


def _visible_request(request: web.Request, scope: Scope) -> Request | None:
    """The request named in the path if the user may see it (else as if it did not exist: 404)."""
    service = request.app[SERVICE_KEY]
    req = service.engine.requests.get(request.match_info["request_id"])
    if req is not None and not scope.sees_request(req.queue, req.campaign):
        raise ApiError(404, f"no request {request.match_info['request_id']!r}")
    if req is not None and not scope.can_act:
        raise ApiError(403, f"{scope.principal.name} may not change requests of {req.queue}")
    return req


def _needs_reason(request: web.Request, reason: str) -> None:
    """A person logged in (or with their own token) says why: the change log is read by others."""
    principal = principal_of(request)
    if principal is not None and principal.via in ("session", "user_token") and not reason.strip():
        raise ApiError(422, "a reason is required", problems=[{"field": "reason", "problem": "is required"}])


def _before(service: TelephonyService, req: Request | None) -> dict[str, object]:
    if req is None:
        return {}
    return {"queue": req.queue, "before": _where(service, req)}


def _where(service: TelephonyService, req: Request | None) -> str:
    """Where a request is, for the change log: "callback waiting, position 3 in support"."""
    if req is None:
        return "ended"
    position = service.engine.position(req.id)
    state = req.state.value + (f", position {position}" if position else "")
    return f"{req.kind.value} {state} in {req.queue}"


async def remove_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    body = await read_body(request, RemoveCallbackBody)
    req = _visible_request(request, scope)
    _needs_reason(request, body.reason)
    event = CallbackRemoved(service.clock(), request.match_info["request_id"], who(request, body.by), body.reason)
    return await _admin_change(service, event, scope, _before(service, req), after=lambda _gone: "removed")


async def move_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    body = await read_body(request, MoveCallbackBody)
    req = _visible_request(request, scope)
    if body.queue in service.engine.queues and not scope.sees_queue(body.queue):
        raise ApiError(404, f"no queue named {body.queue!r}")
    if not scope.may_act_on_queue(body.queue) and scope.sees_queue(body.queue):
        raise ApiError(403, f"{scope.principal.name} may not move callbacks to {body.queue}")
    _needs_reason(request, body.reason)
    by = who(request, body.by)
    event = CallbackMoved(service.clock(), request.match_info["request_id"], body.queue, by, body.reason)
    detail = _before(service, req) if req else {}
    return await _admin_change(service, event, scope, detail, after=lambda moved: _where(service, moved))


async def reposition_callback(request: web.Request) -> web.Response:
    """Put a waiting callback at a position of its queue: applied and stored, then written to the
    change log with the position before and after."""
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    body = await read_body(request, PositionCallbackBody)
    req = _visible_request(request, scope)
    _needs_reason(request, body.reason)
    request_id = request.match_info["request_id"]
    event = CallbackRepositioned(service.clock(), request_id, body.position, who(request, body.by), body.reason)
    before = service.engine.position(request_id)
    held = len(service.engine.orders[req.queue]) if req is not None and req.queue in service.engine.orders else 0
    try:
        await kept(service, lambda: service.feed_and_commit(event))
    except CoreError as error:
        raise refused(error) from None
    assert req is not None  # the engine refuses an unknown request
    detail: dict[str, object] = {
        "reason": event.reason,
        "queue": req.queue,
        "before": f"position {before} of {held} in {req.queue}",
        "after": f"position {body.position} of {held} in {req.queue}",
    }
    await log_change(service, event.now, event.by, "position_callback", request_id, detail)
    answer = AdminResult(request_id=request_id, removed=False, callback=callback_view(service, req, scope))
    return web.json_response(answer.model_dump(mode="json", exclude_none=True))


async def _admin_change(
    service: TelephonyService,
    event: CallbackRemoved | CallbackMoved,
    scope: Scope,
    detail: dict[str, object],
    after: Callable[[Request | None], str],
) -> web.Response:
    def where_now() -> str:  # once applied: a callback moved in quarantine stays in it
        return after(service.engine.requests.get(event.request_id))

    try:
        # applied, stored, and written to the admin log (who, when, why, before → after) before we answer
        await kept(service, lambda: service.admin_action(event, detail, where_now))
    except CoreError as error:
        raise refused(error) from None
    req = service.engine.requests.get(event.request_id)
    answer = AdminResult(
        request_id=event.request_id, removed=req is None, callback=callback_view(service, req, scope) if req else None
    )
    return web.json_response(answer.model_dump(mode="json", exclude_none=True))


def refused(error: CoreError) -> ApiError:
    """A refusal by the engine: 404 for a name that does not exist, else 409 with the engine's words
    (a duplicate names the request that already holds the number)."""
    if isinstance(error, UnknownQueue | UnknownRequest):
        return ApiError(404, str(error))
    if isinstance(error, InvalidPosition):
        return ApiError(422, str(error))
    if isinstance(error, DuplicateRequest):
        return ApiError(409, str(error), existing_request_id=error.existing_request_id)
    return ApiError(409, str(error))
