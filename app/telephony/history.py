"""The history keeper: what is older than `service.keep_history` is deleted, a batch at a time.

Theory of operation: every SWEEP_INTERVAL (and soon after a start) the keeper asks the store to
prune ended requests, event-log lines and sent notifications older than now less the setting
(app/store/history.py), BATCH rows of each per transaction, until a batch comes back short. Between
batches it yields, so the engine's commits are never held up for more than one short transaction.
The setting is read at each sweep, so a reload takes effect at the next one; off (the default),
nothing is deleted. A sweep that removed anything logs `history_pruned` in the event log itself
(the cut and the counts): the record says when the records went. A store error (busy) waits for
the next sweep, MAX_REFUSALS in a row (refusals.py) or anything else ends the task, which the
service watches (a fault stops it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.core.commands import Activity
from app.store import StoreError
from app.store.history import HistoryStore, Pruned
from app.telephony.refusals import Refusals

HISTORY_PRUNED = "history_pruned"
SWEEP_INTERVAL = 3600.0
FIRST_SWEEP = 60.0  # after a start: not in the middle of the reconcile
BATCH = 2000


class HistoryKeeper:
    def __init__(
        self,
        store: HistoryStore,
        keep: Callable[[], float | None],
        on_activity: Callable[[Activity], None],
        clock: Callable[[], float],
        interval: float = SWEEP_INTERVAL,
        first: float = FIRST_SWEEP,
        batch: int = BATCH,
    ) -> None:
        self.store = store
        self.keep = keep
        self.on_activity = on_activity
        self.clock = clock
        self.interval = interval
        self.first = first
        self.batch = batch
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="history-keeper")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        await asyncio.sleep(self.first)
        refusals = Refusals("history_prune")
        while True:
            try:
                await self.sweep()
                refusals.served()
            except StoreError as error:  # a busy store: the history waits for the next sweep
                refusals.refused(error)  # (one that keeps refusing stops the service)
            await asyncio.sleep(self.interval)

    async def sweep(self) -> Pruned:
        """Delete what is older than the history kept, now; returns how much went."""
        keep = self.keep()
        if keep is None:
            return Pruned()
        now = self.clock()
        before = now - keep
        total = Pruned()
        while True:
            pruned = await self.store.prune_history(before, self.batch)
            total += pruned
            if pruned.most() < self.batch:
                break
            await asyncio.sleep(0)  # the engine's commits go between the batches
        if total.most():
            self.on_activity(
                Activity(
                    HISTORY_PRUNED,
                    at=now,
                    data={
                        "before": before,
                        "requests": total.requests,
                        "events": total.events,
                        "notifications": total.notifications,
                    },
                )
            )
        return total
