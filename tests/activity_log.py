"""The activities a service records, for tests: find them, or wait for one (never a sleep)."""

from __future__ import annotations

import asyncio
import contextlib

from app.core.commands import Activity

REQUEST_FIELDS = ("request_id", "agent_id", "queue")


class ActivityLog:
    """Append it to `service.activity_listeners`; match on the ids above or on `data` keys."""

    def __init__(self, default_timeout: float = 15.0) -> None:
        self.items: list[Activity] = []
        self.default_timeout = default_timeout
        self._changed = asyncio.Event()

    def __call__(self, activity: Activity) -> None:
        self.items.append(activity)
        self._changed.set()

    def find(self, kind: str, **match: object) -> list[Activity]:
        def fits(a: Activity) -> bool:
            for key, value in match.items():
                have = getattr(a, key) if key in REQUEST_FIELDS else a.data.get(key)
                if have != value:
                    return False
            return True

        return [a for a in self.items if a.kind == kind and fits(a)]

    async def wait(self, kind: str, timeout: float | None = None, count: int = 1, **match: object) -> Activity:
        timeout = self.default_timeout if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = self.find(kind, **match)
            if len(found) >= count:
                return found[count - 1]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = [(a.kind, a.data) for a in self.items][-30:]
                raise AssertionError(f"no {kind} activity {match} within {timeout}s; saw {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
