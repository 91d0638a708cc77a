"""The live page's websocket: the engine's changes pushed to each user, filtered for them.

Theory of operation: the service calls `LiveFeed.changed` after every engine step (its
`step_listeners`). The feed's one task wakes, waits until what was fed is stored (the page never
shows a change the store might still lose), takes one snapshot of the engine (app/web/live.py),
and for each connected page cuts it to that user's scope (app/web/access.py) and sends only the
rows that changed since that page's last message ("upsert" / "remove" by id). Bursts are
coalesced into one message per page; a quiet feed still refreshes every few seconds (midnight,
a reload that changed a user's filter, an expired session, the campaigns' figures, which are
read from the store at most every FIGURES_EVERY seconds).

A page first gets {"type": "snapshot", ...}, then {"type": "patch", ...}. When its session
expires or is logged out, or the credential that opened it no longer holds (a personal token
rotated, the admin token changed, a reload that turned authentication on for an open service),
it gets {"type": "expired"} and the socket closes with code 4401; the page then goes to the
log-in form. Any other close (a restart of the service) and the page
reconnects by itself and receives a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from app.config import HoldfastConfig
from app.config.users import unknown_filter_campaigns
from app.core.commands import Activity
from app.store import StoreError
from app.store.contact_records import CampaignFigures
from app.telephony.errors import ServiceStopping
from app.telephony.service import TelephonyService
from app.web.access import Principal, filter_live, principal_for_user, scope_from_config
from app.web.auth import is_open, principal_of, same_origin, session_expired
from app.web.errors import ApiError
from app.web.live import TodayCounts, day_start, events_since, live_snapshot, seed_today
from app.web.passwords import hash_token

log = structlog.get_logger("holdfast.web.live")

COALESCE = 0.05  # seconds: a burst of steps becomes one message
REFRESH = 5.0  # seconds between pushes when nothing happens
SEND_TIMEOUT = 5.0  # a page that does not take a message in this long is closed
EXPIRED = 4401  # websocket close code: the session is over, log in again
FIGURES_EVERY = 5.0  # seconds: the store's campaign figures are read again at most this often
SECTIONS = {"requests": "id", "agents": "id", "queues": "name", "campaigns": "name"}


@dataclass(eq=False)
class LivePage:
    socket: web.WebSocketResponse
    request: web.Request
    principal: Principal
    credential: str | None = None  # fingerprint of what opened the socket (_credential)
    sent: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    sending: asyncio.Lock = field(default_factory=asyncio.Lock)  # its messages go out in the order made


class LiveFeed:
    def __init__(self, service: TelephonyService) -> None:
        self.service = service
        self.today = TodayCounts(self._zone_of)
        self.pages: set[LivePage] = set()
        self.pushes = 0  # snapshots taken, for tests and debugging
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._seeding: list[Activity] | None = None  # activities that came while the log was read
        self.seeded = asyncio.Event()
        self.figures: dict[str, CampaignFigures] = {}  # the store's campaign figures, last read
        self._figures_at = -math.inf
        self.unknown_campaigns: frozenset[tuple[str, str]] = frozenset()  # (user, campaign) warned of

    def start(self) -> None:
        self.service.step_listeners.append(self.changed)
        self.service.activity_listeners.append(self._activity)
        self._task = asyncio.create_task(self._run(), name="live-feed")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.service.step_listeners.remove(self.changed)
        with contextlib.suppress(ValueError):
            self.service.activity_listeners.remove(self._activity)
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for page in list(self.pages):
            await page.socket.close(code=1001, message=b"service stopping")

    def changed(self) -> None:
        self._dirty.set()

    def _activity(self, activity: Activity) -> None:
        if self._seeding is not None:
            self._seeding.append(activity)
        else:
            self.today(activity)

    async def _seed(self) -> None:
        """Today's counts from the store's event log, so a restart does not zero them."""
        store = self.service.store
        if store is not None:
            self._seeding = []
            now = self.service.clock()
            zones = {self._zone_of(q) for q in self.service.engine.queues} or {"UTC"}
            start = min(day_start(now, zone) for zone in zones)  # the earliest queue's midnight
            try:
                stored = await events_since(store, start)
            except StoreError as error:  # shown counts start from now; the log says why
                log.error("live_counts_not_read", error=str(error))
                stored = []
            live, self._seeding = self._seeding, None
            seed_today(self.today, stored, live)
        self.seeded.set()

    def _zone_of(self, queue: str) -> str:
        """Where a queue's day is counted: its hours' zone, else the zone the centre tells times in."""
        settings = self.service.engine.queues.get(queue)
        if settings is not None and settings.hours is not None:
            return settings.hours.timezone
        return self.service.config.notifications.timezone

    def _ended(self, task: asyncio.Task[None]) -> None:
        # The feed only ends when stopped: any other end (a bug, a stray cancellation) leaves every
        # supervisor's page stale, so it stops the service.
        if task.cancelled():
            if not self._stopping:
                self.service.fail("live_feed_died", RuntimeError("the live feed's task was cancelled"))
        elif task.exception() is not None:
            self.service.fail("live_feed_died", task.exception())

    def check_filters(self) -> None:
        """Warn (once per change) of users whose campaign filter names a campaign neither the file
        nor the API has: they see nothing of it. Run after each step, so a reload or an API
        campaign created or deleted is seen within a push."""
        config = self.service.merged_config()
        unknown = frozenset(unknown_filter_campaigns(config.users, config.campaigns))
        for user, campaign in sorted(unknown - self.unknown_campaigns):
            log.warning(
                "user_filter_names_unknown_campaign",
                user=user,
                campaign=campaign,
                detail="no campaign of this id in the settings file or created over the API; the user sees none",
            )
        self.unknown_campaigns = unknown

    async def _run(self) -> None:
        await self._seed()
        self.check_filters()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH):
                    await self._dirty.wait()
            await asyncio.sleep(COALESCE)
            self._dirty.clear()
            self.check_filters()
            with contextlib.suppress(ServiceStopping):  # stopping: show what the engine has
                await self.service.wait_committed()
            if self.pages:
                await self.refresh_figures()
                await self.push()

    async def refresh_figures(self, force: bool = False) -> None:
        """The campaigns' figures (contacts left, dialled, connects, abandon rate 24 h) from the
        store, read again when FIGURES_EVERY has passed (they are SQL counts, not per event)."""
        store = self.service.store
        if store is None or (not force and time.monotonic() - self._figures_at < FIGURES_EVERY):
            return
        self._figures_at = time.monotonic()
        now = self.service.clock()
        figures = {}
        for c in self.service.engine.settings.campaigns:
            try:
                figures[c.id] = await store.campaign_figures(c.id, now)
            except StoreError as error:  # the row shows its figures unknown; the log says why
                log.error("campaign_figures_not_read", campaign=c.id, error=str(error))
        self.figures = figures

    def snapshot(self) -> dict[str, Any]:
        self.pushes += 1
        return live_snapshot(self.service, self.today, figures=self.figures)

    async def stored_snapshot(self) -> dict[str, Any]:
        """A snapshot once what was fed so far is stored, as the pushes are: a page or an API
        client never sees a change the store might still lose (stopping: what the engine has)."""
        with contextlib.suppress(ServiceStopping):
            await self.service.wait_committed()
        return self.snapshot()

    async def push(self) -> None:
        snapshot = self.snapshot()
        await asyncio.gather(*(self._send(page, snapshot) for page in list(self.pages)))

    async def _send(self, page: LivePage, snapshot: dict[str, Any]) -> None:
        try:
            # One limit for all of it: a page that does not take its message, or its close, in
            # time holds up every other page's push.
            async with asyncio.timeout(SEND_TIMEOUT), page.sending:
                config = self.service.config
                current = _current(config, page.principal)
                revoked = _credential(config, page.principal) != page.credential
                if current is None or revoked or session_expired(page.request, page.principal):
                    await page.socket.send_str(json.dumps({"type": "expired"}))
                    await page.socket.close(code=EXPIRED, message=b"session expired")
                    return
                page.principal = current  # a reload that changed the user's role or filter applies at once
                message = self._message(page, snapshot)
                if message is not None:
                    await page.socket.send_str(json.dumps(message))
        except (ConnectionError, TimeoutError, RuntimeError) as error:
            log.info("live_page_dropped", user=page.principal.name, error=f"{type(error).__name__}: {error}")
            self.pages.discard(page)
            await _drop(page.socket)

    def _message(self, page: LivePage, snapshot: dict[str, Any]) -> dict[str, Any] | None:
        scope = scope_from_config(page.principal, self.service.merged_config())
        visible = filter_live(scope, snapshot)
        first = not page.sent
        message: dict[str, Any] = {"type": "snapshot" if first else "patch", "now": snapshot["now"]}
        changed = False
        for section, key in SECTIONS.items():
            rows = {str(row[key]): row for row in visible[section]}
            before = page.sent.get(section, {})
            upsert = [row for k, row in rows.items() if before.get(k) != row]
            remove = [k for k in before if k not in rows]
            page.sent[section] = rows
            if first:
                message[section] = visible[section]
            else:
                message[section] = {"upsert": upsert, "remove": remove}
                changed = changed or bool(upsert or remove)
        return message if first or changed else None

    async def socket(self, request: web.Request) -> web.StreamResponse:
        """GET /ws/live (guarded: any role may read; what they get is their scope)."""
        principal = principal_of(request)
        assert principal is not None
        _same_origin(request)
        socket = web.WebSocketResponse(heartbeat=20.0)
        await socket.prepare(request)
        page = LivePage(socket, request, principal, _presented(request, principal))
        await self.refresh_figures()
        # Joined before its snapshot is taken: a change after that snapshot reaches it as a patch,
        # not at the next quiet refresh.
        self.pages.add(page)
        await self._send(page, await self.stored_snapshot())
        try:
            async for message in socket:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self.pages.discard(page)
        return socket


async def _drop(socket: web.WebSocketResponse) -> None:
    """Close a broken or stalled page's socket without waiting on its reader. aiohttp may raise the
    cancelled wait of the send that timed out from here: the transport is closed all the same."""
    try:
        async with asyncio.timeout(1.0):
            await socket.close(drain=False)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the feed itself is being stopped
    except Exception:  # already broken: closing is best effort
        pass


def _current(config: HoldfastConfig, principal: Principal) -> Principal | None:
    """The principal as the running settings have it now; None if the user is gone."""
    if principal.via in ("session", "user_token"):
        return principal_for_user(config, principal.name, principal.via, principal.session_id)
    if principal.via == "admin_token" and config.service.admin_token is None:
        return None
    return principal


def _credential(config: HoldfastConfig, principal: Principal) -> str | None:
    """What the principal's credential is under these settings, to compare with the one the
    socket was opened with: a token's hash, "open", or None when it no longer exists. A session
    is checked by its cookie (session_expired)."""
    if principal.via == "open":
        return "open" if is_open(config) else None
    if principal.via == "admin_token":
        token = config.service.admin_token
        return None if token is None else hash_token(token.get_secret_value())
    if principal.via == "user_token":
        user = config.users.get(principal.name)
        return None if user is None else user.api_token_hash
    return "session"


def _presented(request: web.Request, principal: Principal) -> str | None:
    """The fingerprint (as `_credential` gives it) of the credential this request presented."""
    if principal.via in ("admin_token", "user_token"):
        return hash_token(request.headers.get("Authorization", "").partition(" ")[2])
    return "open" if principal.via == "open" else "session"


def _same_origin(request: web.Request) -> None:
    """A websocket is not covered by SameSite everywhere: refuse another site's page outright."""
    if not same_origin(request):
        raise ApiError(403, "the live feed only serves pages of this service (Origin differs from Host)")


LIVE_KEY = web.AppKey("live", LiveFeed)
