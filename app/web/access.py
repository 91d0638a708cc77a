"""Who may see and do what: the one place that turns (user, role, resource filter) into answers.

Theory of operation: a `Principal` is who is asking (a user logged in on the page or holding a
personal API token; the global `service.admin_token`, which acts as admin; or nobody at all on
a service with neither token nor users, which stays open as it always was). `scope_for`
resolves the principal against the running settings into a `Scope`: the queue names and agent
ids they may see, whether they may act, whether numbers are masked. Every route, the websocket
and every export ask the scope; the filter functions below (`filter_live`, `filter_changelog`)
are pure and take plain rows, so a property test can check that nothing of another resource
ever gets through — not a row, not a queue name in an agent's skills, not a request id.

Rules: admin sees and does everything (settings reload too). A supervisor sees the queues of
their filter ("*" is every queue), the dialler campaigns of their campaign filter ("*" is every
campaign; a dialler contact is seen through its campaign) and the agents of their agent groups — or, with no group
listed, the agents who serve one of their queues; they act (remove a callback, set an agent's
state) on what they see. A viewer sees as a supervisor does and acts on nothing. An agent's
current request, skills and calls handled are shown only for visible queues.

A dialler contact belongs to its campaign, not to the queue its agents come from: a supervisor
of that queue alone sees nothing of it (no row, no id, no count, no recording, no event). Live
requests carry their campaign; stored events carry it in `data.campaign` on most lines, and every
line of a contact's request can be placed by its id (`campaign_of_event`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.config import HoldfastConfig


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    queues: frozenset[str]  # the filter as written; "*" is every queue
    agent_groups: frozenset[str]
    via: str  # "session", "user_token", "admin_token" or "open"
    session_id: str | None = None
    campaigns: frozenset[str] = frozenset()  # dialler campaigns as written; "*" is every campaign


OPEN = Principal("admin", Role.ADMIN, frozenset({"*"}), frozenset(), "open", campaigns=frozenset({"*"}))
ADMIN_TOKEN = Principal("admin", Role.ADMIN, frozenset({"*"}), frozenset(), "admin_token", campaigns=frozenset({"*"}))


def principal_for_user(config: HoldfastConfig, name: str, via: str, session_id: str | None = None) -> Principal | None:
    """The user's principal from the running settings (a reload that changes a role applies at once)."""
    user = config.users.get(name)
    if user is None:
        return None
    return Principal(
        name,
        Role(user.role),
        frozenset(user.queues),
        frozenset(user.agent_groups),
        via,
        session_id,
        frozenset(user.campaigns),
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """What one principal may see and do, resolved against the running settings."""

    principal: Principal
    queues: frozenset[str]
    agents: frozenset[str]
    groups: frozenset[str]
    mask: bool
    campaigns: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.principal.role is Role.ADMIN

    @property
    def can_act(self) -> bool:
        return self.principal.role is not Role.VIEWER

    def sees_queue(self, queue: str | None) -> bool:
        return queue is not None and queue in self.queues

    def sees_agent(self, agent_id: str | None) -> bool:
        return agent_id is not None and agent_id in self.agents

    def sees_campaign(self, campaign: str | None) -> bool:
        return campaign is not None and campaign in self.campaigns

    def may_act_on_campaign(self, campaign: str | None) -> bool:
        return self.can_act and self.sees_campaign(campaign)

    def sees_request(self, queue: str | None, campaign: str | None) -> bool:
        """A dialler contact is seen through its campaign (not the queue its agents come from)."""
        return self.sees_campaign(campaign) if campaign else self.sees_queue(queue)

    def may_act_on_queue(self, queue: str | None) -> bool:
        return self.can_act and self.sees_queue(queue)

    def may_act_on_agent(self, agent_id: str | None) -> bool:
        return self.can_act and self.sees_agent(agent_id)

    def number(self, number: str | None) -> str | None:
        return mask_number(number) if self.mask and number else number


DIAL_ID = re.compile(r"dial-(?P<campaign>.+)-\d+-\d+")  # the engine's ids: dial-<campaign>-<contact>-<seq>


def campaign_of_request(request_id: str | None) -> str | None:
    """The campaign a dialler contact's request id names (app/core/dialler.py mints them), else None."""
    found = DIAL_ID.fullmatch(request_id) if request_id else None
    return found["campaign"] if found else None


def is_dialler_request(request_id: str | None) -> bool:
    return bool(request_id) and str(request_id).startswith("dial-")


def campaign_of_event(request_id: str | None, data: Mapping[str, Any]) -> str | None:
    """The campaign a stored event is about: its `campaign` field, or its request's id."""
    named = data.get("campaign")
    if isinstance(named, str) and named:
        return named
    return campaign_of_request(request_id)


def scope_for(
    principal: Principal,
    queue_names: Iterable[str],
    agent_skills: Mapping[str, Iterable[str]],
    agent_groups: Mapping[str, Iterable[str]],
    masked_roles: Iterable[str] = (),
    campaign_names: Iterable[str] = (),
) -> Scope:
    queues = frozenset(queue_names)
    campaigns = frozenset(campaign_names)
    if principal.role is Role.ADMIN:
        agents = frozenset(agent_skills)
        return Scope(principal, queues, agents, frozenset(agent_groups), Role.ADMIN in set(masked_roles), campaigns)
    visible = queues if "*" in principal.queues else queues & principal.queues
    seen_campaigns = campaigns if "*" in principal.campaigns else campaigns & principal.campaigns
    groups = frozenset(g for g in principal.agent_groups if g in agent_groups)
    if principal.agent_groups:
        members = {a for g in groups for a in agent_groups[g]}
        agents = frozenset(a for a in agent_skills if a in members)
    else:
        agents = frozenset(a for a, skills in agent_skills.items() if visible & set(skills))
    return Scope(principal, visible, agents, groups, principal.role.value in set(masked_roles), seen_campaigns)


def scope_from_config(principal: Principal, config: HoldfastConfig) -> Scope:
    return scope_for(
        principal,
        config.queues,
        {a: list(agent.skills) for a, agent in config.agents.items()},
        config.agent_groups,
        config.web.mask_numbers,
        config.campaigns,
    )


_DIGIT = re.compile(r"\d")


def mask_number(number: str) -> str:
    """All digits but the last three hidden: "+4520123456" -> "+•••••••456"."""
    digits = len(_DIGIT.findall(number))
    hide = max(digits - 3, 0)
    out = []
    for ch in number:
        if ch.isdigit() and hide > 0:
            out.append("•")
            hide -= 1
        else:
            out.append(ch)
    return "".join(out)


# --- filters over plain rows (the live page, its websocket, the API's live view) -----------------


def filter_live(scope: Scope, live: Mapping[str, Any]) -> dict[str, Any]:
    """The live snapshot (see app/web/live.py for its rows) as `scope` may see it.

    Requests: only of visible queues (dialler contacts: of visible campaigns), numbers masked as
    the role says. Agents: only visible ones; their skills and groups cut to visible ones; their
    current request shown only if it is visible; calls handled counted over visible queues.
    Queues and campaigns: only visible ones."""
    requests = [
        _request_row(scope, r)
        for r in live.get("requests", ())
        if scope.sees_request(r.get("queue"), r.get("campaign"))
    ]
    agents = [_agent_row(scope, a) for a in live.get("agents", ()) if scope.sees_agent(a.get("id"))]
    queues = [dict(q) for q in live.get("queues", ()) if scope.sees_queue(q.get("name"))]
    campaigns = [_queue_cut(scope, c) for c in live.get("campaigns", ()) if scope.sees_campaign(c.get("name"))]
    return {"requests": requests, "agents": agents, "queues": queues, "campaigns": campaigns}


def _request_row(scope: Scope, row: Mapping[str, Any]) -> dict[str, Any]:
    out = _queue_cut(scope, row)
    out["number"] = scope.number(row.get("number"))
    return out


def _queue_cut(scope: Scope, row: Mapping[str, Any]) -> dict[str, Any]:
    """A campaign (or its contact) seen by someone who does not see the queue its agents come
    from: shown without that queue's name."""
    out = dict(row)
    if not scope.sees_queue(row.get("queue")):
        out["queue"] = None
    return out


def _agent_row(scope: Scope, row: Mapping[str, Any]) -> dict[str, Any]:
    hidden = ("request_queue", "request_campaign", "handled_by_queue", "handled_by_campaign", "queues", "groups")
    out = {k: v for k, v in row.items() if k not in hidden}
    current_visible = scope.sees_request(row.get("request_queue"), row.get("request_campaign"))
    out["request_id"] = row.get("request_id") if current_visible else None
    out["request_queue"] = (
        row.get("request_queue") if current_visible and scope.sees_queue(row.get("request_queue")) else None
    )
    out["on_other_queue"] = row.get("request_id") is not None and not current_visible
    out["queues"] = [q for q in row.get("queues", ()) if scope.sees_queue(q)]
    out["groups"] = [g for g in row.get("groups", ()) if g in scope.groups]
    handled = row.get("handled_by_queue") or {}
    dialled = row.get("handled_by_campaign") or {}
    out["handled_today"] = sum(n for q, n in handled.items() if scope.sees_queue(q)) + sum(
        n for c, n in dialled.items() if scope.sees_campaign(c)
    )
    return out


def changelog_entry_visible(scope: Scope, detail: Mapping[str, Any]) -> bool:
    """An admin log entry is shown if every queue and agent it names is visible; entries that
    name neither (a settings reload) only to admins."""
    if scope.is_admin:
        return True
    queues = [detail[k] for k in ("queue", "to_queue", "from_queue") if detail.get(k)]
    agents = [detail["agent_id"]] if detail.get("agent_id") else []
    campaigns = [detail["campaign"]] if detail.get("campaign") else []
    if not queues and not agents and not campaigns:
        return False
    return (
        all(scope.sees_queue(q) for q in queues)
        and all(scope.sees_agent(a) for a in agents)
        and all(scope.sees_campaign(c) for c in campaigns)
    )


def filter_changelog(scope: Scope, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(e) for e in entries if changelog_entry_visible(scope, e.get("detail") or {})]
