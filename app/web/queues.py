"""The queues view: every active request of each queue and what it is doing.

Theory of operation: a read-only look at the engine (`requests`, `waiting()`, `estimated_wait()`),
taken in one go on the event loop, so no event changes the state half-way through. `waiting`
lists the requests holding a place, in place order, as it always has; `requests` lists every
active request: those holding a place (waiting, or a callback still `scheduled` by its
callback_delay) in place order, then those in service with their agent, then callbacks in
quarantine between attempts.
"""

from __future__ import annotations

from aiohttp import web

from app.core.request import IN_SERVICE, Request
from app.core.states import RequestState
from app.telephony.service import TelephonyService
from app.web.access import Scope
from app.web.auth import scope_of
from app.web.context import SERVICE_KEY
from app.web.models import QueueList, QueueView, RequestView, WaitingView
from app.web.times import iso, iso_or_none, known_estimate

# After the requests holding a place: in service, furthest along first, then quarantine.
_LATER = {
    RequestState.CONNECTED: 0,
    RequestState.DIALLING_CUSTOMER: 1,
    RequestState.WHISPER: 2,
    RequestState.RINGING_AGENT: 3,
    RequestState.QUARANTINE: 4,
}


async def queues(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    answer = QueueList(
        queues=[queue_view(service, name, scope) for name in service.engine.queues if scope.sees_queue(name)]
    )
    return web.json_response(answer.model_dump(mode="json"))


def queue_view(service: TelephonyService, name: str, scope: Scope) -> QueueView:
    engine = service.engine
    now = service.clock()
    placed = engine.waiting(name)
    placed_ids = {r.id for r in placed}
    others = [
        r
        for r in engine.requests.values()
        if r.queue == name
        and r.id not in placed_ids
        and r.state is not RequestState.ENDED
        and scope.sees_request(r.queue, r.campaign)  # a contact goes with its campaign, not the queue
    ]
    others.sort(key=lambda r: (_LATER.get(r.state, len(_LATER)), r.arrived_at, r.id))
    estimates = {r.id: known_estimate(engine.estimated_wait(r.id)) for r in placed}
    waiting = [
        WaitingView(
            request_id=r.id,
            position=i,
            kind=r.kind.value,
            number=scope.number(_number(r)),
            gross_wait=round(r.gross_wait(now), 1),
            net_wait=round(r.net_wait(now), 1),
            estimated_wait=estimates[r.id],
        )
        for i, r in enumerate(placed, start=1)
    ]
    requests = [request_view(r, now, scope, i, estimates[r.id]) for i, r in enumerate(placed, start=1)]
    requests += [request_view(r, now, scope) for r in others]
    q = engine.queues[name]
    return QueueView(name=name, display_name=q.label, open=engine.is_open(name), waiting=waiting, requests=requests)


def request_view(
    r: Request, now: float, scope: Scope, position: int | None = None, estimate: float | None = None
) -> RequestView:
    scheduled = r.state is RequestState.WAITING and r.is_callback and r.not_before > now
    quarantine = r.state is RequestState.QUARANTINE
    not_before = r.not_before if scheduled else None
    until = r.not_before if quarantine else None
    return RequestView(
        request_id=r.id,
        kind=r.kind.value,
        state="scheduled" if scheduled else r.state.value,
        position=position,
        number=scope.number(_number(r)),
        priority=r.priority,
        agent_id=r.agent_id if r.state in IN_SERVICE else None,
        attempts=r.counted_attempts,
        arrived_at=iso(r.arrived_at),
        arrived_at_epoch=r.arrived_at,
        gross_wait=round(r.gross_wait(now), 1),
        net_wait=round(r.net_wait(now), 1),
        estimated_wait=estimate,
        not_before=iso_or_none(not_before),
        not_before_epoch=not_before,
        until=iso_or_none(until),
        until_epoch=until,
    )


def _number(r: Request) -> str | None:
    return r.callback_number or r.caller_number
