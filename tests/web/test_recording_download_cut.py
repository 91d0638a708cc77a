"""A recording's download that Asterisk stops sending part way (AriRest.stream raises AriTimeout
mid-file, tests/ari/test_rest_stream.py): the supervisor's download must fail as a download, not
end as a shorter file that looks whole, nor carry a second (500) answer inside its body. Before
the first byte it is an API error: 504, Asterisk did not send the recording in time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from app.ari import AriTimeout
from tests.telephony.conftest import Shell
from tests.telephony.test_recording_retention import recorded_call
from tests.web.conftest import TOKEN
from tests.web.test_recordings_api import bearer, shell
from tests.web.test_users_api import SUPPORT_NUMBER

__all__ = ["shell"]  # the recordings API's shell fixture (a store, recorded queues)

PATH = "/recordings/stored/x/file"


def stalling_after(first: bytes | None) -> object:
    async def stored_file(name: str) -> AsyncIterator[bytes]:
        if first is not None:
            yield first
        raise AriTimeout(None, "GET", PATH, "Asterisk sent no data for 10.0 s")

    return stored_file


async def test_a_download_cut_mid_file_fails_and_is_not_a_short_file(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await recorded_call(shell, SUPPORT_NUMBER, "4000")
    monkeypatch.setattr(shell.service.recordings, "stored_file", stalling_after(b"RIFF" + b"audio" * 100))
    resp = await http.get(f"/api/recordings/holdfast-{rid}", headers=bearer(TOKEN))
    assert resp.status == 200  # the headers went out with the first chunk
    # The chunked body never ends properly: the client knows the file is cut. Today the API's
    # error middleware answered a JSON 500 after it, written inside the body: a parse error.
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_a_download_stalled_before_the_first_byte_is_a_gateway_timeout(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await recorded_call(shell, SUPPORT_NUMBER, "4000")
    monkeypatch.setattr(shell.service.recordings, "stored_file", stalling_after(None))
    resp = await http.get(f"/api/recordings/holdfast-{rid}", headers=bearer(TOKEN))
    assert resp.status == 504, await resp.text()
    assert "Asterisk did not send the recording in time" in (await resp.json())["error"]


async def test_a_bug_mid_file_cuts_the_download_without_an_error_inside_the_wav(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not ARI's refusal but a bug (any other exception) after the first chunk: cut as well, by the
    error middleware, and logged as a bug. Before, its JSON 500 went out inside the body."""
    rid = await recorded_call(shell, SUPPORT_NUMBER, "4000")
    first = b"RIFF" + b"audio" * 100

    async def stored_file(name: str) -> AsyncIterator[bytes]:
        yield first
        raise RuntimeError("a bug in the stream")

    monkeypatch.setattr(shell.service.recordings, "stored_file", stored_file)
    resp = await http.get(f"/api/recordings/holdfast-{rid}", headers=bearer(TOKEN))
    assert resp.status == 200
    got = b""
    async with asyncio.timeout(10):  # before, the body never ended: the client hung
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                got += chunk
    assert got == first  # no error JSON (nor a second status line) inside the file


async def test_a_download_the_supervisor_abandons_is_not_logged_as_a_bug(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor who cancels a recording's download half-way (closes the tab, stops curl) is no
    fault of the service: the write that meets the closed connection must not be logged as an
    error with a traceback (request_failed), which an operator is paged for. It is said at info."""
    rid = await recorded_call(shell, SUPPORT_NUMBER, "4000")
    client_gone = asyncio.Event()

    async def stored_file(name: str) -> AsyncIterator[bytes]:
        yield b"RIFF" + b"audio" * 100
        await client_gone.wait()
        for _ in range(1000):  # the rest of a long file, into a connection the client closed
            yield b"audio" * 1000

    monkeypatch.setattr(shell.service.recordings, "stored_file", stored_file)
    with capture_logs() as logs:
        resp = await http.get(f"/api/recordings/holdfast-{rid}", headers=bearer(TOKEN))
        assert resp.status == 200
        await resp.content.readany()
        resp.close()  # the client goes
        client_gone.set()
        async with asyncio.timeout(10):  # the handler's end is its log line
            while not any(line["event"] in ("request_failed", "download_abandoned") for line in logs):
                await asyncio.sleep(0.01)
    ends = [line for line in logs if line["event"] in ("request_failed", "download_abandoned")]
    assert [(line["event"], line["log_level"]) for line in ends] == [("download_abandoned", "info")], ends
