"""Call recordings after the call: what the event log says about them, and their retention.

Theory of operation: the executor starts a bridge recording named holdfast-<request id> and
says so with a `recording_started` activity, which the service stores in the event log with
the request's queue (TelephonyService._on_activity). The event log is therefore the list of
recordings: `recordings_of` reads a request's, and `RetentionKeeper` reads the recording lines only
(`events_of_kinds`, by the log's (kind, id) index: once from the start, then only what is new;
never the whole log) and deletes, through ARI, each recording older than its
queue's `recording.retention`, logging a `recording_deleted` activity for it. Time is passed
in (`sweep(now)`) so tests move it on without waiting. A recording Asterisk no longer has (404)
is logged as deleted all the same (`gone: true`); any other ARI refusal keeps it for the next
sweep, since a file we failed to delete must not be forgotten. A store that refuses the sweep is
waited out, and stops the service if it keeps refusing (refusals.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from app.ari import AriError, AriNotFound
from app.ari.recordings import RecordingsApi
from app.core.commands import Activity
from app.store import Store, StoreError
from app.store.records import StoredEvent
from app.telephony.refusals import Refusals
from app.telephony.servers import AllServersRecordings

log = structlog.get_logger("holdfast.recordings")

STARTED, DELETED = "recording_started", "recording_deleted"
RECORDING_KINDS = frozenset({STARTED, "recording_failed", DELETED})  # activities the executor/keeper add
KEPT_KINDS = (STARTED, DELETED)  # what the keeper follows: a recording made, a recording gone
PAGE = 1000  # events read from the store at a time
SWEEP_INTERVAL = 600.0  # seconds between retention sweeps


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    format: str
    request_id: str | None
    queue: str | None
    started_at: float
    deleted_at: float | None = None


def _started(event: StoredEvent) -> Recording | None:
    name, fmt = event.data.get("name"), event.data.get("format")
    if event.kind != STARTED or not isinstance(name, str):
        return None
    return Recording(name, str(fmt or ""), event.request_id, event.queue, event.at)


async def recordings_of(store: Store, request_id: str) -> tuple[list[str], list[Recording]]:
    """The queues the request was in (from its events, in order: a callback may be moved) and its
    recordings, oldest first, each with the queue it was made in and when it was deleted if it was."""
    events: list[StoredEvent] = []
    since = 0
    while True:
        page = await store.events(since_id=since, request_id=request_id, limit=PAGE)
        events.extend(page)
        if len(page) < PAGE:
            break
        since = page[-1].id
    queues = list(dict.fromkeys(e.queue for e in events if e.queue))
    found = {r.name: r for e in events if (r := _started(e)) is not None}
    for e in events:
        name = e.data.get("name")
        if e.kind == DELETED and isinstance(name, str) and name in found:
            r = found[name]
            found[name] = Recording(r.name, r.format, r.request_id, r.queue, r.started_at, e.at)
    return queues, sorted(found.values(), key=lambda r: r.started_at)


class RetentionKeeper:
    """Deletes recordings older than their queue's retention (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        recordings: RecordingsApi | AllServersRecordings,
        retention_of: Callable[[str | None], float],
        on_activity: Callable[[Activity], None],
        clock: Callable[[], float],
        interval: float = SWEEP_INTERVAL,
    ) -> None:
        self.store = store
        self.recordings = recordings
        self.retention_of = retention_of
        self.on_activity = on_activity
        self.clock = clock
        self.interval = interval
        self.kept: dict[str, Recording] = {}  # recordings started and not yet deleted, by name
        self._cursor = 0  # the last event id read
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="recording-retention")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        refusals = Refusals("recording_retention")
        while True:
            try:
                await self.sweep(self.clock())
                refusals.served()
            except StoreError as error:  # a busy store: the recordings wait for the next sweep
                refusals.refused(error)  # (one that keeps refusing stops the service)
            await asyncio.sleep(self.interval)

    async def _read_new(self) -> None:
        while True:
            page = await self.store.events_of_kinds(KEPT_KINDS, since_id=self._cursor, limit=PAGE)
            for event in page:
                if (r := _started(event)) is not None:
                    self.kept[r.name] = r
                elif event.kind == DELETED:
                    self.kept.pop(str(event.data.get("name")), None)
            if page:
                self._cursor = page[-1].id
            if len(page) < PAGE:
                return

    async def sweep(self, now: float) -> list[str]:
        """Delete every recording past its retention at `now`; returns the names deleted."""
        await self._read_new()
        deleted = []
        due = [r for r in self.kept.values() if now - r.started_at >= self.retention_of(r.queue)]
        for r in sorted(due, key=lambda r: r.started_at):
            gone = False
            try:
                await self.recordings.delete_stored(r.name)
            except AriNotFound:
                gone = True  # removed by hand, or never finished: nothing left to keep
            except AriError as error:
                log.warning("recording_not_deleted", name=r.name, error=str(error))
                continue
            del self.kept[r.name]
            deleted.append(r.name)
            data = {"name": r.name, "format": r.format, "age": round(now - r.started_at, 1), "gone": gone}
            self.on_activity(Activity(DELETED, request_id=r.request_id, queue=r.queue, at=now, data=data))
        return deleted
