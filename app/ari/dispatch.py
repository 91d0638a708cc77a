"""Ordered, isolated delivery of events to the service's handler.

Events with the same `ordering_key` (one channel, one bridge, one endpoint...) go through one
"lane" and are handled strictly one after another, in arrival order: a DTMF digit must not be
handled before the StasisStart of its channel. Different lanes run concurrently, so a slow REST
call made while handling one caller never delays every other caller.

A lane is a deque plus one worker task that exits when the deque is empty, so idle channels cost
nothing and 10k channels over a day do not leave 10k tasks behind. A handler exception is logged
with the event's ids and the lane carries on: one bad event must not stall a caller, and never the
websocket reader.

Asterisk sends some events twice: an app subscribed to a channel and to that channel's endpoint
gets every event of the channel through both subscriptions, the same message twice within a few
milliseconds (the service subscribed to agents' endpoints until issue 13; it reads them now, but
an operator's subscription or a future one must not double a key press). Handled twice, one
key press of an agent calling a queue was two key presses. So an event that is an exact copy of
one submitted just before (same type, object, timestamp and payload) is dropped here, for every
event type and whichever subscriptions overlap. Two real events never match: ARI timestamps have
millisecond resolution and no two real events of one object carry the same payload in the same
millisecond.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable

import structlog

from app.ari.events import AriEvent
from app.ari.models import JsonDict

log = structlog.get_logger(__name__)

EventHandler = Callable[[AriEvent], Awaitable[None]]

# How many recent events are remembered to recognise a copy. Copies arrive back to back (the same
# message fanned out by Asterisk), so a short memory is enough even under a burst of events.
RECENT_EVENTS = 1024


class DuplicateFilter:
    """Recognises an event that is an exact copy of a recent one.

    Events are looked up by (object, type, timestamp) and compared with the few remembered under
    that key by plain dict equality: a copy is equal, a different event of the same millisecond
    is not. (Serialising every event to hash it cost more CPU than all the rest of dispatching.)"""

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self.size = size
        self._recent: OrderedDict[tuple[str, str, object], list[JsonDict]] = OrderedDict()
        self.dropped = 0
        self.dropped_by_type: Counter[str] = Counter()

    def is_copy(self, event: AriEvent) -> bool:
        if event.timestamp is None or not event.raw:
            return False  # nothing to tell a copy from a new event by
        key = (event.ordering_key, event.type, event.raw.get("timestamp"))
        seen = self._recent.get(key)
        if seen is None:
            self._recent[key] = [event.raw]
            if len(self._recent) > self.size:
                self._recent.popitem(last=False)
            return False
        if any(raw == event.raw for raw in seen):
            self.dropped += 1
            self.dropped_by_type[event.type] += 1
            return True
        seen.append(event.raw)  # another event of the same object, type and millisecond
        return False


class Dispatcher:
    def __init__(self, handler: EventHandler) -> None:
        self._handler = handler
        self._lanes: dict[str, deque[AriEvent]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.delivered = 0
        self.handler_errors = 0
        self.duplicates = DuplicateFilter()

    @property
    def pending(self) -> int:
        """Events queued or being handled; exposed as a gauge."""
        return sum(len(q) for q in self._lanes.values())

    @property
    def active_lanes(self) -> int:
        return len(self._lanes)

    def submit(self, event: AriEvent) -> None:
        """Queue an event; never blocks and never raises (called from the websocket reader)."""
        if self._closed:
            log.warning("ari_event_after_close", **event.log_ids())
            return
        if self.duplicates.is_copy(event):
            log.debug("ari_event_duplicate_dropped", **event.log_ids())
            return
        key = event.ordering_key
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(event)
            return
        self._lanes[key] = deque([event])
        self._idle.clear()
        task = asyncio.create_task(self._run_lane(key), name=f"ari-lane:{key}")
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _run_lane(self, key: str) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                event = lane[0]
                try:
                    await self._handler(event)
                except Exception:
                    self.handler_errors += 1
                    log.exception("ari_event_handler_failed", **event.log_ids())
                finally:
                    # Pop only after handling so `pending` counts the event in progress.
                    lane.popleft()
                    self.delivered += 1
        finally:
            # No await between the emptiness check above and this removal, so submit() can
            # never append to a lane whose worker has already decided to stop.
            del self._lanes[key]
            if not self._lanes:
                self._idle.set()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been handled; False if the timeout hit first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting events, let queued ones finish for up to `timeout`, cancel the rest."""
        self._closed = True
        if not await self.drain(timeout):
            log.warning("ari_dispatch_drain_timeout", pending=self.pending, lanes=self.active_lanes)
            for task in list(self._workers):
                task.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
