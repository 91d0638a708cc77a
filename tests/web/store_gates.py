"""A real store whose chosen method waits at a gate, runs something after it, or refuses as busy:
to put a second request (or a reload, or a failure) exactly between a route's store write and
what follows it. A test that closes a gate opens it again in a `finally`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.store import Store, StoreBusy


@dataclass
class Gate:
    reached: asyncio.Event = field(default_factory=asyncio.Event)  # the method is waiting at it
    open: asyncio.Event = field(default_factory=asyncio.Event)


def held(store: Store, name: str) -> Gate:
    """`store.<name>` waits at the returned gate (closed) before doing its work."""
    real, gate = getattr(store, name), Gate()

    async def waiting(*args: Any, **kwargs: Any) -> Any:
        gate.reached.set()
        await gate.open.wait()
        return await real(*args, **kwargs)

    setattr(store, name, waiting)  # the instance's attribute shadows the class's method
    return gate


def then(store: Store, name: str, after: Callable[[], None]) -> None:
    """`store.<name>` does its work, then `after()` runs (e.g. the service starts stopping)."""
    real = getattr(store, name)

    async def and_then(*args: Any, **kwargs: Any) -> Any:
        out = await real(*args, **kwargs)
        after()
        return out

    setattr(store, name, and_then)


def busy(store: Store, name: str) -> None:
    """`store.<name>` refuses as a database locked by someone else would, writing nothing."""

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise StoreBusy("database is locked (test)")

    setattr(store, name, refuse)


def restore(store: Store, name: str) -> None:
    """The class's own method again."""
    delattr(store, name)
