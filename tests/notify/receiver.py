"""A real local HTTP server standing in for a webhook receiver and an SMS gateway.

It records every request (path, headers, raw body) and dedupes by idempotency key the way a
receiver is told to; `mode` decides its answers: "ok" (200), "down" (503), "reject" (400),
"hang" (records the request, never answers), "moved" (301 to /moved-here, which answers 200 to
anything: an http URL whose server redirects to https, a receiver moved behind a login page).
`stop()` / `start()` on the same port make it unreachable for a while (connection refused).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Holdfast-Signature", ""), expected)


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    mode: str = "ok"
    requests: list[Received] = field(default_factory=list)
    delivered: dict[str, Received] = field(default_factory=dict)  # first 200 per key (the dedupe)
    repeats: int = 0  # requests for a key already delivered (ignored, as a receiver should)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _unhang: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._unhang = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        self._unhang.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(request.path_qs, dict(request.headers), await request.read())
        async with self._arrived:
            self.requests.append(got)
            self._arrived.notify_all()
        if self.mode == "moved" and request.path != "/moved-here":
            got.answered = 301
            raise web.HTTPMovedPermanently("/moved-here?session=abc")
        if self.mode == "hang":
            await self._unhang.wait()  # set by stop(): cleanup does not wait out a hung handler
            return web.Response(status=503)
        status = {"ok": 200, "down": 503, "reject": 400, "moved": 200}[self.mode]
        got.answered = status
        if status == 200:
            if got.key in self.delivered:
                self.repeats += 1
            else:
                self.delivered[got.key] = got
        async with self._arrived:
            self._arrived.notify_all()
        return web.json_response({"status": status}, status=status)

    async def wait(self, predicate: Any, what: str, timeout: float = 10.0) -> None:
        async def until() -> None:
            async with self._arrived:
                await self._arrived.wait_for(predicate)

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; got {len(self.requests)} requests") from None


@pytest.fixture(name="receiver")
async def receiver_fixture() -> AsyncIterator[Receiver]:
    """`receiver`: a started Receiver, stopped after the test (import receiver_fixture to use it)."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
