"""The live feed over time: a page opened while changes happen gets them at once, and one browser
that stops reading neither freezes nor kills the other supervisors' pages (app/web/live_feed.py)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import app.web.live_feed as live_feed
from app.core import events as ev
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import started_shell


async def a_page_that_never_reads(host: str, port: int) -> socket.socket:
    """A websocket client that completes the handshake and then never reads again (a laptop lid
    closed on a network that keeps the TCP connection open)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's buffers fill soon
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    request = (
        f"GET /ws/live HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    await loop.sock_sendall(sock, request)
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return sock


async def test_one_stalled_page_is_dropped_and_the_others_go_on(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_feed, "SEND_TIMEOUT", 0.5)
    feed = http.app[live_feed.LIVE_KEY]
    server = http.server
    async with http.ws_connect("/ws/live") as good:
        assert (await good.receive_json(timeout=3))["type"] == "snapshot"
        stalled = await a_page_that_never_reads(server.host, server.port)
        try:
            await shell.eventually(lambda: len(feed.pages) == 2, "both pages open", timeout=3)
            # A busy morning: waves of callers come and go, each wave one big patch, until the
            # stalled page's buffers are full, its send times out and it is dropped.
            for wave in range(20):
                for phase in ("arrive", "leave"):
                    for i in range(3000):
                        rid = f"w{wave}-{i:05d}"
                        event: ev.Event = (
                            ev.CallerArrived(shell.clock(), rid, "support", "+4520123456")
                            if phase == "arrive"
                            else ev.CallerHungUp(shell.clock(), rid)
                        )
                        shell.service.feed(event)
                    assert (await good.receive_json(timeout=8))["type"] == "patch"
                if len(feed.pages) < 2:
                    break
            assert len(feed.pages) == 1, "the stalled page was never dropped"
            shell.service.feed(ev.CallerArrived(shell.clock(), "req-last", "support", "+4520123456"))
            patch = await good.receive_json(timeout=8)
            assert [r["id"] for r in patch["requests"]["upsert"]] == ["req-last"]
            assert shell.service.healthy and not shell.service.fatal.is_set()
        finally:
            stalled.close()


async def test_a_change_while_a_page_opens_reaches_it_at_once(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = http.app[live_feed.LIVE_KEY]
    gate, held = asyncio.Event(), asyncio.Event()
    send_str = web.WebSocketResponse.send_str

    async def first_message_held(self: web.WebSocketResponse, data: str, compress: Any = None) -> None:
        if not held.is_set():  # the opening page's snapshot is on its way while the engine moves on
            held.set()
            await gate.wait()
        await send_str(self, data, compress)

    monkeypatch.setattr(web.WebSocketResponse, "send_str", first_message_held)
    async with http.ws_connect("/ws/live") as page:
        await asyncio.wait_for(held.wait(), 3)
        shell.service.feed(ev.CallerArrived(shell.clock(), "req-new", "support", "+4520123456"))
        await shell.eventually(lambda: not feed._dirty.is_set(), "the feed took the change")
        gate.set()
        snapshot = await page.receive_json(timeout=3)
        assert snapshot["type"] == "snapshot" and snapshot["requests"] == []
        patch = await page.receive_json(timeout=live_feed.REFRESH / 2)  # not the next quiet refresh's
        assert [r["id"] for r in patch["requests"]["upsert"]] == ["req-new"]


async def test_a_page_or_api_client_sees_a_change_only_once_it_is_stored(fake_ari: FakeAri, tmp_path: Path) -> None:
    """As the pushes wait for the store, so do a new page's snapshot and GET /api/live: a callback
    whose commit is still on the disk is not shown, since a failed commit would mean it never was."""
    async with started_shell(fake_ari, tmp_path, "") as shell:
        http = TestClient(TestServer(make_app(shell.service)))
        await http.start_server()
        gate = asyncio.Event()
        try:
            store = shell.service.store
            for name in ("commit", "commit_many"):
                real = getattr(store, name)

                async def slow_disk(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                    await gate.wait()
                    return await _real(*args, **kwargs)

                setattr(store, name, slow_disk)
            post = asyncio.create_task(http.post("/api/callbacks", json={"queue": "support", "number": "+4520123456"}))
            await shell.eventually(lambda: shell.service.engine.requests, "the callback is in the engine")
            api = asyncio.create_task(http.get("/api/live"))
            async with http.ws_connect("/ws/live") as page:
                with pytest.raises(TimeoutError):  # nothing shown while it is not stored
                    await page.receive_json(timeout=1.0)
                assert not api.done() and not post.done()
                gate.set()
                assert (await post).status == 201
                first = await page.receive_json(timeout=3)
                assert [r["number"] for r in first["requests"]] == ["+4520123456"]
                assert [r["number"] for r in (await (await api).json())["requests"]] == ["+4520123456"]
        finally:
            gate.set()  # (a failed assertion must not leave the commit held)
            await http.close()
