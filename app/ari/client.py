"""AriClient: one object for the telephony layer — REST wrappers plus the event stream.

    ari = AriClient(AriConfig("http://127.0.0.1:8088/ari", "holdfast", "secret", app="holdfast"))
    ari.start_events(handle_event, on_connected=resync)
    await ari.channels.answer(channel_id)
    ...
    await ari.close()  # stops the websocket, drains queued events, closes HTTP

Events are delivered through a Dispatcher (ordered per channel, concurrent across channels).
"""

from __future__ import annotations

import aiohttp

from app.ari.backoff import Backoff
from app.ari.bridges import BridgesApi
from app.ari.channels import ChannelsApi
from app.ari.config import AriConfig
from app.ari.connection import Callback, EventConnection, ReplacedCallback
from app.ari.dispatch import Dispatcher, EventHandler
from app.ari.recordings import RecordingsApi
from app.ari.resources import ApplicationsApi, AsteriskApi, EndpointsApi, PlaybacksApi
from app.ari.rest import AriRest


class AriClient:
    def __init__(self, config: AriConfig, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self.rest = AriRest(config, session)
        self.channels = ChannelsApi(self.rest)
        self.bridges = BridgesApi(self.rest)
        self.endpoints = EndpointsApi(self.rest)
        self.applications = ApplicationsApi(self.rest)
        self.asterisk = AsteriskApi(self.rest)
        self.playbacks = PlaybacksApi(self.rest)
        self.recordings = RecordingsApi(self.rest)
        self.dispatcher: Dispatcher | None = None
        self.events: EventConnection | None = None

    def start_events(
        self,
        handler: EventHandler,
        *,
        on_connected: Callback | None = None,
        on_disconnected: Callback | None = None,
        on_application_replaced: ReplacedCallback | None = None,
        backoff: Backoff | None = None,
    ) -> EventConnection:
        """Connect the events websocket (in the background) and deliver events to `handler`.

        `on_connected` runs after every (re)connect, before that connection's first event:
        re-read channels and bridges there. Returns the connection (counters, wait_connected).
        """
        if self.events is not None:
            raise RuntimeError("events already started")
        self.dispatcher = Dispatcher(handler)
        self.events = EventConnection(
            self.config,
            self.dispatcher.submit,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            on_application_replaced=on_application_replaced,
            backoff=backoff,
        )
        self.events.start()
        return self.events

    def metrics(self) -> dict[str, int]:
        """Counters for /metrics; all monotonic except `connected`, `pending_events`."""
        ev, disp = self.events, self.dispatcher
        return {
            "rest_requests": self.rest.requests,
            "rest_failures": self.rest.failures,
            "connected": int(ev.connected) if ev else 0,
            "connects": ev.connects if ev else 0,
            "reconnects": ev.reconnects if ev else 0,
            "connect_failures": ev.connect_failures if ev else 0,
            "events_received": ev.events_received if ev else 0,
            "events_dropped": ev.translator.dropped if ev else 0,
            "events_unknown": ev.translator.unknown if ev else 0,
            "events_delivered": disp.delivered if disp else 0,
            "handler_errors": disp.handler_errors if disp else 0,
            "pending_events": disp.pending if disp else 0,
        }

    def breakdown(self) -> dict[str, dict[str, int]]:
        """Counters by kind for /metrics (all monotonic): REST requests by what they do ("POST
        /bridges/{id}/addChannel"), events received by type, and copies dropped by type (events
        Asterisk sent twice: see dispatch.py). What a call costs, request by request."""
        ev, disp = self.events, self.dispatcher
        return {
            "rest_requests": dict(self.rest.by_kind),
            "events_received": dict(ev.received_by_type) if ev else {},
            "event_copies_dropped": dict(disp.duplicates.dropped_by_type) if disp else {},
        }

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Stop reading events, let handlers finish what is queued, then close HTTP."""
        if self.events is not None:
            await self.events.close()
        if self.dispatcher is not None:
            await self.dispatcher.close(drain_timeout)
        await self.rest.close()

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
