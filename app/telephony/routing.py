"""Which Asterisk server places an originated leg, and what it dials.

Rules (several servers; with one every answer is that server):
- A request's legs live on one server, so they can be bridged there: a leg for a request that
  has a live leg already (the caller on hold, the agent of a callback) is placed on that leg's
  server, the "anchor".
- An agent reached from another server than their own is dialled through the SIP trunk to their
  server (`asterisk.peer_endpoint_format`: "PJSIP/1002@holdfast-peer-b"); on their own server,
  directly.
- A leg without an anchor (a callback's agent, rung first; a dialler's contact) is placed where
  the agent is, if that server is up; else, and for customers, round robin over the servers that
  are up. With none up, the first server is asked anyway: the originate fails and that failure
  is reported as today.
"""

from __future__ import annotations

from collections.abc import Callable

from app.telephony.legs import LegRegistry
from app.telephony.servers import ServerSet


class Router:
    def __init__(
        self,
        servers: ServerSet,
        legs: LegRegistry,
        *,
        agent_endpoint: Callable[[str], str],
        customer_endpoint: Callable[[str], str],
        peer_endpoint: Callable[[str, str], str],
    ) -> None:
        self.servers = servers
        self.legs = legs
        self.agent_endpoint = agent_endpoint
        self.customer_endpoint = customer_endpoint
        self.peer_endpoint = peer_endpoint

    def anchor(self, request_id: str) -> str | None:
        """The server of a live leg of this request, if it has one."""
        for leg in self.legs.live():
            if leg.request_id == request_id and leg.role in ("inbound", "agent", "customer"):
                return self.servers.get(leg.server).name
        return None

    def agent_leg(self, agent_id: str, request_id: str) -> tuple[str, str]:
        """(server, endpoint) for ringing `agent_id` for `request_id`."""
        home = self.servers.server_of_agent(agent_id)
        server = self.anchor(request_id)
        if server is None:
            server = home if home is not None and self.servers.get(home).up else self._any_up()
        if home is None or home == server or not self.servers.several:
            return server, self.agent_endpoint(agent_id)
        return server, self.peer_endpoint(agent_id, home)

    def customer_leg(self, number: str, request_id: str) -> tuple[str, str]:
        """(server, endpoint) for dialling a customer's `number` for `request_id`."""
        server = self.anchor(request_id) or self._any_up()
        return server, self.customer_endpoint(number)

    def _any_up(self) -> str:
        chosen = self.servers.next_up()
        return (chosen or self.servers.first).name
