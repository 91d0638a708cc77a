"""Free loopback ports for Asterisk instances (tests pick them so parallel runs do not collide)."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _free_port(kind: int, host: str) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host`."""
    return _free_port(socket.SOCK_STREAM, host)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that is free right now on `host`."""
    return _free_port(socket.SOCK_DGRAM, host)


def _udp_free(port: int, host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, port))
        return True
    except OSError:
        return False


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for sockets bound to port 0 (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_range(
    count: int = 200,
    host: str = "0.0.0.0",
    low: int = 10000,
    high: int | None = None,
    tries: int = 50,
    prefer: int | None = None,
) -> tuple[int, int]:
    """An even-aligned range of `count` UDP ports (e.g. for RTP), all free right now.

    RTP binds to all addresses, hence the default `host`. The range starting at `prefer` when it is
    free (a predictable default), else one chosen at random so that concurrent test sessions rarely
    even try the same range.

    By default the range ends below the kernel's ephemeral ports. Asterisk checks only the even RTP
    port when it picks one; if the odd port above it (RTCP) is taken, by a SIP port from
    `free_udp_port` or any socket bound to port 0, the call silently has no RTCP and no RTP
    statistics at all (ARI answers 404 "Statistics not found" for its whole life).
    """
    if count < 2 or count % 2:
        raise ValueError(f"count must be an even number >= 2, not {count}")
    if high is None:
        high = ephemeral_port_range()[0]
    if prefer is not None and all(_udp_free(p, host) for p in range(prefer & ~1, (prefer & ~1) + count)):
        return prefer & ~1, (prefer & ~1) + count - 1
    rng = random.Random()
    for _ in range(tries):
        start = rng.randrange(low, high - count) & ~1
        if all(_udp_free(p, host) for p in range(start, start + count)):
            return start, start + count - 1
    raise RuntimeError(f"no free range of {count} UDP ports between {low} and {high}")
