"""How a PostgreSQL connection notices a peer gone silent (a dead link: no reset, packets vanish).

Both ends' TCP gives up after about the store's `network_timeout`: keepalive probes on a quiet
connection, TCP_USER_TIMEOUT on sent data left unacknowledged. Ours through the socket options of
every connection asyncpg makes (`kept_alive_connection`); the server's through the session's
tcp_keepalives_* and tcp_user_timeout (`session_settings`), so it ends a dead client's session,
and its locks, even while "active" (sending a large result, waiting for the rest of a message).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]


@dataclass(frozen=True)
class Keepalive:
    """When TCP gives up on a silent peer: probes on a quiet connection, and a limit on sent data
    left unacknowledged (TCP_USER_TIMEOUT; also ends the probing once passed)."""

    idle: int  # s of quiet before the first probe
    interval: int  # s between probes
    count: int  # probes unanswered: the peer is gone
    user_timeout_ms: int


def keepalive_for(network_timeout: float) -> Keepalive:
    """Gives up about `network_timeout` s (whole seconds, at least 1 each) after the peer went silent."""
    count = 3
    idle = max(1, round(network_timeout / 2))
    interval = max(1, round((network_timeout - idle) / count))
    return Keepalive(idle, interval, count, max(1, round(network_timeout * 1000)))


def session_settings(schema: str, busy_timeout: float, idle_in_transaction_timeout: float, keepalive: Keepalive) -> str:
    """Every session's settings, one string: one round trip on every acquire. The tcp_* are the
    server's side of `keepalive` (ignored on a Unix socket)."""
    return "; ".join(
        (
            f"SET search_path TO {schema}",
            f"SET lock_timeout = {int(busy_timeout * 1000)}",
            f"SET idle_in_transaction_session_timeout = {int(idle_in_transaction_timeout * 1000)}",
            f"SET tcp_keepalives_idle = {keepalive.idle}",
            f"SET tcp_keepalives_interval = {keepalive.interval}",
            f"SET tcp_keepalives_count = {keepalive.count}",
            f"SET tcp_user_timeout = {keepalive.user_timeout_ms}",
        )
    )


def _keep_alive(sock: socket.socket | None, keepalive: Keepalive) -> None:
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):  # a Unix socket has no network to drop
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", keepalive.idle),
        ("TCP_KEEPINTVL", keepalive.interval),
        ("TCP_KEEPCNT", keepalive.count),
        ("TCP_USER_TIMEOUT", keepalive.user_timeout_ms),
    ):
        if hasattr(socket, option):  # all on Linux; a developer's macOS lacks some
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


@functools.cache
def kept_alive_connection(keepalive: Keepalive) -> type[asyncpg.Connection]:
    """asyncpg's connection, its socket set to `keepalive` (asyncpg has no option for it; its
    connection_class is handed the transport once the connection is made)."""

    class KeptAliveConnection(asyncpg.Connection):  # type: ignore[misc]
        def __init__(self, protocol: Any, transport: asyncio.Transport, *args: Any) -> None:
            super().__init__(protocol, transport, *args)
            _keep_alive(transport.get_extra_info("socket"), keepalive)

    return KeptAliveConnection


def gave_up(error: BaseException) -> OSError | None:
    """TCP's giving up on a silent peer (keepalive or TCP_USER_TIMEOUT), when behind `error`."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno == errno.ETIMEDOUT:
            return cause
        cause = cause.__cause__ or cause.__context__
    return None
