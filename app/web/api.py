"""HTTP API: agents' state changes, queue views, health and Prometheus metrics.

Routes (JSON unless noted):
  GET  /healthz                         200 when ARI is connected, 503 otherwise
  GET  /metrics                         Prometheus text format
  GET  /api/queues                      queues with waiting requests in place order
  GET  /api/agents                      agents with state, pause reason, reachability
  POST /api/agents/{id}/{action}        action: login, ready, pause (JSON {"reason": ...}), logout
  POST /api/reload                      re-read the settings file; 400 with the reasons when refused
  POST /api/callbacks                   ask for a callback (web form, CRM): {"queue", "number", "priority"?};
                                        it joins the end of the queue; 422 with the reason for refused numbers
  GET  /api/callbacks                   waiting callbacks (in place order per queue, and in quarantine)
  DELETE /api/callbacks/{id}            remove a waiting callback; JSON {"by": ..., "reason": ...}
  POST /api/callbacks/{id}/move         move to another queue (place not kept); JSON {"queue", "by", "reason"}
When `service.admin_token` is set, /api/* requires `Authorization: Bearer <token>`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.ari import new_id
from app.core.engine import IneligibleNumber
from app.core.errors import CoreError, UnknownQueue, UnknownRequest
from app.core.events import CallbackMoved, CallbackRemoved, CallbackRequested
from app.core.request import Request
from app.core.states import RequestState
from app.telephony.service import TelephonyService

SERVICE_KEY = web.AppKey("service", TelephonyService)
ACTIONS = ("login", "ready", "pause", "logout")


def make_app(service: TelephonyService, admin_token: str | None = None) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if admin_token and request.path.startswith("/api/"):
            if request.headers.get("Authorization", "") != f"Bearer {admin_token}":
                return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        return await handler(request)

    app = web.Application(middlewares=[auth])
    app[SERVICE_KEY] = service
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/agents", agents)
    app.router.add_post("/api/agents/{agent_id}/{action}", agent_action)
    app.router.add_post("/api/reload", reload_settings)
    app.router.add_get("/api/callbacks", callbacks)
    app.router.add_post("/api/callbacks", request_callback)
    app.router.add_delete("/api/callbacks/{request_id}", remove_callback)
    app.router.add_post("/api/callbacks/{request_id}/move", move_callback)
    return app


async def healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    ok = service.connected.is_set() and not service.replaced
    return web.json_response({"ari": "connected" if ok else "disconnected"}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = generate_latest(service.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def queues(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    engine = service.engine
    now = service.clock()
    out = []
    for name, q in engine.queues.items():
        waiting = [
            {
                "request_id": r.id,
                "position": i + 1,
                "kind": r.kind.value,
                "number": r.callback_number or r.caller_number,
                "gross_wait": round(r.gross_wait(now), 1),
                "net_wait": round(r.net_wait(now), 1),
                "estimated_wait": round(engine.estimated_wait(r.id) or 0.0, 1),
            }
            for i, r in enumerate(engine.waiting(name))
        ]
        out.append({"name": name, "display_name": q.label, "open": engine.is_open(name), "waiting": waiting})
    return web.json_response({"queues": out})


def _agent_view(service: TelephonyService, agent_id: str) -> dict[str, Any]:
    agent = service.engine.agents[agent_id]
    return {
        "id": agent.id,
        "name": agent.settings.name,
        "state": agent.state.value,
        "pause_reason": agent.pause_reason,
        "reachable": agent.reachable,
        "request_id": agent.request_id,
        "queues": [q for q, _ in agent.settings.skills],
    }


async def agents(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    return web.json_response({"agents": [_agent_view(service, a) for a in service.engine.agents]})


async def agent_action(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    agent_id, action = request.match_info["agent_id"], request.match_info["action"]
    if agent_id not in service.engine.agents:
        return web.json_response({"error": f"no agent {agent_id!r}"}, status=404)
    if action not in ACTIONS:
        return web.json_response({"error": f"unknown action {action!r}; use one of {', '.join(ACTIONS)}"}, status=404)
    reason = "break"
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        reason = str(body.get("reason", reason)) if isinstance(body, dict) else reason
    if service.agent_action(agent_id, action, reason) is None:
        state = service.engine.agents[agent_id].state.value
        return web.json_response({"error": f"agent {agent_id} is {state}; cannot {action} now"}, status=409)
    return web.json_response(_agent_view(service, agent_id))


def _callback_view(service: TelephonyService, req: Request) -> dict[str, Any]:
    now = service.clock()
    return {
        "request_id": req.id,
        "queue": req.queue,
        "state": req.state.value,
        "position": service.engine.position(req.id),
        "number": req.callback_number,
        "requested_at": req.callback_requested_at,
        "attempts": req.counted_attempts,
        "not_before": req.not_before if req.not_before > now else None,
        "gross_wait": round(req.gross_wait(now), 1),
    }


async def callbacks(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    waiting = [
        r
        for r in service.engine.requests.values()
        if r.is_callback and r.state in (RequestState.WAITING, RequestState.QUARANTINE)
    ]
    waiting.sort(key=lambda r: (r.queue, r.state != RequestState.WAITING, r.place))
    return web.json_response({"callbacks": [_callback_view(service, r) for r in waiting]})


async def _admin_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json") from None
    return body if isinstance(body, dict) else {}


async def remove_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = await _admin_body(request)
    event = CallbackRemoved(
        service.clock(), request.match_info["request_id"], str(body.get("by", "admin")), str(body.get("reason", ""))
    )
    return await _admin_result(service, event)


async def move_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = await _admin_body(request)
    if "queue" not in body:
        return web.json_response({"error": 'body needs the target queue: {"queue": ...}'}, status=400)
    event = CallbackMoved(
        service.clock(),
        request.match_info["request_id"],
        str(body["queue"]),
        str(body.get("by", "admin")),
        str(body.get("reason", "")),
    )
    return await _admin_result(service, event)


async def _admin_result(service: TelephonyService, event: CallbackRemoved | CallbackMoved) -> web.Response:
    try:
        await service.admin_action(event)
    except UnknownRequest as error:
        return web.json_response({"error": str(error)}, status=404)
    except CoreError as error:
        return web.json_response({"error": str(error)}, status=409)
    req = service.engine.requests.get(event.request_id)
    return web.json_response(
        {
            "request_id": event.request_id,
            "removed": req is None,
            **({"callback": _callback_view(service, req)} if req else {}),
        }
    )


async def reload_settings(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    problem = service.reload()
    if problem is not None:
        return web.json_response({"applied": False, "error": problem}, status=400)
    return web.json_response({"applied": True})


async def request_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = await _admin_body(request)
    queue, number = body.get("queue"), body.get("number")
    if not isinstance(queue, str) or not isinstance(number, str):
        return web.json_response({"error": 'body needs {"queue": ..., "number": ...}'}, status=400)
    request_id = f"web-{new_id()}"
    event = CallbackRequested(service.clock(), request_id, queue, number, int(body.get("priority", 0)))
    try:
        service.feed(event)
    except IneligibleNumber as error:
        refusal = error.verdict.refusal
        return web.json_response({"error": f"number refused: {refusal}", "reason": str(refusal)}, status=422)
    except UnknownQueue as error:
        return web.json_response({"error": str(error)}, status=404)
    except CoreError as error:
        return web.json_response({"error": str(error)}, status=409)
    return web.json_response(_callback_view(service, service.engine.requests[request_id]), status=201)
