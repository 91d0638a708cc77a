"""Agents' list and their state changes (login, ready, pause, logout) from a browser or a CRM, and
the extension of an agent's wrap-up (`extend`): more time for notes before the next call, within
`service.max_wrap_up_extension` (the engine caps the total and changes nothing at the cap, so an
extension that granted nothing is a 409, not a 200 claiming one)."""

from __future__ import annotations

from aiohttp import web

from app.config.durations import format_duration
from app.core.errors import CoreError
from app.core.events import WrapUpExtended
from app.telephony.service import TelephonyService, granted_extension
from app.web.access import Scope
from app.web.auth import scope_of, who
from app.web.body import read_body
from app.web.commit import kept, log_change
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.models import AgentActionBody, AgentList, AgentView, ExtendWrapUpBody, WrapUpExtension
from app.web.times import iso

ACTIONS = ("login", "ready", "pause", "logout")


def agent_view(service: TelephonyService, agent_id: str, scope: Scope) -> AgentView:
    """The agent as `scope` may see it: skills of visible queues, the current request only if it is
    visible (a contact: through its campaign)."""
    agent = service.engine.agents[agent_id]
    current = service.engine.requests.get(agent.request_id) if agent.request_id else None
    return AgentView(
        id=agent.id,
        name=agent.settings.name,
        state=agent.state.value,
        pause_reason=agent.pause_reason,
        reachable=agent.reachable,
        # a dialler contact is seen through its campaign, not the queue its agents come from
        request_id=agent.request_id if current is None or scope.sees_request(current.queue, current.campaign) else None,
        queues=[q for q, _ in agent.settings.skills if scope.sees_queue(q)],
    )


TARGET = {"login": "ready", "ready": "ready", "pause": "paused", "logout": "logged_off"}


def _after(service: TelephonyService, agent_id: str, action: str) -> str:
    """The state the action set, as the change log says it: the engine may have moved on within
    the same step (a ready agent rung at once) or deferred it (paused after the call)."""
    agent = service.engine.agents[agent_id]
    if agent.state.value == TARGET[action]:
        return _state_text(service, agent_id)
    if agent.after_call is not None:
        return f"{agent.state.value}; {agent.after_call.value} after the call"
    return f"{TARGET[action]}, then {agent.state.value}"


async def list_agents(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    scope = scope_of(request)
    agents = [agent_view(service, a, scope) for a in service.engine.agents if scope.sees_agent(a)]
    return web.json_response(AgentList(agents=agents).model_dump(mode="json"))


def _state_text(service: TelephonyService, agent_id: str) -> str:
    agent = service.engine.agents[agent_id]
    return f"{agent.state.value} ({agent.pause_reason})" if agent.pause_reason else agent.state.value


def _acted_on(request: web.Request, action: str, allowed: tuple[str, ...]) -> tuple[TelephonyService, str, Scope]:
    """The service, agent and scope of an agent action the user may make; else 404/403. One check
    for every action: an agent may be acted on by whoever may act within their scope."""
    service = request.app[SERVICE_KEY]
    agent_id = request.match_info["agent_id"]
    scope = scope_of(request)
    if agent_id not in service.engine.agents or not scope.sees_agent(agent_id):
        raise ApiError(404, f"no agent {agent_id!r}")
    if action not in allowed:
        raise ApiError(404, f"unknown action {action!r}; use one of {', '.join(ACTIONS)} or extend")
    if not scope.may_act_on_agent(agent_id):
        raise ApiError(403, f"{scope.principal.name} may not change agent {agent_id}")
    return service, agent_id, scope


async def agent_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    service, agent_id, scope = _acted_on(request, action, ACTIONS)
    body = await read_body(request, AgentActionBody)
    before = _state_text(service, agent_id)
    if await kept(service, lambda: service.agent_action_committed(agent_id, action, body.reason)) is None:
        state = service.engine.agents[agent_id].state.value
        raise ApiError(409, f"agent {agent_id} is {state}; cannot {action} now")
    detail = {"agent_id": agent_id, "before": before, "after": _after(service, agent_id, action)}
    if action == "pause":
        detail["reason"] = body.reason
    await log_change(service, service.clock(), who(request, "admin"), f"agent_{action}", None, detail)
    return web.json_response(agent_view(service, agent_id, scope).model_dump(mode="json"))


async def extend_wrap_up(request: web.Request) -> web.Response:
    """More wrap-up for an agent in wrap-up: the seconds asked for (default one step, as the
    extension code), cut to what `service.max_wrap_up_extension` leaves."""
    service, agent_id, scope = _acted_on(request, "extend", ("extend",))
    body = await read_body(request, ExtendWrapUpBody)
    before = _state_text(service, agent_id)
    event = WrapUpExtended(service.clock(), agent_id, body.seconds)
    try:
        commands = await kept(service, lambda: service.feed_and_commit(event))
    except CoreError as error:  # not in wrap-up (or it ended in this same step)
        raise ApiError(409, f"{error}; only an agent in wrap-up can extend it") from None
    granted = granted_extension(commands)
    if granted is None:  # at the cap the step records nothing: the refusal tells the agent's state
        agent = service.engine.agents[agent_id]
        cap = service.engine.settings.max_wrap_up_extension
        raise ApiError(
            409,
            f"agent {agent_id}'s wrap-up is already extended by {format_duration(agent.wrap_up_extended)}, "
            f"the most service.max_wrap_up_extension ({format_duration(cap)}) allows: no more can be added",
        )
    # the step's own answer: another step may have moved the agent on before this commit returned
    seconds, until, left = (float(granted.data[k]) for k in ("seconds", "until", "left"))
    detail = {"agent_id": agent_id, "before": before, "granted": seconds, "until": iso(until)}
    await log_change(service, service.clock(), who(request, "admin"), "agent_extend", None, detail)
    answer = WrapUpExtension(
        agent=agent_view(service, agent_id, scope),
        granted=seconds,
        wrap_up_until=iso(until),
        wrap_up_until_epoch=until,
        extension_left=left,
    )
    return web.json_response(answer.model_dump(mode="json"))
