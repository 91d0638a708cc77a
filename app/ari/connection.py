"""The ARI events websocket: connect, read, reconnect with backoff, forever until closed.

Asterisk keeps no backlog for a disconnected app: whatever happened while we were away is lost.
So `on_connected` runs after *every* successful (re)connect, and it runs before the first event
of that connection is read, so the owner can re-read channels and bridges (GET /channels) and
then apply the events that follow on top of a fresh picture.

Events are handed to `on_event` synchronously (normally Dispatcher.submit, which only queues):
the reader never awaits a handler, so a slow handler cannot stall the socket or its heartbeat.

Failures and the backoff:
- a handshake must be answered within connect_timeout + request_timeout (an Asterisk that
  accepts TCP but never answers the upgrade, hung or stopped): past that it is a failed connect,
  logged, and retried after the backoff;
- the backoff is reset only by a connection that proved itself (it delivered an event, or lasted
  STABLE_AFTER seconds): a websocket that is closed as soon as it opens (a failing app
  registration, a proxy cutting upgraded connections) backs off like a refused one instead of
  reconnecting, and resyncing, several times a second;
- credentials refused (401/403) AUTH_REFUSALS_FATAL times in a row end the loop with
  EventsRefused: nothing but an operator changes that, and the service's watcher stops it loudly
  (critical log, non-zero exit) instead of running deaf. Any other failure (503, a reset, no
  answer) is retried for ever.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import aiohttp
import structlog

from app.ari.backoff import Backoff
from app.ari.config import AriConfig
from app.ari.errors import AriError
from app.ari.events import ApplicationReplaced, AriEvent, EventTranslator

log = structlog.get_logger(__name__)

# Seconds a connection must last (when it delivered no event) before the backoff starts again
# from its initial delay.
STABLE_AFTER = 30.0
# Handshakes refused with 401/403 in a row before the loop gives up (EventsRefused).
AUTH_REFUSALS_FATAL = 5


class EventsRefused(AriError):
    """Asterisk refused our credentials on every one of the last AUTH_REFUSALS_FATAL handshakes."""


Callback = Callable[[], Awaitable[None]]
ReplacedCallback = Callable[[ApplicationReplaced], Awaitable[None]]


class EventConnection:
    def __init__(
        self,
        config: AriConfig,
        on_event: Callable[[AriEvent], None],
        *,
        on_connected: Callback | None = None,
        on_disconnected: Callback | None = None,
        on_application_replaced: ReplacedCallback | None = None,
        backoff: Backoff | None = None,
        translator: EventTranslator | None = None,
    ) -> None:
        self._config = config
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._on_replaced = on_application_replaced
        self.backoff = backoff or Backoff(config.backoff_initial, config.backoff_max)
        self.translator = translator or EventTranslator()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._serving = False
        self._connected_event = asyncio.Event()
        # Counters for /metrics.
        self.connects = 0  # successful handshakes, the first one included
        self.reconnects = 0  # successful handshakes after the first
        self.connect_failures = 0
        self.events_received = 0
        self.received_by_type: Counter[str] = Counter()  # events_received per ARI event type
        self.replaced = False
        self.last_delay: float | None = None
        self.stable_after = STABLE_AFTER
        self.auth_refusals_fatal = AUTH_REFUSALS_FATAL
        self.auth_refusals = 0  # handshakes refused with 401/403 in a row
        self._last_refusal: int | None = None

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("EventConnection.start() called twice")
        self._task = asyncio.create_task(self._run(), name=f"ari-events:{self._config.app}")
        self._task.add_done_callback(self._log_exit)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait for the first successful connection (for startup and tests)."""
        await asyncio.wait_for(self._connected_event.wait(), timeout)

    async def wait_stopped(self) -> None:
        """Returns when the loop ends: after close(), or after ApplicationReplaced."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def drop(self) -> None:
        """Close the current websocket but not the connection: the loop connects again after its
        backoff and `on_connected` runs again (e.g. to retry a resync that could not read Asterisk).
        Safe to call from `on_connected` itself."""
        ws = self._ws
        if ws is not None and not ws.closed:
            log.info("ari_events_dropped", app=self._config.app)
            await ws.close()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop for good. If connected, close the socket and let on_disconnected run."""
        self._closing = True
        task = self._task
        if self._serving:
            ws = self._ws
            if ws is not None and not ws.closed:
                await ws.close()
            if task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout)
                except TimeoutError:
                    log.warning("ari_events_close_timeout")
                except Exception:
                    pass  # already logged by _log_exit
        if task is not None and not task.done():
            # In a backoff sleep or a handshake: nothing there worth finishing.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # -- the loop ---------------------------------------------------------------------------

    def _make_session(self) -> aiohttp.ClientSession:
        # Our own session: the REST session's total timeout must not apply to a websocket
        # that stays open for days.
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=self._config.connect_timeout))

    async def _run(self) -> None:
        self._session = self._make_session()
        while not self._closing:
            try:
                ws = await self._connect()
                if ws is not None:
                    loop = asyncio.get_running_loop()
                    started, events_before = loop.time(), self.events_received
                    await self._serve(ws)
                    if self.events_received > events_before or loop.time() - started >= self.stable_after:
                        self.backoff.reset()  # a working connection: the next outage starts afresh
                    if self.replaced and not self._config.reconnect_after_replaced:
                        log.warning("ari_events_stopped_replaced", app=self._config.app)
                        return
                elif self.auth_refusals >= self.auth_refusals_fatal:
                    log.critical(
                        "ari_events_credentials_refused",
                        app=self._config.app,
                        refusals=self.auth_refusals,
                        url=self._config.events_url,
                    )
                    raise EventsRefused(
                        self._last_refusal, "GET", "/events", f"credentials refused {self.auth_refusals} times in a row"
                    )
            except EventsRefused:
                raise
            except Exception:
                # A bug here must not leave the service deaf for good: log, back off, retry.
                log.exception("ari_events_loop_error")
            if not self._closing:
                await self._sleep_backoff()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        assert self._session is not None
        params = {"app": self._config.app, "subscribeAll": "true" if self._config.subscribe_all else "false"}
        url = self._config.events_url  # no password in it (AriConfig.rest_url)
        # The session's connect timeout covers the TCP connect only, not the wait for the 101.
        limit = self._config.connect_timeout + self._config.request_timeout
        try:
            async with asyncio.timeout(limit):
                ws = await self._session.ws_connect(
                    self._config.events_url,
                    params=params,
                    headers={"Authorization": self._config.auth_header},
                    heartbeat=self._config.heartbeat,
                )
        except aiohttp.WSServerHandshakeError as exc:
            self.connect_failures += 1
            refused = exc.status in (401, 403)
            self.auth_refusals = self.auth_refusals + 1 if refused else 0
            self._last_refusal = exc.status
            level = log.error if refused else log.warning
            level("ari_events_refused", status=exc.status, message=exc.message, url=url)
            return None
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            self.connect_failures += 1
            self.auth_refusals = 0
            # asyncio.timeout's own (aiohttp's timeouts are subclasses, with their own message)
            unanswered = type(exc) is TimeoutError
            error = f"handshake not answered within {limit} s" if unanswered else f"{type(exc).__name__}: {exc}"
            log.warning("ari_events_connect_failed", error=error, url=url)
            return None
        self.auth_refusals = 0
        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1
        log.info("ari_events_connected", app=self._config.app, connects=self.connects)
        return ws

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._serving = True
        self._connected_event.set()
        try:
            await self._call("on_connected", self._on_connected)
            async for msg in ws:
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    await self._handle_message(msg.data)
                    if self.replaced and not self._config.reconnect_after_replaced:
                        break
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    log.warning("ari_events_socket_error", error=str(ws.exception()))
                    break
        finally:
            self._ws = None
            if not ws.closed:
                await ws.close()
            log.info("ari_events_disconnected", app=self._config.app, close_code=ws.close_code, closing=self._closing)
            try:
                await self._call("on_disconnected", self._on_disconnected)
            finally:
                self._serving = False

    async def _handle_message(self, data: str | bytes) -> None:
        event = self.translator.translate(data)
        if event is None:
            return
        self.events_received += 1
        self.received_by_type[event.type] += 1
        if isinstance(event, ApplicationReplaced):
            self.replaced = True
            log.warning("ari_application_replaced", app=self._config.app)
            if self._on_replaced is not None:
                try:
                    await self._on_replaced(event)
                except Exception:
                    log.exception("ari_callback_failed", callback="on_application_replaced")
        try:
            self._on_event(event)
        except Exception:
            # on_event should only queue; if it fails anyway the reader must survive it.
            log.exception("ari_on_event_failed", **event.log_ids())

    async def _call(self, name: str, callback: Callback | None) -> None:
        if callback is None:
            return
        try:
            await callback()
        except Exception:
            log.exception("ari_callback_failed", callback=name)

    async def _sleep_backoff(self) -> None:
        delay = self.backoff.next_delay()
        self.last_delay = delay
        log.info("ari_events_retry", delay=round(delay, 3), attempt=self.backoff.attempt)
        await asyncio.sleep(delay)

    def _log_exit(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None or isinstance(task.exception(), EventsRefused):
            return  # a refusal was logged (critical) where it was decided
        log.error("ari_events_loop_crashed", exc_info=task.exception())
