"""Free loopback ports for Asterisk instances (tests pick them so parallel runs do not collide)."""

from __future__ import annotations

import random
import socket


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


def free_port_range(
    count: int = 200,
    host: str = "0.0.0.0",
    low: int = 20000,
    high: int = 60000,
    tries: int = 50,
    prefer: int | None = None,
) -> tuple[int, int]:
    """An even-aligned range of `count` UDP ports (e.g. for RTP), all free right now.

    RTP binds to all addresses, hence the default `host`. The range starting at `prefer` when it is
    free (a predictable default), else one chosen at random so that concurrent test sessions rarely
    even try the same range.
    """
    if count < 2 or count % 2:
        raise ValueError(f"count must be an even number >= 2, not {count}")
    if prefer is not None and all(_udp_free(p, host) for p in range(prefer & ~1, (prefer & ~1) + count)):
        return prefer & ~1, (prefer & ~1) + count - 1
    rng = random.Random()
    for _ in range(tries):
        start = rng.randrange(low, high - count) & ~1
        if all(_udp_free(p, host) for p in range(start, start + count)):
            return start, start + count - 1
    raise RuntimeError(f"no free range of {count} UDP ports between {low} and {high}")
