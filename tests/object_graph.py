"""How much an object graph holds, for tests of a service that runs for days: a number that grows
with anything kept per call and never let go."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from enum import Enum
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

import aiohttp
from prometheus_client.metrics import MetricWrapperBase

# Leaves: nothing inside them can hold a call. Functions are left out too (their closures are
# code, not state), and so are classes and modules (shared by every instance).
_LEAVES = (str, bytes, int, float, bool, type(None), Enum, type)
_LEAVES += (FunctionType, MethodType, BuiltinFunctionType, ModuleType)
_CONTAINERS = (dict, list, tuple, set, frozenset, deque)


def _reachable(root: object, skip: Iterable[object], skip_types: tuple[type, ...]) -> Iterator[Any]:
    """Every object reachable from `root` (leaves aside), once. `skip`: objects not to enter (a
    test's own recorders that the service was handed, which keep everything); `skip_types`: kinds
    of object not to enter (a library's own bounded state)."""
    seen: set[int] = {id(s) for s in skip}
    stack: list[Any] = [root]
    while stack:
        obj = stack.pop()
        if isinstance(obj, _LEAVES) or id(obj) in seen or isinstance(obj, skip_types):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, _CONTAINERS):
            stack.extend(obj)
        else:
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
            for cls in type(obj).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    if hasattr(obj, name):
                        stack.append(getattr(obj, name))


def held(
    root: object, skip: Iterable[object] = (), skip_types: tuple[type, ...] = (), apart: tuple[type, ...] = ()
) -> int:
    """Elements of every container reachable from `root`, each counted once. `apart`: kinds of
    container whose own entries are not counted here (see `tallied`), though what they hold is."""
    reachable = _reachable(root, skip, skip_types)
    return sum(len(obj) for obj in reachable if isinstance(obj, _CONTAINERS) and not isinstance(obj, apart))


def tallied(root: object, skip: Iterable[object] = (), skip_types: tuple[type, ...] = ()) -> int:
    """Entries of the tallies reachable from `root`: `collections.Counter`s and Prometheus metrics'
    label children. They are keyed by kind (an event type, a REST route, a queue, an agent) and a
    new key appears the first time its kind does, which may be late in a run; what they must not
    be is keyed by call."""
    total = 0
    for obj in _reachable(root, skip, skip_types):
        if isinstance(obj, Counter):
            total += len(obj)
        elif isinstance(obj, MetricWrapperBase):
            total += len(getattr(obj, "_metrics", None) or {})
    return total


def service_footprint(service: Any, *test_objects: object) -> tuple[int, int]:
    """(held, tallied) for a TelephonyService, leaving out what the test handed it (`test_objects`,
    e.g. its activity log), the dispatcher's memory of recent events (kept to drop Asterisk's
    duplicates: bounded, and full only after some 1,000 events), the event loop's queues and
    aiohttp's connection pools (which step up and down with the moment of counting). Tallies are
    counted apart: a kind seen first in a late round adds a key there."""
    skip: list[object] = list(test_objects)
    dispatcher = service.ari.dispatcher
    if dispatcher is not None:
        skip.append(dispatcher.duplicates._recent)
    libraries = (asyncio.AbstractEventLoop, aiohttp.BaseConnector)
    return (
        held(service, skip, (*libraries, MetricWrapperBase), apart=(Counter,)),
        tallied(service, skip, libraries),
    )
