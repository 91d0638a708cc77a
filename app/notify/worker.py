"""The outbox worker: delivers what the commits put in the outbox, with retries, until each
notification is delivered or expired.

Theory of operation: a loop reads the due pending rows (`next_at <= now`), tries each through
its channel (a few at a time), and records the outcome in the store: delivered; failed (refused
for good, its channel no longer configured, or past `expires_at`); or pending again with
`next_at` pushed back by the retry policy (doubling). A row already past `expires_at` when its
turn comes (after downtime) is failed without a try: its text ("we call you back at about 10:00")
would be wrong by then. A try that raises anything but a delivery error (a request that cannot be
built or sent, e.g. a header aiohttp refuses) fails that row for good: it would fail the same way
on every try and must not stop the worker, again on every start, for all the others. It then
sleeps until the earliest `next_at` or until `wake()` (the service calls it once a step with
notifications is stored). Nothing is held only in memory: after a crash or `kill -9` the pending
rows are still in the store and the next start delivers them, with the same idempotency key (at
least once, never silently dropped). A store that keeps refusing (StoreError after a few tries)
or a bug in the loop itself ends the task; the service watches it and stops loudly: a worker that
died quietly would leave promises unsaid.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import structlog

from app.config.notifications import RetryPolicy
from app.notify.channels import Channel, DeliveryError
from app.store.errors import StoreError
from app.store.outbox import OutboxStore
from app.store.outbox_records import StoredNotification

log = structlog.get_logger("holdfast.notify")

BATCH = 50
CONCURRENCY = 8
IDLE_POLL = 60.0  # seconds between looks when nothing is due (a row written by another process)
STORE_RETRIES = (0.2, 0.5, 1.0, 2.0, None)  # seconds between tries of a refused store call; None: give up


class OutboxWorker:
    def __init__(
        self,
        store: OutboxStore,
        channels: Mapping[str, Channel],
        retry: RetryPolicy,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.retry = retry
        self.clock = clock
        self.delivered = 0  # counters for tests and metrics
        self.failed = 0
        self.store_retries: tuple[float | None, ...] = STORE_RETRIES
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession()
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(row: StoredNotification) -> None:
            async with limit:
                await self.deliver(row)

        failures = 0
        while True:
            self._wake.clear()
            try:
                delay = await self._round(one)
                failures = 0
            except StoreError as error:  # a busy database is waited out a few times, as commits are
                wait = self.store_retries[min(failures, len(self.store_retries) - 1)]
                failures += 1
                if wait is None or failures >= len(self.store_retries):
                    raise
                log.error("outbox_store_retry", error=str(error), retry_in=wait)
                delay = wait
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()

    async def _round(self, one: Callable[[StoredNotification], Awaitable[None]]) -> float:
        """Try what is due; returns how long to sleep before the next round."""
        due = await self.store.due_notifications(self.clock(), BATCH)
        if due:
            await asyncio.gather(*(one(row) for row in due))
            if len(due) == BATCH:
                return 0.0  # more may be due
        upcoming = await self.store.next_notification_at()
        return IDLE_POLL if upcoming is None else min(IDLE_POLL, max(0.0, upcoming - self.clock()))

    async def deliver(self, row: StoredNotification) -> None:
        n = row.notification
        channel = self.channels.get(n.channel)
        assert self._session is not None
        if channel is None:
            await self._give_up(row, f"channel {n.channel!r} is no longer configured")
            return
        if self.clock() >= n.expires_at:  # after downtime: "at about 10:00" two days late is wrong, not late
            last = f" (last error: {row.last_error})" if row.last_error else ""
            await self._give_up(row, f"expired before delivery{last}")
            return
        try:
            await channel.deliver(self._session, n)
        except StoreError:
            raise
        except DeliveryError as error:
            now = self.clock()
            if error.permanent or now >= n.expires_at:
                await self._give_up(row, str(error))
                return
            attempts = row.attempts + 1
            next_at = min(now + self.retry.delay(attempts), n.expires_at)
            log.warning(
                "notification_retry",
                id=n.id,
                channel=n.channel,
                attempts=attempts,
                retry_in=round(next_at - now, 1),
                error=str(error),
            )
            await self.store.notification_retry(n.id, next_at, str(error))
            return
        except Exception as error:  # not CancelledError (a BaseException): stopping still stops
            # A request that cannot even be built or sent (a bug, or a value aiohttp refuses) would
            # fail the same way on every try and, if it escaped, stop the service on every start:
            # this row fails for good and the others go on.
            await self._give_up(row, f"cannot be sent: {type(error).__name__}: {error}", error)
            return
        await self.store.notification_delivered(n.id, self.clock())
        self.delivered += 1
        log.info("notification_delivered", id=n.id, channel=n.channel, kind=n.event, request_id=n.request_id)

    async def _give_up(self, row: StoredNotification, error: str, exc: BaseException | None = None) -> None:
        n = row.notification
        # An error, not critical: the row stays (state failed, with the error) for the API and staff.
        log.error(
            "notification_failed",
            id=n.id,
            channel=n.channel,
            kind=n.event,
            request_id=n.request_id,
            error=error,
            exc_info=exc,
        )
        await self.store.notification_failed(n.id, error)
        self.failed += 1
