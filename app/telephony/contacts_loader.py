"""The dialler's contacts between the store and the engine.

Theory of operation: the engine asks for contacts with `LoadContacts(campaign, n)`; this reads the
due ones from the store (`contacts_due`) and feeds them back as `ContactsLoaded`, on its own task
so the engine never waits for the database. The engine claims what it takes; the claim is
committed with that step (committer.py). A store that keeps refusing stops the service, as a
failed commit does: a campaign that silently stopped loading would look alive and dial nobody.

At start-up, after the engine took back its active requests: contacts left "claimed" by the
previous run that no active request holds go back to due (`release_claimed`), and the
do-not-call lists and campaign states stored by the API are given to the engine before it can
dial anyone, with the campaigns already told finished (the event log's marks, read by kind), and
predictive campaigns' judged abandon windows, minute by minute from the dial records.

When nothing is due, the answer also says whether the list is exhausted (`contacts_exhausted`): the
engine's campaign_finished rests on it.

Also here: what a key on the agent's phone means while they review a previewed contact
(DIAL_NOW_KEY, SKIP_KEY).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from app.core import events as ev
from app.core.commands import LoadContacts
from app.core.dialler import CAMPAIGN_FINISHED, CAMPAIGN_REMOVED, CAMPAIGN_REOPENED
from app.core.engine import Engine
from app.core.errors import CoreError
from app.core.pacing import DAY, MONTH, HistoryMinute, PacingHistory
from app.core.settings import ABANDON_QUARANTINE, CampaignMode, CampaignState
from app.core.states import RequestKind, RequestState
from app.store import Store, StoreError

log = structlog.get_logger("holdfast.contacts")

DIAL_NOW_KEY = "#"  # preview: the agent reviewing a contact dials it now
SKIP_KEY = "*"  # preview: the agent skips the contact (not dialled, due again)

FINISH_MARKS = (CAMPAIGN_FINISHED, CAMPAIGN_REOPENED, CAMPAIGN_REMOVED)
LOAD_RETRIES = (0.2, 0.5, 1.0, 2.0, None)  # seconds between tries; None: give up (stop the service)


class ContactsLoader:
    def __init__(
        self,
        store: Store | None,
        feed: Callable[[ev.Event], object],
        clock: Callable[[], float],
        on_fatal: Callable[[str, BaseException | None], None],
    ) -> None:
        self.store = store
        self.feed = feed
        self.clock = clock
        self.on_fatal = on_fatal
        self.retries: tuple[float | None, ...] = LOAD_RETRIES
        self._tasks: set[asyncio.Task[None]] = set()
        self.loads = 0  # completed loads, for tests and debugging

    def submit(self, command: LoadContacts) -> None:
        task = asyncio.create_task(self._load(command), name=f"load-contacts:{command.campaign}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.on_fatal("contact_load_crashed", task.exception())

    async def _load(self, command: LoadContacts) -> None:
        contacts = []
        exhausted = False
        if self.store is not None:
            for delay in self.retries:
                try:
                    contacts = await self.store.contacts_due(command.campaign, self.clock(), command.limit)
                    # nothing due now: is anything left for later? (read after, so an answer
                    # "none" covers every change committed before it; see dialler.py "Finished")
                    exhausted = not contacts and await self.store.contacts_exhausted(command.campaign)
                    break
                except StoreError as error:
                    if delay is None:
                        self.on_fatal("contact_load_failed_stopping", error)
                        return
                    log.error("contact_load_retry", campaign=command.campaign, error=str(error), retry_in=delay)
                    await asyncio.sleep(delay)
        self.loads += 1
        with contextlib.suppress(CoreError):  # the campaign was removed meanwhile: logged by feed
            self.feed(ev.ContactsLoaded(self.clock(), command.campaign, tuple(contacts), exhausted=exhausted))

    async def start_up(self, engine: Engine) -> None:
        """After `engine.restore`: free stale claims, give the engine its DNC lists and states."""
        if self.store is None:
            return
        released = await self.store.release_claimed(None, engine.active_contact_ids())
        # each list on its own (the global one, each campaign's own), as DncUpdated changes them
        dnc: dict[str | None, list[tuple[str, bool]]] = {None: await self._own_entries(None)}
        for campaign in engine.campaigns:
            dnc[campaign] = await self._own_entries(campaign)
        states = {}
        for stored in await self.store.campaign_states():
            if stored.campaign in engine.campaigns:
                name = "running" if stored.state == "active" else stored.state  # older name of running
                states[stored.campaign] = CampaignState(name)
        engine.restore_campaigns(states, dnc)
        # agents in wrap-up after a dialler call may still give its disposition
        engine.restore_dispositions({cid: await self.store.pending_dispositions(cid) for cid in engine.campaigns})
        engine.restore_finished(await self._finished_campaigns())
        await self._restore_pacing(engine)
        await self._restore_abandoned(engine)
        log.info("contacts_ready", released_claims=released, dnc_entries=sum(len(v) for v in dnc.values()))

    async def _restore_abandoned(self, engine: Engine) -> None:
        """Numbers whose call was abandoned in the last 72 h, from the event log's dial records: no
        contact-first campaign rings them again sooner because the service restarted."""
        assert self.store is not None
        latest: dict[str, float] = {}
        for number, at in await self.store.abandoned_dials(self.clock() - ABANDON_QUARANTINE):
            latest[number] = max(at, latest.get(number, at))
        engine.restore_abandoned(latest)
        if latest:
            log.info("abandoned_numbers_restored", numbers=len(latest))

    async def _restore_pacing(self, engine: Engine) -> None:
        """Contact-first campaigns' abandon windows (24 h, 30 days) from the event log's dial records,
        minute by minute, so a restart neither forgets abandoned calls the regulators still count
        nor keeps them past the time they leave the window."""
        assert self.store is not None
        now = self.clock()
        for cid, campaign in engine.campaigns.items():
            if campaign.mode not in (CampaignMode.PREDICTIVE, CampaignMode.POWER):
                continue
            minutes = await self.store.dial_minutes(cid, now - MONTH, now)
            engine.restore_pacing(
                PacingHistory(
                    now, cid, tuple(HistoryMinute(m.minute, m.lives, m.abandoned, m.machines) for m in minutes)
                )
            )
            day = [m for m in minutes if m.minute > (now - DAY) // 60]
            log.info(
                "pacing_restored",
                campaign=cid,
                day_lives=sum(m.lives for m in day),
                day_abandoned=sum(m.abandoned for m in day),
                month_abandoned=sum(m.abandoned for m in minutes),
            )

    async def _finished_campaigns(self) -> set[str]:
        """Campaigns whose last finishing mark in the event log is campaign_finished (not
        reopened since, nor removed from the settings: a campaign created again under its id is
        another list): told already, not told again after this restart."""
        assert self.store is not None
        last: dict[str, str] = {}
        since = 0
        while True:
            page = await self.store.events_of_kinds(FINISH_MARKS, since_id=since, limit=1000)
            for event in page:
                campaign = event.data.get("campaign")
                if isinstance(campaign, str):
                    last[campaign] = event.kind
            if len(page) < 1000:
                return {c for c, kind in last.items() if kind == CAMPAIGN_FINISHED}
            since = page[-1].id

    async def _own_entries(self, campaign: str | None) -> list[tuple[str, bool]]:
        assert self.store is not None
        return await own_dnc_entries(self.store, campaign)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def own_dnc_entries(store: Store, campaign: str | None, page: int = 5000) -> list[tuple[str, bool]]:
    """A do-not-call list's own entries (the global one, or a campaign's), read page by page."""
    out: list[tuple[str, bool]] = []
    while True:
        entries = await store.dnc_list(campaign, offset=len(out), limit=page)
        out += [(e.entry, e.is_prefix) for e in entries]
        if len(entries) < page:
            return out


def agent_key_event(engine: Engine, request_id: str, digit: str, now: float) -> ev.Event | None:
    """The dialler event a key pressed on an agent's phone means, if any: only while the agent
    reviews a previewed contact (answered, the contact not dialled yet)."""
    req = engine.requests.get(request_id)
    if req is None or req.kind is not RequestKind.CONTACT or req.state is not RequestState.WHISPER:
        return None
    if req.agent_id is None or req.customer_leg is not None:
        return None
    if digit == DIAL_NOW_KEY:
        return ev.ContactDialNow(now, req.agent_id)
    if digit == SKIP_KEY:
        return ev.ContactSkipped(now, req.agent_id)
    return None
