"""The Host header must name this service: the guard against DNS rebinding.

Theory of operation: a page on attacker.example whose name the attacker re-points at 127.0.0.1
talks to the service from an operator's browser as a same-origin page (Host and Origin both say
attacker.example), so neither CORS nor the Origin check in app/web/auth.py stops it. Only the Host
header tells: a browser sends the name it resolved. `known_host` refuses (421) every request,
websocket included, whose Host is none of:
- a loopback name or address (localhost, 127.0.0.0/8, ::1);
- an IP address: a browser that sends one dialled that address itself, no name was resolved, so
  there is nothing to re-point (this also keeps health probes and scrapers by address working);
- `service.http_host` as the service started with it;
- a name of `web.allowed_hosts` (the public name behind a reverse proxy, which passes Host on).
It applies to an open service (no admin token, no users: every request acts as its admin). With
users or tokens a rebound page gains nothing (session cookies are SameSite=Strict and bound to the
service's own name, tokens are headers the page does not have), and a check there would turn away
every name an admin reaches the service by (a proxy's, a scraper's) until it was listed.
A request without Host (not a browser: HTTP/1.1 browsers always send it) is let through.
"""

from __future__ import annotations

import ipaddress

import structlog
from aiohttp import web

from app.web.auth import is_open
from app.web.context import SERVICE_KEY, STARTED_CONFIG_KEY
from app.web.errors import ApiError, Handler

log = structlog.get_logger("holdfast.web.hosts")


def host_name(host: str) -> str | None:
    """The name or address of a Host header, without port, brackets or a final dot, lower case;
    None when it is not one."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
    else:
        name, colon, _port = host.rpartition(":")
        if not colon:
            name = host
        elif ":" in name:  # a bare IPv6 address is not a valid Host
            return None
    name = name.removesuffix(".")
    return name or None


def is_own_host(name: str, started_host: str, allowed: tuple[str, ...]) -> bool:
    """Whether `name` (from host_name) is a name of this service (module comment)."""
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
        return True  # loopback or not: an address cannot be re-pointed
    except ValueError:
        pass
    return name == started_host.strip().strip("[]").lower().removesuffix(".") or name in allowed


@web.middleware
async def known_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    host = request.headers.get("Host")
    config = request.app[SERVICE_KEY].config  # read each time: a reload applies
    if host is None or not is_open(config):
        return await handler(request)
    allowed = config.web.allowed_hosts
    name = host_name(host)
    if name is None or not is_own_host(name, request.app[STARTED_CONFIG_KEY].service.http_host, allowed):
        log.warning("unknown_host_refused", host=host[:100], path=request.path)
        raise ApiError(
            421,
            f"this service does not answer to the name {host[:100]!r}; if it is the service's own name "
            "(e.g. behind a reverse proxy), add it to web.allowed_hosts in the settings",
        )
    return await handler(request)


__all__ = ["host_name", "is_own_host", "known_host"]
