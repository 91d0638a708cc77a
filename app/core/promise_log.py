"""How many callbacks each number was promised in the last 24 hours: the daily cap's memory.

A callback request names a number, and a web form or an API client can name anyone's. The
duplicate check stops two callbacks to one number waiting at once, but not a new one as soon as
the last has ended: repeated, that rings a stranger all day. `callback.max_per_number_per_day`
caps the callbacks (and tickets) promised to one number over any 24 hours, counted across queues.

A second callback asked for a number that already has one waiting in the queue is merged into it
(callback.allow_duplicate_numbers off): the customer gets one callback, so one is counted, from the
latest ask: the merged one's promise is withdrawn and the one kept is noted.

The log holds promise times in order (the engine's clock never goes back), so forgetting the old
ones is popping from the left: memory stays bounded by one day's promises. After a restart the
shell feeds back the stored promises of the last day (`Engine.restore_promises`); the store leaves
out the callbacks that ended merged into another (`recent_promises`), so the count is the same.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable

DAY = 24 * 3600.0


class PromiseLog:
    def __init__(self, window: float = DAY) -> None:
        self.window = window
        self._times: deque[tuple[float, str]] = deque()  # (promised at, number), oldest first
        self._counts: Counter[str] = Counter()

    def note(self, number: str, at: float) -> None:
        """A callback or ticket was promised to `number` (E.164) at `at`."""
        if self._times and at < self._times[-1][0]:
            at = self._times[-1][0]  # kept in order; a stored stamp ahead of ours counts from there
        self._forget_until(at)  # here too: with no queue capped, count() is never asked
        self._times.append((at, number))
        self._counts[number] += 1

    def withdraw(self, number: str, at: float, now: float) -> None:
        """The promise to `number` made at `at` no longer counts: it was merged into a later one
        (callers.py _merge_waiting_callbacks), which is counted instead. A stored stamp may have
        been noted later than it was made (note), never earlier: the first at or after `at` goes."""
        self._forget_until(now)
        if at + self.window <= now:
            return  # a day old: gone already (another promise to the number must not go in its stead)
        for i, (when, n) in enumerate(self._times):
            if n == number and when >= at:
                del self._times[i]
                self._counts[number] -= 1
                if not self._counts[number]:
                    del self._counts[number]
                return

    def restore(self, promises: Iterable[tuple[str, float]], now: float) -> None:
        """Stored promises (number, at) from before a restart, in any order, merged with any
        already noted."""
        kept = sorted([*self._times, *((at, number) for number, at in promises if at + self.window > now)])
        self._times = deque(kept)
        self._counts = Counter(number for _, number in kept)

    def count(self, number: str, now: float) -> int:
        self._forget_until(now)
        return self._counts.get(number, 0)

    def free_again_at(self, number: str, now: float, limit: int) -> float:
        """When `number` may be promised again under `limit` a day: `now` if it may already."""
        if self.count(number, now) < limit:
            return now
        times = [at for at, n in self._times if n == number]
        return times[len(times) - limit] + self.window  # the promise whose expiry makes room

    def __len__(self) -> int:
        return len(self._times)

    def _forget_until(self, now: float) -> None:
        # at + window, not now - window: free_again_at's instant is then exactly when it is gone
        while self._times and self._times[0][0] + self.window <= now:
            _, number = self._times.popleft()
            self._counts[number] -= 1
            if not self._counts[number]:
                del self._counts[number]
