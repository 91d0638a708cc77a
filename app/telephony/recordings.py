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

How long: a queue in the running settings, its `recording.retention` (a changed policy applies to
the recordings already made). A queue since removed from them (renamed away), the retention in
force when the recording was made, which the service stores in its `recording_started` line
(`with_retention`); a line from before that was stored, the default, with a warning.

Recordings the log does not know: a service killed after Asterisk started recording a call and
before its `recording_started` line was stored leaves a file no line lists, which would be kept for
ever. So the first sweep (at start-up) lists the spool and adopts each `holdfast-` recording the
log does not know, storing a `recording_started` line for it (`adopted: true`): its queue and time
are its request's (the request's last line: the call had been bridged by then, so the retention is
never counted from before the recording); a request the log has no line of, from the moment it is
found, with the longest retention configured. It is then kept and deleted like the others. Not
adopted: another application's files (no `holdfast-` prefix), and the recording of a call still
going on (its line may yet come: looked at again at the next sweep, once the call has ended).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from app.ari import AriError, AriNotFound
from app.ari.recordings import RecordingsApi
from app.core.commands import Activity
from app.core.settings import RecordingSettings
from app.store import Store, StoreError
from app.store.records import StoredEvent
from app.telephony.executor import RECORDING_PREFIX
from app.telephony.refusals import Refusals
from app.telephony.servers import AllServersRecordings

log = structlog.get_logger("holdfast.recordings")

STARTED, DELETED = "recording_started", "recording_deleted"
RECORDING_KINDS = frozenset({STARTED, "recording_failed", DELETED})  # activities the executor/keeper add
KEPT_KINDS = (STARTED, DELETED)  # what the keeper follows: a recording made, a recording gone
PAGE = 1000  # events read from the store at a time
SWEEP_INTERVAL = 600.0  # seconds between retention sweeps
DEFAULT_RETENTION = RecordingSettings().retention  # a line of a removed queue stored without its retention


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    format: str
    request_id: str | None
    queue: str | None
    started_at: float
    deleted_at: float | None = None
    retention: float | None = None  # its queue's when it was made (None: a line from before it was stored)


def _started(event: StoredEvent) -> Recording | None:
    name, fmt, retention = event.data.get("name"), event.data.get("format"), event.data.get("retention")
    if event.kind != STARTED or not isinstance(name, str):
        return None
    kept_for = float(retention) if isinstance(retention, (int, float)) else None
    return Recording(name, str(fmt or ""), event.request_id, event.queue, event.at, retention=kept_for)


def with_retention(activity: Activity, retentions: Callable[[], Mapping[str, float]]) -> Activity:
    """A `recording_started` line with its queue's retention now, kept by the recording should the
    queue be removed from the settings later (`retentions`: as RetentionKeeper's, read only for one)."""
    if activity.kind != STARTED or not activity.queue or "retention" in activity.data:
        return activity
    retention = retentions().get(activity.queue)
    if retention is None:
        return activity
    return dataclasses.replace(activity, data={**activity.data, "retention": retention})


async def _all_events(store: Store, request_id: str) -> list[StoredEvent]:
    events: list[StoredEvent] = []
    since = 0
    while True:
        page = await store.events(since_id=since, request_id=request_id, limit=PAGE)
        events.extend(page)
        if len(page) < PAGE:
            return events
        since = page[-1].id


async def recordings_of(store: Store, request_id: str) -> tuple[list[str], list[Recording]]:
    """The queues the request was in (from its events, in order: a callback may be moved) and its
    recordings, oldest first, each with the queue it was made in and when it was deleted if it was."""
    events = await _all_events(store, request_id)
    queues = list(dict.fromkeys(e.queue for e in events if e.queue))
    found = {r.name: r for e in events if (r := _started(e)) is not None}
    for e in events:
        name = e.data.get("name")
        if e.kind == DELETED and isinstance(name, str) and name in found:
            found[name] = dataclasses.replace(found[name], deleted_at=e.at)
    return queues, sorted(found.values(), key=lambda r: r.started_at)


class RetentionKeeper:
    """Deletes recordings older than their queue's retention (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        recordings: RecordingsApi | AllServersRecordings,
        retentions: Callable[[], Mapping[str, float]],
        on_activity: Callable[[Activity], None],
        clock: Callable[[], float],
        interval: float = SWEEP_INTERVAL,
        is_live: Callable[[str], bool] = lambda request_id: False,
    ) -> None:
        self.store = store
        self.recordings = recordings
        self.retentions = retentions  # each configured queue's retention (the running settings)
        self.on_activity = on_activity
        self.clock = clock
        self.interval = interval
        self.is_live = is_live  # the request's call is going on (the engine has it)
        self.kept: dict[str, Recording] = {}  # recordings started and not yet deleted, by name
        self.unknown_scan = True  # list the spool for recordings the log does not know (see above)
        self._cursor = 0  # the last event id read
        self._warned: set[str | None] = set()  # removed queues whose lines have no retention
        self._not_listed = False  # the spool could not be listed (warned once)
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
        retentions = self.retentions()
        if self.unknown_scan:
            await self._adopt_unknown(now, retentions)
        deleted = []
        due = [r for r in self.kept.values() if now - r.started_at >= self._retention(r, retentions)]
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

    def _retention(self, r: Recording, retentions: Mapping[str, float]) -> float:
        running = retentions.get(r.queue) if r.queue else None
        if running is not None:
            return running
        if r.retention is not None:
            return r.retention  # the queue was removed: what it kept its recordings for then
        if r.queue not in self._warned:
            self._warned.add(r.queue)
            log.warning("recording_retention_unknown", queue=r.queue, name=r.name, retention=DEFAULT_RETENTION)
        return DEFAULT_RETENTION

    async def _adopt_unknown(self, now: float, retentions: Mapping[str, float]) -> None:
        """Store a `recording_started` line for each of our recordings in the spool the log does not
        know (see the module docstring); a spool that cannot be listed is tried at the next sweep."""
        try:
            stored = await self.recordings.list_stored()
        except AriError as error:
            # e.g. 500 "Allocation failed": no spool directory (nothing recorded yet). Said once:
            # a service that records no calls would repeat it every sweep.
            (log.info if self._not_listed else log.warning)("recordings_not_listed", error=str(error))
            self._not_listed = True
            return
        live = False
        for found in stored:
            name = found.name
            if not name.startswith(RECORDING_PREFIX) or name in self.kept:
                continue
            request_id = name.removeprefix(RECORDING_PREFIX)
            if self.is_live(request_id):
                live = True  # its call goes on (and its line may yet come): once it has ended
                continue
            events = await _all_events(self.store, request_id)
            if any(r.name == name for e in events if (r := _started(e)) is not None):
                continue  # stored since we read the log (or deleted and back: not ours to guess)
            queue = next((e.queue for e in reversed(events) if e.queue), None)
            retention = retentions.get(queue) if queue else None
            if retention is None:  # which queue's it was is not known (or no longer configured)
                retention = max(retentions.values(), default=DEFAULT_RETENTION)
            at = max((e.at for e in events), default=now)
            data = {"name": name, "format": found.format, "retention": retention, "adopted": True, "found_at": now}
            log.warning("recording_adopted", name=name, queue=queue, since=at, retention=retention)
            self.kept[name] = Recording(name, found.format, request_id, queue, at, retention=retention)
            self.on_activity(Activity(STARTED, request_id=request_id, queue=queue, at=at, data=data))
        self.unknown_scan = live
