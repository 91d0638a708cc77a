"""The engine's deadlines: a heap of (time, kind, subject) with lazy cancellation.

A timer is current only while its owner still records the same deadline for that kind; stale
entries are skipped when they come up, which keeps cancelling O(1).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        self._due: dict[tuple[str, str], float] = {}
        self._seq = 0

    def set(self, kind: str, subject: str, at: float) -> None:
        self._due[(kind, subject)] = at
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, subject))

    def cancel(self, kind: str, subject: str) -> None:
        self._due.pop((kind, subject), None)

    def cancel_all(self, subject: str, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            self._due.pop((kind, subject), None)

    def get(self, kind: str, subject: str) -> float | None:
        return self._due.get((kind, subject))

    def _drop_stale(self) -> None:
        while self._heap:
            at, _, kind, subject = self._heap[0]
            if self._due.get((kind, subject)) == at:
                return
            heapq.heappop(self._heap)

    def next_deadline(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, handle: Callable[[str, str, float], None]) -> int:
        """Run `handle(kind, subject, at)` for every current timer due at or before `now`, in order;
        returns how many ran."""
        ran = 0
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return ran
            at, _, kind, subject = heapq.heappop(self._heap)
            del self._due[(kind, subject)]
            handle(kind, subject, at)
            ran += 1
