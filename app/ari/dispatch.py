"""Ordered, isolated delivery of events to the service's handler.

Events with the same `ordering_key` (one channel, one bridge, one endpoint...) go through one
"lane" and are handled strictly one after another, in arrival order: a DTMF digit must not be
handled before the StasisStart of its channel. Different lanes run concurrently, so a slow REST
call made while handling one caller never delays every other caller.

A lane is a deque plus one worker task that exits when the deque is empty, so idle channels cost
nothing and 10k channels over a day do not leave 10k tasks behind. A handler exception is logged
with the event's ids and the lane carries on: one bad event must not stall a caller, and never the
websocket reader.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from app.ari.events import AriEvent

log = structlog.get_logger(__name__)

EventHandler = Callable[[AriEvent], Awaitable[None]]


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
