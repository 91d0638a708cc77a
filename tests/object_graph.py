"""How much an object graph holds, for tests of a service that runs for days: a number that grows
with anything kept per call and never let go."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import Enum
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

# Leaves: nothing inside them can hold a call. Functions are left out too (their closures are
# code, not state), and so are classes and modules (shared by every instance).
_LEAVES = (str, bytes, int, float, bool, type(None), Enum, type)
_LEAVES += (FunctionType, MethodType, BuiltinFunctionType, ModuleType)


def held(root: object, skip: Iterable[object] = (), skip_types: tuple[type, ...] = ()) -> int:
    """Elements of every container reachable from `root`, each object counted once. `skip`: objects
    not to enter (a test's own recorders that the service was handed, which keep everything);
    `skip_types`: kinds of object not to enter (a library's own bounded state)."""
    seen: set[int] = {id(s) for s in skip}
    stack: list[Any] = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if isinstance(obj, _LEAVES) or id(obj) in seen or isinstance(obj, skip_types):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            total += len(obj)
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset, deque)):
            total += len(obj)
            stack.extend(obj)
        else:
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
            for cls in type(obj).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    if hasattr(obj, name):
                        stack.append(getattr(obj, name))
    return total
