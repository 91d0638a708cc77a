"""What the command line changed in the store while the service runs reaches the running engine.

`holdfast dnc import` and `holdfast contacts import` write straight to the store; the engine keeps
its do-not-call lists in memory (checked at dial time) and its window of contacts at hand, so it
would dial a number the CLI just barred until its next start. The CLI leaves a line in the admin
log (action `dnc_import` / `contacts_import`, detail `via: cli`); this task reads the admin log's
new lines every few seconds and tells the engine: do-not-call entries it lacks are added
(`DncUpdated`), an upload makes it look at the list again (`ContactsChanged`).

Entries are only ever added here: the CLI removes nothing, and an entry an admin removed through
the API meanwhile may come back until the next start — blocking a number too long is the safe way
to be wrong. A store that keeps refusing the read stops the service (fail loudly), as the
committer does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from app.core import events as ev
from app.core.engine import Engine
from app.store import Store, StoreError
from app.telephony.contacts_loader import own_dnc_entries

log = structlog.get_logger("holdfast.cli_changes")

DNC_IMPORT = "dnc_import"
CONTACTS_IMPORT = "contacts_import"
VIA_CLI = "cli"
POLL_EVERY = 2.0  # seconds: a barred number is safe from the dialler within this of the import
MAX_FAILED_READS = 5  # consecutive refused reads before the service stops
PAGE = 1000


class CliChanges:
    def __init__(
        self,
        store: Store,
        engine: Callable[[], Engine],
        feed: Callable[[ev.Event], object],
        clock: Callable[[], float],
        every: float = POLL_EVERY,
    ) -> None:
        self.store = store
        self.engine = engine
        self.feed = feed
        self.clock = clock
        self.every = every
        self.last_id = 0
        self.applied = 0  # CLI lines taken into the engine (tests wait on it)
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def mark(self) -> None:
        """Before the engine loads its lists: lines written before now are in what it loads."""
        while True:
            page = await self.store.admin_log(since_id=self.last_id, limit=PAGE)
            if not page:
                return
            self.last_id = page[-1].id

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cli-changes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        failed = 0
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.poll()
                failed = 0
            except StoreError as error:
                failed += 1
                if failed >= MAX_FAILED_READS:
                    raise  # the watcher stops the service: a DNC import nobody applies is not acceptable
                log.error("cli_changes_read_retry", error=str(error), failed=failed)

    async def poll(self) -> None:
        while True:
            page = await self.store.admin_log(since_id=self.last_id, limit=PAGE)
            for entry in page:
                if entry.detail.get("via") == VIA_CLI and entry.action in (DNC_IMPORT, CONTACTS_IMPORT):
                    await self._apply(entry.action, entry.detail.get("campaign"))
                self.last_id = entry.id
            if len(page) < PAGE:
                return

    async def _apply(self, action: str, campaign: object) -> None:
        scope = campaign if isinstance(campaign, str) else None
        engine = self.engine()
        if scope is not None and scope not in engine.campaigns:
            log.info("cli_change_for_unknown_campaign", action=action, campaign=scope)
            return
        if action == CONTACTS_IMPORT:
            if scope is not None:
                self.feed(ev.ContactsChanged(self.clock(), scope))
        else:
            entries = await own_dnc_entries(self.store, scope)
            missing = tuple(engine.dnc.missing(scope, entries))
            if missing:
                self.feed(ev.DncUpdated(self.clock(), scope, added=missing))
            log.info("cli_dnc_import_applied", campaign=scope, entries=len(entries), added=len(missing))
        self.applied += 1
