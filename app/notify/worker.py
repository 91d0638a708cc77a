"""The outbox worker: delivers what the commits put in the outbox, with retries, until each
notification is delivered or expired.

Theory of operation: a loop reads the due pending rows (`next_at <= now`), starts a try of each
through its channel (at most CONCURRENCY at a time per channel, each try its own task, so a
receiver that hangs until its timeout holds up only its own channel's rows: never the SMS behind
it, nor the rows made while it hangs), and each try records its outcome in the store: delivered;
failed (refused for good, its channel no longer configured, past `expires_at`, or superseded); or
pending again with `next_at` pushed back by the retry policy (doubling). A row already past
`expires_at` when its turn comes (after downtime) is failed without a try: its text ("we call you
back at about 10:00") would be wrong by then. So would a callback's confirmation held up by an
outage once the callback was made or ended: before each try of such a row the worker reads the
request's stored state and, if the planner's `superseded` says so, fails the row with that reason
(logged, counted apart from the failures, never as delivered). It need not wait for that try:
the service tells the worker (`moved`) of each step of a request whose confirmation is held up (a
try failed; or found pending at the worker's start, when a restart may have lost the telling), and
the next round settles it, so GET /api/notifications never lists as pending a "we will call you
back" to a customer already called back. A row being tried is left to its try, which looks again
if it fails (the callback may have been made meanwhile). Before a try, a message that states a
time now past ("at about 10:15" at 13:40, the callback still waiting) is rendered again without it
(`restate`, the planner's `restated`), and the row keeps the text that goes. A try that raises
anything but a delivery error (a request that cannot be built or sent, e.g. a header aiohttp
refuses) fails that row for good: it would fail the same way on every try and must not stop the
worker, again on every start, for all the others. The loop then sleeps until the earliest `next_at` of a row not being
tried, until `wake()` (the service calls it once a step with notifications is stored) or until a
try ends (a slot of its channel is free). A try that fails to record its outcome (StoreError) or a
bug in one is raised by the loop. Nothing is held only in memory: after a crash or `kill -9` the
pending rows are still in the store and the next start delivers them, with the same idempotency
key (at least once, never silently dropped). A store that keeps refusing (StoreError after a few
tries) or a bug in the loop itself ends the task; the service watches it and stops loudly: a
worker that died quietly would leave promises unsaid.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import aiohttp
import structlog

from app.config.notifications import RetryPolicy
from app.core.request import Request
from app.notify.channels import Channel, DeliveryError
from app.notify.planner import WHILE_WAITING, superseded
from app.store.errors import StoreError
from app.store.outbox import OutboxStore
from app.store.outbox_records import PENDING, Notification, StoredNotification

log = structlog.get_logger("holdfast.notify")

BATCH = 50
CONCURRENCY = 8  # tries at once per channel
IDLE_POLL = 60.0  # seconds between looks when nothing is due (a row written by another process)
STORE_RETRIES = (0.2, 0.5, 1.0, 2.0, None)  # seconds between tries of a refused store call; None: give up


@runtime_checkable
class RequestReader(Protocol):
    """Where the worker reads a request's state (both stores; app/store/base.py `Store`)."""

    async def load_request(self, request_id: str) -> Request | None: ...


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
        self.superseded = 0
        self.restated = 0
        # The request states a confirmation depends on: the store's own (committed with each step).
        self.requests = store if isinstance(store, RequestReader) else None
        # A message as it must read when sent (the Notifier's planner renders a late one again).
        self.restate: Callable[[Notification, float], Notification] = lambda n, now: n
        self._held: set[str] | None = None  # requests with a confirmation held up; None: not read yet
        self._moved: set[str] = set()  # of those, the ones whose callback made a step since
        self.store_retries: tuple[float | None, ...] = STORE_RETRIES
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._trying: dict[str, tuple[str, asyncio.Task[None]]] = {}  # row id -> (channel, its try)
        self._fault: BaseException | None = None  # what a try let out: raised by the loop
        self._ended: set[str] = set()  # rows whose try ended since the round's read began
        self._recorded = False  # a try's outcome was stored since the last round
        self._idle = True  # the last round found no try going and started none

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-outbox")

    def wake(self) -> None:
        self._wake.set()

    def moved(self, request_id: str) -> None:
        """The service stored a step of `request_id` (it connected, ended, ...): a confirmation of
        it held up by an outage may be superseded now. Only such a request costs a read."""
        if self.requests is not None and (self._held is None or request_id in self._held):
            self._moved.add(request_id)
            self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        tries = [task for _, task in self._trying.values()]
        for task in tries:
            task.cancel()
        await asyncio.gather(*tries, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession()
        failures = 0
        while True:
            self._wake.clear()
            try:
                delay = await self._round()
                # A round's reads may succeed while every try's outcome is refused: the store is
                # back only once an outcome is recorded (or no try waits to record one).
                if self._recorded or self._idle:
                    failures = 0
                self._recorded = False
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

    async def _round(self) -> float:
        """Start a try of what is due and not being tried; returns how long to sleep before the
        next round (a try that ends wakes it sooner)."""
        if self._fault is not None:
            fault, self._fault = self._fault, None
            raise fault
        await self._settle_held()
        now = self.clock()
        self._idle = False
        going = bool(self._trying)
        busy = Counter(channel for channel, _ in self._trying.values())
        full = [channel for channel, n in busy.items() if n >= CONCURRENCY]
        limit = BATCH + len(self._trying)  # the rows being tried are due too
        self._ended.clear()
        due = await self.store.due_notifications(now, limit, skip_channels=full)
        started = 0
        for row in due:
            channel = row.notification.channel
            if row.id in self._trying or row.id in self._ended:
                continue  # being tried; or its try ended during the read, which may predate its outcome
            if busy[channel] >= CONCURRENCY:
                continue  # its channel's slots are taken: when one of them ends
            busy[channel] += 1
            started += 1
            self._start_try(row)
        self._idle = not going and not started
        if len(due) == limit and started:
            return 0.0  # more may be due
        upcoming = await self.store.next_notification_at(after=now)
        return IDLE_POLL if upcoming is None else min(IDLE_POLL, max(0.0, upcoming - self.clock()))

    def _start_try(self, row: StoredNotification) -> None:
        task = asyncio.create_task(self.deliver(row), name=f"notification-{row.id}")
        self._trying[row.id] = (row.notification.channel, task)
        task.add_done_callback(lambda t: self._try_ended(row.id, t))

    def _try_ended(self, row_id: str, task: asyncio.Task[None]) -> None:
        self._trying.pop(row_id, None)
        self._ended.add(row_id)
        if not task.cancelled() and task.exception() is not None and self._fault is None:
            self._fault = task.exception()
        self._wake.set()  # a slot of its channel is free (or a fault to raise)

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
        if (reason := await self._superseded(n)) is not None:
            await self._supersede(row, reason)
            return
        if (restated := self.restate(n, self.clock())) is not n:
            await self._restate(restated)
            n = restated
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
            if n.event in WHILE_WAITING and n.request_id is not None and self._held is not None:
                # Held up: its callback's steps are watched from now on (`moved`); one it made
                # during this try, before it was watched, is looked at now.
                self._held.add(n.request_id)
                if (reason := await self._superseded(n)) is not None:
                    await self._supersede(row, reason)
                    return
            log.warning(
                "notification_retry",
                id=n.id,
                channel=n.channel,
                attempts=attempts,
                retry_in=round(next_at - now, 1),
                error=str(error),
            )
            await self.store.notification_retry(n.id, next_at, str(error))
            self._recorded = True
            return
        except Exception as error:  # not CancelledError (a BaseException): stopping still stops
            # A request that cannot even be built or sent (a bug, or a value aiohttp refuses) would
            # fail the same way on every try and, if it escaped, stop the service on every start:
            # this row fails for good and the others go on.
            await self._give_up(row, f"cannot be sent: {type(error).__name__}: {error}", error)
            return
        await self.store.notification_delivered(n.id, self.clock())
        self._recorded = True
        self.delivered += 1
        log.info("notification_delivered", id=n.id, channel=n.channel, kind=n.event, request_id=n.request_id)

    async def _superseded(self, n: Notification) -> str | None:
        """Why `n` is no longer true (its callback was made or ended), from the stored request."""
        if n.event not in WHILE_WAITING or n.request_id is None or self.requests is None:
            return None  # most kinds are true whatever became of their request: no read
        return superseded(n.event, await self.requests.load_request(n.request_id))

    async def _settle_held(self) -> None:
        """Supersede the held-up confirmations of callbacks that moved (all of them at the start)."""
        if self.requests is None:
            return
        if self._held is None:  # the first round: a restart forgot which were held up
            self._held = await self.store.pending_request_ids(WHILE_WAITING)
            self._moved |= self._held
        for request_id in list(self._moved & self._held):
            self._moved.discard(request_id)  # a step told during the reads below marks it again
            self._ended.clear()
            rows = [  # one past its expiry is due now: its try fails it as expired, as it always did
                r
                for r in await self.store.notifications(state=PENDING, request_id=request_id)
                if r.notification.event in WHILE_WAITING and self.clock() < r.notification.expires_at
            ]
            if any(r.id in self._trying or r.id in self._ended for r in rows):
                self._moved.add(request_id)  # left to its try (or read before its outcome): next round
                continue
            reason = await self._superseded(rows[0].notification) if rows else None
            if reason is not None:
                for row in rows:
                    await self._supersede(row, reason)
            if not rows or reason is not None:
                self._held.discard(request_id)  # nothing of it left to settle
        self._moved &= self._held

    async def _restate(self, n: Notification) -> None:
        log.info("notification_restated", id=n.id, channel=n.channel, kind=n.event, request_id=n.request_id)
        await self.store.notification_restated(n.id, n.payload)
        self.restated += 1

    async def _supersede(self, row: StoredNotification, reason: str) -> None:
        n = row.notification
        # Info, not an error: nothing went wrong, the message is simply no longer true.
        log.info(
            "notification_superseded", id=n.id, channel=n.channel, kind=n.event, request_id=n.request_id, reason=reason
        )
        await self.store.notification_failed(n.id, reason)
        self._recorded = True
        self.superseded += 1

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
        self._recorded = True
        self.failed += 1
