"""The Asterisk servers the service drives: one ARI client each, and whether each is usable now.

Theory of operation: every leg remembers the server its channel lives on (`Leg.server`); a
command about a leg goes to that server's client (`client`). A server is `up` from the end of
its resync (its picture reconciled) until its connection drops. With one server every name
resolves to it, so code that predates several servers (legs with no server) keeps working.

Which agents register on which server (`Server.agents`, `listed`) follows the settings file at
every reload (`rehome`); the connections (ARI URLs, credentials, the set of servers) are made once
and change only with a restart. An agent moved to another server keeps the legs they have: a leg
belongs to the server its channel lives on, not to its agent's home.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from app.ari import AriClient, AriError, AriNotFound
from app.ari.config import AriConfig
from app.ari.recordings import StoredRecording
from app.config.servers import AsteriskServer


@dataclass(eq=False)
class Server:
    name: str
    ari: AriClient
    agents: frozenset[str] | None  # the agents registered here; None: every agent not listed elsewhere
    listed: frozenset[str] = frozenset()
    up: bool = False  # connected and reconciled
    started: object = None  # Asterisk's start time at the last resync (a change: it restarted)
    connected_before: bool = False
    system_name: str | None = None  # asterisk.conf's systemname, read at each resync
    lost_channels: set[str] = field(default_factory=set)


class ServerSet:
    def __init__(self, servers: list[Server]) -> None:
        if not servers:
            raise ValueError("at least one Asterisk server")
        self.servers = servers
        self.by_name = {s.name: s for s in servers}
        self._turn = itertools.count()

    @classmethod
    def single(cls, ari: AriClient, name: str = "main") -> ServerSet:
        return cls([Server(name, ari, None)])

    @classmethod
    def from_config(cls, servers: list[AsteriskServer], app: str) -> ServerSet:
        return cls(
            [
                Server(
                    s.name,
                    AriClient(AriConfig(s.ari_url, s.ari_user, s.ari_password, app=app)),
                    s.agents,
                    s.listed,
                )
                for s in servers
            ]
        )

    def rehome(self, servers: list[AsteriskServer]) -> bool:
        """Take which agents register on each server (and the default server) from `servers`, the
        reloaded settings' `asterisk.server_list()`. Only when it names the same servers as the
        running ones: False (nothing changed) when a server was added, removed or renamed, which
        only a restart can apply."""
        if sorted(s.name for s in servers) != sorted(self.by_name):
            return False
        for new in servers:
            server = self.by_name[new.name]
            server.agents, server.listed = new.agents, new.listed
        return True

    @property
    def several(self) -> bool:
        return len(self.servers) > 1

    @property
    def first(self) -> Server:
        return self.servers[0]

    def get(self, name: str) -> Server:
        """The named server; with one server, any name (also "" of a leg made without one)."""
        server = self.by_name.get(name)
        if server is None:
            if self.several:
                raise KeyError(f"no Asterisk server named {name!r}")  # a bug: fail loudly
            return self.first
        return server

    def client(self, name: str) -> AriClient:
        return self.get(name).ari

    def server_of_agent(self, agent_id: str) -> str | None:
        """Where the agent's phone registers: the server listing it, else the default one."""
        fallback = None
        for server in self.servers:
            if agent_id in server.listed:
                return server.name
            if server.agents is None:
                fallback = server.name
        return fallback

    def agents_on(self, name: str, agent_ids: list[str]) -> list[str]:
        return [a for a in agent_ids if self.server_of_agent(a) == name]

    def system_name_problem(self, server: Server) -> str | None:
        """Several servers hand out channel ids that must not collide (a caller's request id is
        their channel's): each needs its own `systemname`, which prefixes its unique ids."""
        if not self.several:
            return None
        if not server.system_name:
            return (
                f"Asterisk server {server.name} has no systemname: set a distinct `systemname` in the [options] "
                "of each server's asterisk.conf (their channel ids could collide)"
            )
        for other in self.servers:
            if other is not server and other.system_name == server.system_name:
                return (
                    f"Asterisk servers {other.name} and {server.name} share the systemname {server.system_name!r}: "
                    "give each its own in asterisk.conf (their channel ids could collide)"
                )
        return None

    def up(self) -> list[Server]:
        return [s for s in self.servers if s.up]

    def next_up(self) -> Server | None:
        """Round robin over the servers that are up (None: none is)."""
        up = self.up()
        if not up:
            return None
        return up[next(self._turn) % len(up)]


class AllServersRecordings:
    """Stored recordings when there are several servers: a call's recording is in the spool of
    the server that bridged it, and the store knows its name only, so each server is asked.
    Gone (AriNotFound) only when no server has it; a server that cannot answer is an error, not
    "gone" (the file may be there)."""

    def __init__(self, servers: ServerSet) -> None:
        self.servers = servers

    async def stored(self, name: str) -> StoredRecording:
        return (await self._find(name))[1]

    async def list_stored(self) -> list[StoredRecording]:
        """Every server's recordings (a server that cannot answer is an error: its list is unknown)."""
        return [r for server in self.servers.servers for r in await server.ari.recordings.list_stored()]

    async def delete_stored(self, name: str) -> None:
        server, _ = await self._find(name)
        await server.ari.recordings.delete_stored(name)

    async def stored_file(self, name: str) -> AsyncIterator[bytes]:
        server, _ = await self._find(name)
        async for chunk in server.ari.recordings.stored_file(name):
            yield chunk

    async def _find(self, name: str) -> tuple[Server, StoredRecording]:
        failure: AriError | None = None
        missing: AriNotFound | None = None
        for server in self.servers.servers:
            try:
                return server, await server.ari.recordings.stored(name)
            except AriNotFound as error:
                missing = error
            except AriError as error:
                failure = error
        if failure is not None:
            raise failure
        assert missing is not None  # at least one server
        raise missing
