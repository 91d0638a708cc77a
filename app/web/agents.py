"""Agents' list and their state changes (login, ready, pause, logout) from a browser or a CRM."""

from __future__ import annotations

from aiohttp import web

from app.telephony.service import TelephonyService
from app.web.body import read_body
from app.web.commit import kept
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.models import AgentActionBody, AgentList, AgentView

ACTIONS = ("login", "ready", "pause", "logout")


def agent_view(service: TelephonyService, agent_id: str) -> AgentView:
    agent = service.engine.agents[agent_id]
    return AgentView(
        id=agent.id,
        name=agent.settings.name,
        state=agent.state.value,
        pause_reason=agent.pause_reason,
        reachable=agent.reachable,
        request_id=agent.request_id,
        queues=[q for q, _ in agent.settings.skills],
    )


async def list_agents(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    answer = AgentList(agents=[agent_view(service, a) for a in service.engine.agents])
    return web.json_response(answer.model_dump(mode="json"))


async def agent_action(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    agent_id, action = request.match_info["agent_id"], request.match_info["action"]
    if agent_id not in service.engine.agents:
        raise ApiError(404, f"no agent {agent_id!r}")
    if action not in ACTIONS:
        raise ApiError(404, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    body = await read_body(request, AgentActionBody)
    if await kept(service, lambda: service.agent_action_committed(agent_id, action, body.reason)) is None:
        state = service.engine.agents[agent_id].state.value
        raise ApiError(409, f"agent {agent_id} is {state}; cannot {action} now")
    return web.json_response(agent_view(service, agent_id).model_dump(mode="json"))
