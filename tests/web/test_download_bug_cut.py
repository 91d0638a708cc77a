"""A bug (an unexpected exception) in a download once its headers are out: the download must end
cut — the connection closed without the body's proper end, so curl and the browser say incomplete
— and never carry the middleware's JSON 500 inside the half-written CSV or WAV, which a spreadsheet
would import as data. The bug is still logged with its traceback, as request_failed. (The expected
refusals, a store's or ARI's, are cut by their handlers: test_export_api.py,
test_recording_download_cut.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from app.web import export as export_module
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN
from tests.web.test_export_api import bearer, shell, two_callbacks
from tests.web.test_users_api import shell_text

__all__ = ["shell", "shell_text"]  # the export API's shell: a store, a viewer


async def received(resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """What the client got of the body, and whether the body ended properly."""
    got = b""
    async with asyncio.timeout(10):  # a body that never ends is a failure too, not a hang
        try:
            async for chunk in resp.content.iter_any():
                got += chunk
        except aiohttp.ClientPayloadError:
            return got, False
    return got, True


def failing_after(rows: int) -> Callable[[Any, Any], dict[str, Any] | None]:
    """export's visible_event, raising a bug's RuntimeError after `rows` rows."""
    real = export_module.visible_event
    seen = 0

    def visible_event(scope: Any, event: Any) -> dict[str, Any] | None:
        nonlocal seen
        seen += 1
        if seen > rows:
            raise RuntimeError("a bug in a row's encoding")
        return real(scope, event)

    return visible_event


async def test_a_bug_part_way_through_an_export_cuts_the_download(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await two_callbacks(http, shell)
    monkeypatch.setattr(export_module, "visible_event", failing_after(1))
    with capture_logs() as logs:
        resp = await http.get("/api/events/export", headers=bearer(TOKEN))
        assert resp.status == 200  # the headers and the first line went out
        body, whole = await received(resp)
    assert not whole, body
    assert body.startswith(b"id,at,") and b"error" not in body and b"HTTP/1.1" not in body
    [failed] = [line for line in logs if line["event"] == "request_failed"]
    assert failed["log_level"] == "error" and failed["exc_info"] is True


async def test_a_cut_download_is_not_a_clean_end_for_an_http_1_0_client(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP/1.0 (curl --http1.0; nginx in front speaks it to the service unless told
    otherwise) a body without a length ends where the connection closes: a cut closed like a
    finished download reads as the whole CSV. The cut resets the connection instead."""
    await two_callbacks(http, shell)
    monkeypatch.setattr(export_module, "visible_event", failing_after(1))
    reader, writer = await asyncio.open_connection(http.host, http.port)
    try:
        head = f"GET /api/events/export HTTP/1.0\r\nHost: {http.host}:{http.port}\r\n"
        writer.write(f"{head}Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        got = b""
        async with asyncio.timeout(10):
            with pytest.raises(ConnectionResetError):
                while chunk := await reader.read(65536):
                    got += chunk
        assert b"error" not in got  # whatever arrived before the reset: never the error's JSON
    finally:
        writer.close()
