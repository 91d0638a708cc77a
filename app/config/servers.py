"""Several Asterisk servers: which ones, and which agents are registered on each.

Theory of operation: `asterisk:` either is one server (its `ari_url`, the form every file had
before) or lists `servers:`, each with its name, ARI URL (credentials default to the section's)
and the agents whose phones register there. Callers may arrive on any server (inbound numbers
are not tied to one). An agent is on exactly one server: the one that lists it, else
`default_server`. `server_list()` gives the resolved list the shell connects to; the single form
is a list of one server named "main" that holds every agent.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config.schema import AsteriskConfig

SINGLE_SERVER = "main"  # the name of the one server of the single `asterisk:` form


@dataclass(frozen=True, slots=True)
class AsteriskServer:
    name: str
    ari_url: str
    ari_user: str
    ari_password: str = field(repr=False)
    sip_host: str
    sip_port: int
    agents: frozenset[str] | None  # None: every agent (the single form, or the default server's "the rest")
    listed: frozenset[str] = frozenset()  # the agents this server lists itself


def server_list(config: AsteriskConfig) -> list[AsteriskServer]:
    if not config.servers:
        return [
            AsteriskServer(
                SINGLE_SERVER,
                config.ari_url,
                config.ari_user.get_secret_value(),
                config.ari_password.get_secret_value(),
                config.sip_host,
                config.sip_port,
                None,
            )
        ]
    out = []
    for server in config.servers:
        user = server.ari_user or config.ari_user
        password = server.ari_password or config.ari_password
        listed = frozenset(server.agents)
        out.append(
            AsteriskServer(
                server.name,
                server.ari_url,
                user.get_secret_value(),
                password.get_secret_value(),
                server.sip_host,
                server.sip_port,
                None if server.name == config.default_server else listed,
                listed,
            )
        )
    return out


def server_of_agent(servers: list[AsteriskServer], agent_id: str) -> str | None:
    """The server an agent's phone registers on: the one listing it, else the default one."""
    fallback = None
    for server in servers:
        if agent_id in server.listed:
            return server.name
        if server.agents is None:
            fallback = server.name
    return fallback


def applied_by_reload(running: AsteriskConfig, new: AsteriskConfig) -> set[str]:
    """The `asterisk` key paths a reload from `running` to `new` applies at once, though the
    section's connections wait for a restart: which agents register where (the servers' agent
    lists and `default_server`), as long as `new` names the same servers (app/telephony/servers.py
    ServerSet.rehome)."""
    if sorted(s.name for s in running.servers) != sorted(s.name for s in new.servers):
        return set()
    applied = {"asterisk.default_server"}
    by_name = {s.name: s for s in new.servers}
    if all(s.model_copy(update={"agents": by_name[s.name].agents}) == by_name[s.name] for s in running.servers):
        applied.add("asterisk.servers")
    return applied


def servers_problem(config: AsteriskConfig) -> str | None:
    """What is wrong within `asterisk:` about servers, as one sentence (None: nothing)."""
    if not config.servers:
        if config.default_server is not None:
            return "default_server is set but asterisk.servers lists no server"
        return None
    problems = []
    given = sorted(k for k in ("ari_url", "sip_host", "sip_port") if k in config.model_fields_set)
    if given:
        problems.append(
            f"{', '.join('asterisk.' + k for k in given)} cannot be given along with asterisk.servers; "
            "give them per server"
        )
    names = [s.name for s in config.servers]
    for name, count in Counter(names).items():
        if count > 1:
            problems.append(f'lists {count} servers named "{name}"; give each server its own name')
    on: dict[str, list[str]] = {}
    for server in config.servers:
        for agent in dict.fromkeys(server.agents):
            on.setdefault(agent, []).append(server.name)
    for agent, where in on.items():
        if len(where) > 1:
            problems.append(
                f'lists agent "{agent}" on servers {" and ".join(where)}; an agent\'s phone registers on one server'
            )
    if config.default_server is not None and config.default_server not in names:
        close = difflib.get_close_matches(config.default_server, names, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(
            f'default_server names unknown server "{config.default_server}"; known servers: {", ".join(names)}{hint}'
        )
    return "; ".join(problems) or None


def servers_cross_check(data: dict[Any, Any]) -> list[tuple[str, str]]:
    """Agents named under servers must exist; with several servers every agent needs one."""
    asterisk = data.get("asterisk")
    if not isinstance(asterisk, dict):
        return []
    servers = asterisk.get("servers")
    if not isinstance(servers, list) or not servers:
        return []
    agents = data.get("agents")
    known = [str(a) for a in agents] if isinstance(agents, dict) else []
    found: list[tuple[str, str]] = []
    listed: set[str] = set()
    for i, server in enumerate(servers):
        names = server.get("agents") if isinstance(server, dict) else None
        if not isinstance(names, list):
            continue
        label = server.get("name", i) if isinstance(server, dict) else i
        for agent in names:
            listed.add(str(agent))
            if str(agent) not in known:
                found.append(
                    (
                        "asterisk",
                        f'asterisk.servers.{label}.agents names unknown agent "{agent}"; '
                        f"known agents: {', '.join(known) or '(none)'}",
                    )
                )
    if asterisk.get("default_server") is None:
        for agent in known:
            if agent not in listed:
                found.append(
                    (
                        "agents",
                        f"agents.{agent} is registered on no Asterisk server; list it under the agents of one "
                        "of asterisk.servers, or set asterisk.default_server",
                    )
                )
    return found
