"""A fake Asterisk ARI server for fast shell tests (no Asterisk needed).

It implements the REST routes the service uses with plausible state (channels, bridges,
endpoints, playbacks, variables) and Asterisk's error codes (404 for unknown ids, 400 for missing
parameters, 422 for an unknown channel in addChannel), records every REST call, and serves the
events websocket. Tests push events, drop sockets, refuse connections, and inject failures.

    async with FakeAri() as fake:
        client = AriClient(fake.config())
        client.start_events(handler)
        await fake.wait_ws_connected()
        chan = fake.add_channel(caller_number="0612345678")
        await fake.push_event("StasisStart", channel=chan, args=["inbound"])
        await client.channels.answer(chan["id"])
        call = await fake.wait_for_call("POST", f"/channels/{chan['id']}/answer")

Paths in the recorded calls are relative to /ari (e.g. "/channels/ID/answer"), query values are
plain strings as sent on the wire. Event builders (channel_json, bridge_json, playback_json,
endpoint_json, event_json) are module functions so other tests can build payloads too.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import WSCloseCode, web

from app.ari.config import AriConfig

ASTERISK_ID = "02:42:ac:11:00:02"
HANGUP_REASONS = {
    "normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated",
    "normal_unspecified", "number_incomplete", "codec_mismatch", "interworking", "failure",
    "answered_elsewhere",
}  # fmt: skip

Json = dict[str, Any]


_last_ms = 0


def ari_now() -> str:
    """ARI's timestamp format: 2024-05-02T10:20:30.123+0000. Never the same twice: two events
    pushed within a millisecond are different events, as they always are from Asterisk (the
    dispatcher drops exact copies, which Asterisk sends when subscriptions overlap)."""
    global _last_ms
    ms = max(int(datetime.now(UTC).timestamp() * 1000), _last_ms + 1)
    _last_ms = ms
    now = datetime.fromtimestamp(ms / 1000, UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


_counter = itertools.count(1)


def channel_json(
    channel_id: str | None = None,
    *,
    name: str | None = None,
    state: str = "Up",
    caller_number: str = "",
    caller_name: str = "",
    connected_number: str = "",
    connected_name: str = "",
    context: str = "from-trunk",
    exten: str = "s",
    priority: int = 1,
    language: str = "en",
    channelvars: dict[str, str] | None = None,
) -> Json:
    channel_id = channel_id or str(uuid.uuid4())
    data: Json = {
        "id": channel_id,
        "name": name or f"PJSIP/trunk-{next(_counter):08x}",
        "state": state,
        "protocol_id": f"{uuid.uuid4()}@127.0.0.1",
        "caller": {"name": caller_name, "number": caller_number},
        "connected": {"name": connected_name, "number": connected_number},
        "accountcode": "",
        "dialplan": {
            "context": context,
            "exten": exten,
            "priority": priority,
            "app_name": "Stasis",
            "app_data": "holdfast",
        },
        "creationtime": ari_now(),
        "language": language,
    }
    if channelvars is not None:
        data["channelvars"] = channelvars
    return data


def bridge_json(
    bridge_id: str | None = None, *, bridge_type: str = "mixing", name: str = "", channels: list[str] | None = None
) -> Json:
    kind = bridge_type.split(",")[0] if bridge_type else "mixing"
    return {
        "id": bridge_id or str(uuid.uuid4()),
        "technology": "holding_bridge" if kind == "holding" else "simple_bridge",
        "bridge_type": kind,
        "bridge_class": "stasis",
        "creator": "Stasis",
        "name": name,
        "channels": list(channels or []),
        "creationtime": ari_now(),
        "video_mode": "none",
    }


def playback_json(
    playback_id: str | None = None, *, media_uri: str = "sound:beep", target_uri: str = "", state: str = "queued"
) -> Json:
    return {
        "id": playback_id or str(uuid.uuid4()),
        "media_uri": media_uri,
        "target_uri": target_uri,
        "language": "en",
        "state": state,
    }


def endpoint_json(technology: str, resource: str, state: str = "online", channel_ids: list[str] | None = None) -> Json:
    return {"technology": technology, "resource": resource, "state": state, "channel_ids": channel_ids or []}


def event_json(event_type: str, *, application: str = "holdfast", **fields: Any) -> Json:
    return {
        "type": event_type,
        "timestamp": ari_now(),
        "application": application,
        "asterisk_id": ASTERISK_ID,
        **fields,
    }


@dataclass
class RecordedCall:
    method: str
    path: str  # relative to /ari, e.g. "/channels/ID/answer"
    query: dict[str, str]
    body: Any = None
    status: int = 0  # the status the fake answered
    handled: bool = False  # answered and its on_request hooks have run

    def param(self, name: str) -> str | None:
        return self.query.get(name)


@dataclass
class _Rule:
    method: str
    pattern: re.Pattern[str]
    times: int | None  # None = until removed
    status: int = 500
    message: str = "Internal Server Error"
    delay: float = 0.0
    body: Json | None = None
    apply: bool = False  # carry the request out anyway (Asterisk did it, the answer went wrong)
    error_after: float = 0.0  # seconds before the error answer

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.fullmatch(path) is not None


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    request: web.Request
    app: str


RequestHook = Callable[[RecordedCall], Awaitable[None] | None]


@dataclass
class _State:
    channels: dict[str, Json] = field(default_factory=dict)
    bridges: dict[str, Json] = field(default_factory=dict)
    endpoints: dict[str, Json] = field(default_factory=dict)  # "PJSIP/agent1" -> endpoint
    playbacks: dict[str, Json] = field(default_factory=dict)
    # Stored recordings by name: {"name", "format", "file": bytes}; a bridge recording adds one.
    recordings: dict[str, Json] = field(default_factory=dict)
    # Recordings being made, by name → the bridge they record; they end with their bridge.
    live_recordings: dict[str, str] = field(default_factory=dict)
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # channel id -> vars
    subscriptions: set[str] = field(default_factory=set)
    # The app's event filter (PUT /applications/{app}/eventFilter); empty allowed: all types.
    events_allowed: list[str] = field(default_factory=list)
    events_disallowed: list[str] = field(default_factory=list)


def _err(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


class FakeAri:
    """See the module docstring. All public state is plain dicts you may read or edit."""

    def __init__(self, *, username: str = "holdfast", password: str = "secret", app: str = "holdfast") -> None:
        self.username = username
        self.password = password
        self.app_name = app
        self.startup_time = "2026-01-01T08:00:00.000+0000"  # stable until restart_asterisk()
        self.system_name = ""  # asterisk.conf's systemname (several servers need distinct ones)
        self.state = _State()
        self.calls: list[RecordedCall] = []
        self.on_request: list[RequestHook] = []
        self.ws_attempts = 0  # upgrade requests, refused ones included
        self.ws_refused = 0
        self.ws_connects = 0  # accepted websockets, total
        self.events_sent = 0
        self.events_filtered = 0  # pushed events the app's event filter kept from the websockets
        self.auth_failures = 0  # REST calls and websocket upgrades with wrong credentials
        self.in_flight = 0  # REST requests being answered now
        self.peak_concurrency = 0  # the most at once
        self._rules: list[_Rule] = []
        self._refuse_remaining: int | None = 0  # None = refuse until accept_websocket()
        self._refuse_status = 503
        self._sockets: list[_Socket] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def restart_asterisk(self) -> None:
        """Look like an Asterisk that started afresh: a new startup time, no channels."""
        self.startup_time = ari_now()
        for channel_id in list(self.channels):
            self.remove_channel(channel_id)
        self.state.events_allowed, self.state.events_disallowed = [], []  # Asterisk keeps no filter

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes no public way to read the bound port
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        await self.drop_websockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAri:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ari"

    def config(self, **overrides: Any) -> AriConfig:
        """An AriConfig for this fake, with test-friendly (fast) timeouts and backoff."""
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "username": self.username,
            "password": self.password,
            "app": self.app_name,
            "request_timeout": 2.0,
            "connect_timeout": 2.0,
            "heartbeat": 5.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
        }
        values.update(overrides)
        return AriConfig(**values)

    # -- state helpers -----------------------------------------------------------------------

    @property
    def channels(self) -> dict[str, Json]:
        return self.state.channels

    @property
    def bridges(self) -> dict[str, Json]:
        return self.state.bridges

    @property
    def endpoints(self) -> dict[str, Json]:
        return self.state.endpoints

    @property
    def playbacks(self) -> dict[str, Json]:
        return self.state.playbacks

    def add_channel(self, channel_id: str | None = None, **kwargs: Any) -> Json:
        """Create a channel as if it had arrived (kwargs: see channel_json). Returns its JSON."""
        chan = channel_json(channel_id, **kwargs)
        self.state.channels[chan["id"]] = chan
        return chan

    def remove_channel(self, channel_id: str) -> Json | None:
        for bridge in self.state.bridges.values():
            if channel_id in bridge["channels"]:
                bridge["channels"].remove(channel_id)
        return self.state.channels.pop(channel_id, None)

    def add_endpoint(self, technology: str, resource: str, state: str = "online") -> Json:
        ep = endpoint_json(technology, resource, state)
        self.state.endpoints[f"{technology}/{resource}"] = ep
        return ep

    # -- recorded calls ----------------------------------------------------------------------

    def calls_to(self, method: str, path: str) -> list[RecordedCall]:
        """Calls matching method ("*" for any) and a path regex (full match)."""
        pattern = re.compile(path)
        return [c for c in self.calls if method in ("*", c.method) and pattern.fullmatch(c.path)]

    async def wait_for_call(self, method: str, path: str, timeout: float = 2.0, count: int = 1) -> RecordedCall:
        """Wait until `count` calls match (method, path regex) and their `on_request` hooks have
        run; returns the last one."""

        def handled() -> list[RecordedCall]:
            return [c for c in self.calls_to(method, path) if c.handled]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(handled()) >= count), timeout)
        return handled()[count - 1]

    # -- failure injection -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int = 500,
        message: str = "Internal Server Error",
        times: int | None = 1,
        body: Json | None = None,
        apply: bool = False,
        after: float = 0.0,
    ) -> None:
        """Answer the next `times` matching calls (None: all) with `status` and {"message": ...}
        (or `body`, e.g. {"error": "Allocation failed"} as Asterisk sometimes sends).
        With `apply` the call still takes effect (e.g. the channel is created) before the error.
        With `after` the error comes that many seconds late (longer than the client's request
        timeout: an Asterisk that does not answer)."""
        rule = _Rule(method, re.compile(path), times, status, message, body=body, apply=apply, error_after=after)
        self._rules.append(rule)

    def delay(self, method: str, path: str, seconds: float, times: int | None = 1, apply_first: bool = False) -> None:
        """Hold matching calls for `seconds` before handling them (to test timeouts). With
        `apply_first` the call takes effect at once and only the answer is late."""
        self._rules.append(_Rule(method, re.compile(path), times, status=0, delay=seconds, apply=apply_first))

    def clear_rules(self) -> None:
        self._rules.clear()

    # -- websocket control -------------------------------------------------------------------

    @property
    def ws_open(self) -> int:
        return len(self._sockets)

    def refuse_websocket(self, times: int | None = None, status: int = 503) -> None:
        """Refuse the next `times` websocket upgrades with HTTP `status` (None: until accepted)."""
        self._refuse_remaining = times
        self._refuse_status = status

    def accept_websocket(self) -> None:
        self._refuse_remaining = 0

    async def wait_ws_connected(self, count: int = 1, timeout: float = 2.0) -> None:
        """Wait until `count` websockets have been accepted in total (not necessarily open)."""
        await self._wait(lambda: self.ws_connects >= count, timeout)

    async def wait_ws_attempts(self, count: int, timeout: float = 2.0) -> None:
        await self._wait(lambda: self.ws_attempts >= count, timeout)

    async def wait_ws_closed(self, timeout: float = 2.0) -> None:
        await self._wait(lambda: not self._sockets, timeout)

    async def drop_websockets(self, abrupt: bool = False) -> int:
        """Close every events websocket: a clean close frame, or (abrupt) just the TCP socket."""
        sockets, dropped = list(self._sockets), 0
        for sock in sockets:
            if abrupt and sock.request.transport is not None:
                sock.request.transport.close()
            else:
                await sock.ws.close(code=WSCloseCode.GOING_AWAY, message=b"fake ari drop")
            dropped += 1
        return dropped

    async def push(self, event: Json | str) -> int:
        """Send one event (a dict, or raw text to test garbage) to every open websocket.
        Returns how many sockets got it (0 means it was lost, as Asterisk would lose it, or the
        app's event filter kept it back, as Asterisk's would: counted in `events_filtered`)."""
        if isinstance(event, dict) and not self.event_allowed(str(event.get("type", ""))):
            self.events_filtered += 1
            return 0
        sent = 0
        for sock in list(self._sockets):
            if sock.ws.closed:
                continue
            if isinstance(event, str):
                await sock.ws.send_str(event)
            else:
                await sock.ws.send_json(event)
            sent += 1
        self.events_sent += sent
        return sent

    def event_allowed(self, event_type: str) -> bool:
        """Asterisk's rule: disallowed wins; an empty allowed list allows every type."""
        st = self.state
        if event_type in st.events_disallowed:
            return False
        return not st.events_allowed or event_type in st.events_allowed

    async def push_event(self, event_type: str, **fields: Any) -> int:
        """push(event_json(type, **fields)) with this fake's app name."""
        return await self.push(event_json(event_type, application=self.app_name, **fields))

    # -- internals ---------------------------------------------------------------------------

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except ValueError:
                return False
            return scheme.lower() == "basic" and decoded == f"{self.username}:{self.password}"
        # ARI also accepts ?api_key=user:password
        return request.query.get("api_key") == f"{self.username}:{self.password}"

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not self._authorized(request):
            self.auth_failures += 1
            if request.path == "/ari/events":
                self.ws_attempts += 1
            await self._notify()
            return _err(401, "Authentication required")
        return await handler(request)

    def _take_rule(self, method: str, path: str) -> _Rule | None:
        for rule in self._rules:
            if rule.matches(method, path):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_concurrency = max(self.peak_concurrency, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        # The raw (still percent-encoded) path, so "/" inside an id stays one segment.
        path = request.rel_url.raw_path.removeprefix("/ari")
        body: Any = None
        if request.can_read_body:
            text = await request.text()
            if text:
                try:
                    body = await request.json()
                except ValueError:
                    return _err(400, "Invalid JSON body")
        call = RecordedCall(request.method, path, dict(request.query), body)
        self.calls.append(call)
        resp: web.StreamResponse
        rule = self._take_rule(request.method, path)
        if rule is not None and rule.delay:
            applied = self._route(request.method, path, request.query, body) if rule.apply else None
            await asyncio.sleep(rule.delay)
            resp = applied or self._route(request.method, path, request.query, body)
        elif rule is not None:
            if rule.apply:
                self._route(request.method, path, request.query, body)
            if rule.error_after:
                await asyncio.sleep(rule.error_after)
            resp = web.json_response(rule.body, status=rule.status) if rule.body else _err(rule.status, rule.message)
        else:
            resp = self._route(request.method, path, request.query, body)
        call.status = resp.status
        # Hooks first, then wake the waiters: a test that waits for this call may look at what
        # its hooks recorded (e.g. the store as it was when Asterisk was told).
        for hook in list(self.on_request):
            result = hook(call)
            if result is not None:
                await result
        call.handled = True
        await self._notify()
        return resp

    # -- REST routes -------------------------------------------------------------------------

    def _route(self, method: str, path: str, q: Any, body: Any) -> web.Response:
        parts = [unquote(p) for p in path.split("/") if p]
        head = parts[0] if parts else ""
        handler = {
            "channels": self._channels,
            "bridges": self._bridges,
            "endpoints": self._endpoints,
            "applications": self._applications,
            "asterisk": self._asterisk,
            "playbacks": self._playbacks,
            "recordings": self._recordings,
        }.get(head)
        if handler is None:
            return _err(404, "Resource not found")
        return handler(method, parts[1:], q, body)

    def _vars_from_body(self, body: Any) -> dict[str, str]:
        if isinstance(body, dict) and isinstance(body.get("variables"), dict):
            return {str(k): str(v) for k, v in body["variables"].items()}
        return {}

    def _originate(self, q: Any, body: Any, channel_id: str | None) -> web.Response:
        endpoint = q.get("endpoint")
        if not endpoint:
            return _err(400, "Endpoint must be specified")
        chan_id = channel_id or q.get("channelId") or str(uuid.uuid4())
        if chan_id in self.state.channels:
            return _err(409, "Channel with given unique ID already exists")
        caller = q.get("callerId", "")
        m = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', caller)
        name, number = (m.group(1), m.group(2)) if m else ("", caller)
        chan = channel_json(
            chan_id,
            name=f"{endpoint.split('@')[0]}-{next(_counter):08x}",
            state="Down",
            caller_number=number,
            caller_name=name,
            context=q.get("context", "default"),
            exten=q.get("extension", "s"),
        )
        self.state.channels[chan_id] = chan
        self.state.variables[chan_id] = self._vars_from_body(body)
        return web.json_response(chan)

    def _channels(self, method: str, parts: list[str], q: Any, body: Any) -> web.Response:
        st = self.state
        if not parts:
            if method == "GET":
                return web.json_response(list(st.channels.values()))
            if method == "POST":
                return self._originate(q, body, None)
            return _err(405, "Method not allowed")
        chan_id, rest = parts[0], parts[1:]
        if not rest and method == "POST":
            return self._originate(q, body, chan_id)
        chan = st.channels.get(chan_id)
        if chan is None:
            return _err(404, "Channel not found")
        action = rest[0] if rest else ""
        no_content = web.Response(status=204)
        match (method, action):
            case ("GET", ""):
                return web.json_response(chan)
            case ("DELETE", ""):
                reason = q.get("reason")
                if reason is not None and reason not in HANGUP_REASONS:
                    return _err(400, "Invalid reason for hangup provided")
                self.remove_channel(chan_id)
                return no_content
            case ("POST", "answer"):
                chan["state"] = "Up"
                return no_content
            case ("POST", "ring"):
                chan["state"] = "Ringing" if chan["state"] != "Up" else chan["state"]
                return no_content
            case ("DELETE", "ring") | ("POST", "moh") | ("DELETE", "moh") | ("POST", "continue"):
                return no_content
            case ("POST", "dtmf"):
                if not q.get("dtmf"):
                    return _err(400, "DTMF is required")
                return no_content
            case ("POST", "play"):
                if not q.get("media"):
                    return _err(400, "media must be specified")
                pb = playback_json(
                    q.get("playbackId"), media_uri=q["media"].split(",")[0], target_uri=f"channel:{chan_id}"
                )
                st.playbacks[pb["id"]] = pb
                return web.json_response(pb, status=201)
            case ("GET", "variable"):
                name = q.get("variable")
                if not name:
                    return _err(400, "Variable name is required")
                value = st.variables.get(chan_id, {}).get(name)
                if value is None:
                    return _err(404, "Provided variable was not found")
                return web.json_response({"value": value})
            case ("POST", "variable"):
                name = q.get("variable")
                if not name:
                    return _err(400, "Variable name is required")
                st.variables.setdefault(chan_id, {})[name] = q.get("value", "")
                return no_content
            case ("GET", "rtp_statistics"):
                return web.json_response(
                    {"txcount": 250, "rxcount": 248, "txploss": 0, "rxploss": 2, "txjitter": 0.000125,
                     "rxjitter": 0.002, "rtt": 0.0121, "local_ssrc": 11, "remote_ssrc": 22,
                     "txoctetcount": 40000, "rxoctetcount": 39680, "channel_uniqueid": "1714644030.12"}
                )  # fmt: skip
        return _err(404, "Resource not found")

    def _bridges(self, method: str, parts: list[str], q: Any, body: Any) -> web.Response:
        st = self.state
        if not parts:
            if method == "GET":
                return web.json_response(list(st.bridges.values()))
            if method == "POST":
                if q.get("bridgeId") in st.bridges:
                    return _err(409, f"Bridge with id '{q['bridgeId']}' already exists")
                bridge = bridge_json(q.get("bridgeId"), bridge_type=q.get("type", "mixing"), name=q.get("name", ""))
                st.bridges[bridge["id"]] = bridge
                return web.json_response(bridge)
            return _err(405, "Method not allowed")
        bridge_id, rest = parts[0], parts[1:]
        if not rest and method == "POST":
            if bridge_id in st.bridges:
                return _err(409, f"Bridge with id '{bridge_id}' already exists")
            created = bridge_json(bridge_id, bridge_type=q.get("type", "mixing"), name=q.get("name", ""))
            st.bridges[bridge_id] = created
            return web.json_response(created)
        found = st.bridges.get(bridge_id)
        if found is None:
            return _err(404, "Bridge not found")
        bridge = found
        action = rest[0] if rest else ""
        no_content = web.Response(status=204)
        match (method, action):
            case ("GET", ""):
                return web.json_response(bridge)
            case ("DELETE", ""):
                del st.bridges[bridge_id]
                for name in [n for n, b in st.live_recordings.items() if b == bridge_id]:
                    del st.live_recordings[name]
                return no_content
            case ("POST", "addChannel"):
                ids = [c for c in q.get("channel", "").split(",") if c]
                if not ids:
                    return _err(400, "Missing parameter channel")
                if any(c not in st.channels for c in ids):
                    return _err(422, "Channel not found")
                for c in ids:
                    for other in st.bridges.values():
                        if c in other["channels"]:
                            other["channels"].remove(c)
                    bridge["channels"].append(c)
                return no_content
            case ("POST", "removeChannel"):
                ids = [c for c in q.get("channel", "").split(",") if c]
                if not ids:
                    return _err(400, "Missing parameter channel")
                if any(c not in bridge["channels"] for c in ids):
                    return _err(422, "Channel not in this bridge")
                for c in ids:
                    bridge["channels"].remove(c)
                return no_content
            case ("POST", "moh") | ("DELETE", "moh"):
                return no_content
            case ("POST", "record"):
                name, fmt = q.get("name", ""), q.get("format", "wav")
                if name in st.live_recordings:
                    return _err(409, "A recording with the same name is currently in progress")
                if name in st.recordings and q.get("ifExists", "fail") == "fail":
                    return _err(409, "Recording with the same name already exists")
                before = st.recordings[name]["file"] if name in st.recordings and q.get("ifExists") == "append" else b""
                audio = b"RIFF" + name.encode() + b"audio" * 100
                st.recordings[name] = {"name": name, "format": fmt, "file": before + audio}
                st.live_recordings[name] = bridge_id
                live = {"name": name, "format": fmt, "state": "recording", "target_uri": f"bridge:{bridge_id}"}
                return web.json_response(live, status=201)
            case ("POST", "play"):
                if not q.get("media"):
                    return _err(400, "media must be specified")
                pb = playback_json(
                    q.get("playbackId"), media_uri=q["media"].split(",")[0], target_uri=f"bridge:{bridge_id}"
                )
                st.playbacks[pb["id"]] = pb
                return web.json_response(pb, status=201)
        return _err(404, "Resource not found")

    def _recordings(self, method: str, parts: list[str], q: Any, body: Any) -> web.Response:
        if len(parts) >= 2 and parts[0] == "live":
            name = parts[1]
            if name not in self.state.live_recordings:
                return _err(404, "Recording not found")
            if method == "GET" and parts[2:] == []:
                fmt = self.state.recordings.get(name, {}).get("format", "wav")
                target = f"bridge:{self.state.live_recordings[name]}"
                return web.json_response({"name": name, "format": fmt, "state": "recording", "target_uri": target})
            if method == "POST" and parts[2:] == ["stop"]:
                del self.state.live_recordings[name]
                return web.Response(status=204)
            return _err(404, "Resource not found")
        if parts == ["stored"] and method == "GET":  # the spool's list: name and format only
            listed = [{"name": r["name"], "format": r["format"]} for r in self.state.recordings.values()]
            return web.json_response(listed)
        if len(parts) < 2 or parts[0] != "stored":
            return _err(404, "Resource not found")
        found = self.state.recordings.get(parts[1])
        if found is None:
            return _err(404, "Recording not found")
        match (method, parts[2:]):
            case ("GET", []):
                return web.json_response({"name": found["name"], "format": found["format"]})
            case ("DELETE", []):
                del self.state.recordings[parts[1]]
                return web.Response(status=204)
            case ("GET", ["file"]):
                return web.Response(body=found["file"], content_type="application/octet-stream")
        return _err(404, "Resource not found")

    def _endpoints(self, method: str, parts: list[str], q: Any, body: Any) -> web.Response:
        if method != "GET":
            return _err(405, "Method not allowed")
        eps = list(self.state.endpoints.values())
        if not parts:
            return web.json_response(eps)
        if len(parts) == 1:
            matching = [e for e in eps if e["technology"] == parts[0]]
            return web.json_response(matching) if matching else _err(404, "No Endpoints found - invalid tech")
        ep = self.state.endpoints.get(f"{parts[0]}/{parts[1]}")
        return web.json_response(ep) if ep else _err(404, "Endpoint not found")

    def _application_json(self) -> Json:
        subs = self.state.subscriptions
        return {
            "name": self.app_name,
            "channel_ids": [s.split(":", 1)[1] for s in subs if s.startswith("channel:")],
            "bridge_ids": [s.split(":", 1)[1] for s in subs if s.startswith("bridge:")],
            "endpoint_ids": sorted(s.split(":", 1)[1] for s in subs if s.startswith("endpoint:")),
            "device_names": [s.split(":", 1)[1] for s in subs if s.startswith("deviceState:")],
            "events_allowed": [{"type": t} for t in self.state.events_allowed],
            "events_disallowed": [{"type": t} for t in self.state.events_disallowed],
        }

    def _applications(self, method: str, parts: list[str], q: Any, body: Any) -> web.Response:
        if not parts or parts[0] != self.app_name:
            return _err(404, "Application not found")
        if len(parts) == 1 and method == "GET":
            return web.json_response(self._application_json())
        if len(parts) == 2 and parts[1] == "subscription" and method in ("POST", "DELETE"):
            sources = [s for s in q.get("eventSource", "").split(",") if s]
            if not sources:
                return _err(400, "Missing parameter eventSource")
            for source in sources:
                if method == "POST":
                    self.state.subscriptions.add(source)
                else:
                    self.state.subscriptions.discard(source)
            return web.json_response(self._application_json())
        if len(parts) == 2 and parts[1] == "eventFilter" and method == "PUT":
            # Asterisk's rules: an empty body clears both lists; a list given is set, one left out stays.
            spec = body if isinstance(body, dict) else {}
            for key, attr in (("allowed", "events_allowed"), ("disallowed", "events_disallowed")):
                if not spec or key in spec:
                    items = spec.get(key) or []
                    if not all(isinstance(i, dict) and isinstance(i.get("type"), str) for i in items):
                        return _err(400, f"Invalid '{key}' filter")
                    setattr(self.state, attr, [i["type"] for i in items])
            return web.json_response(self._application_json())
        return _err(404, "Resource not found")

    def _asterisk(self, method: str, parts: list[str], q: Any, body: Any) -> web.Response:
        if method == "GET" and parts == ["ping"]:
            return web.json_response({"asterisk_id": ASTERISK_ID, "ping": "pong", "timestamp": ari_now()})
        if method == "GET" and parts == ["info"]:
            return web.json_response(
                {
                    "build": {"os": "Linux", "kernel": "6.1.0", "machine": "x86_64", "options": "",
                              "date": "2025-01-01 00:00:00 UTC", "user": "debian"},
                    "system": {"version": "22.1.0~dfsg+~cs6.15.60671435-1", "entity_id": ASTERISK_ID},
                    "config": {"name": self.system_name, "default_language": "en", "setid": {"user": "", "group": ""}},
                    "status": {"startup_time": self.startup_time, "last_reload_time": self.startup_time},
                }
            )  # fmt: skip
        return _err(404, "Resource not found")

    def _playbacks(self, method: str, parts: list[str], q: Any, body: Any) -> web.Response:
        if len(parts) != 1:
            return _err(404, "Resource not found")
        pb = self.state.playbacks.get(parts[0])
        if pb is None:
            return _err(404, "Playback not found")
        if method == "GET":
            return web.json_response(pb)
        if method == "DELETE":
            del self.state.playbacks[parts[0]]
            return web.Response(status=204)
        return _err(405, "Method not allowed")

    # -- events websocket --------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.ws_attempts += 1
        await self._notify()
        if self._refuse_remaining is None or self._refuse_remaining > 0:
            if self._refuse_remaining is not None:
                self._refuse_remaining -= 1
            self.ws_refused += 1
            return _err(self._refuse_status, "Service Unavailable")
        app = request.query.get("app")
        if not app:
            return _err(400, "Missing parameter app")
        ws = web.WebSocketResponse(protocols=("ari",))
        await ws.prepare(request)
        sock = _Socket(ws, request, app)
        self._sockets.append(sock)
        self.ws_connects += 1
        await self._notify()
        try:
            async for _ in ws:
                pass  # ARI clients send nothing we care about
        finally:
            self._sockets.remove(sock)
            await self._notify()
        return ws
