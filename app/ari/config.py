"""Connection settings for one ARI application (one Asterisk, one Stasis app name)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit


def without_userinfo(url: str) -> str:
    """`url` without a `user:password@`: credentials go in a header (see AriConfig.rest_url)."""
    parts = urlsplit(url)
    _, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True, slots=True)
class AriConfig:
    base_url: str  # e.g. http://127.0.0.1:8088/ari
    username: str
    password: str = field(repr=False)  # kept out of logs
    app: str  # the Stasis application name
    request_timeout: float = 10.0  # from the request sent to its answer (a wait for a connection not counted)
    connect_timeout: float = 5.0
    # REST requests on the wire at once; more wait for a connection. Asterisk's HTTP server takes
    # 100 sessions by default (http.conf sessionlimit), one of them our websocket.
    connections: int = 50
    # Asterisk does not ping us; without our own pings a half-open TCP connection (Asterisk host
    # gone, NAT timeout) would look like a quiet websocket forever.
    heartbeat: float = 20.0
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    # subscribeAll=true would send every channel's events in the system, not just ours.
    subscribe_all: bool = False
    # After ApplicationReplaced, reconnecting would steal the app back and start a tug of war
    # with the other instance; by default we stop and let the owner decide.
    reconnect_after_replaced: bool = False

    @property
    def auth_header(self) -> str:
        # Built by hand: aiohttp 3.12+ deprecates both `auth=` and BasicAuth.
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"

    @property
    def rest_url(self) -> str:
        """`base_url` without a trailing slash, and without a `user:password@` written into it:
        requests authenticate with `username` and `password` in a header (aiohttp refuses a
        request that has both), and the URL is logged (a password must not be)."""
        return without_userinfo(self.base_url).rstrip("/")

    @property
    def events_url(self) -> str:
        parts = urlsplit(self.rest_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path + "/events", "", ""))
