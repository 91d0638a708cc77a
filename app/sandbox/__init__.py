"""Run real Asterisk instances for development and end-to-end tests.

- `templates`: renders the `${NAME}`-style configuration templates in asterisk-conf/.
- `pjsip_agents`: generates pjsip_agents.conf (agent endpoints) from the service's agents.
- `pjsip_peers`: generates pjsip_peers.conf (the SIP trunk between several Asterisk servers).
- `customer`: the `make run` sandbox's customer softphone account (pjsip_sandbox.conf), which places
  callers' calls and receives every callback.
- `asterisk`: finds an Asterisk (system or the sandbox built by scripts/asterisk-sandbox.sh) and
  starts/stops instances of it, each in its own directory with its own ports.
- `ports`: free loopback ports for instances.
"""

from app.sandbox.asterisk import (
    AsteriskError,
    AsteriskInstall,
    AsteriskInstance,
    AsteriskNotFound,
    find_asterisk,
)
from app.sandbox.customer import CustomerAccount, render_customer_endpoint
from app.sandbox.pjsip_agents import AgentEndpoint, render_agent_endpoints
from app.sandbox.pjsip_peers import PeerServer, render_peer_endpoints
from app.sandbox.ports import free_port_range, free_tcp_port, free_udp_port
from app.sandbox.templates import TemplateError, declared_variables, render_template, render_tree

__all__ = [
    "AgentEndpoint",
    "AsteriskError",
    "AsteriskInstall",
    "AsteriskInstance",
    "AsteriskNotFound",
    "CustomerAccount",
    "PeerServer",
    "TemplateError",
    "declared_variables",
    "find_asterisk",
    "free_port_range",
    "free_tcp_port",
    "free_udp_port",
    "render_agent_endpoints",
    "render_customer_endpoint",
    "render_peer_endpoints",
    "render_template",
    "render_tree",
]
