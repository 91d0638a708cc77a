"""AriRest.stream against an Asterisk that stalls or cuts a recording's file part way.

The fake ARI answers whole; these need an HTTP server that sends the headers and part of the
body and then goes quiet (or closes), so a raw asyncio server plays Asterisk here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from app.ari import AriClient, AriConfig, AriConnectionError, AriTimeout
from tests.ari.fake_ari import FakeAri

BODY = b"RIFF" + b"audio" * 1000

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ClientFor = Callable[[Behaviour], Awaitable[AriClient]]


async def _serve(behaviour: Behaviour, writers: list[asyncio.StreamWriter]) -> asyncio.Server:
    """A server answering a GET with the headers for all of BODY and half of it, then whatever
    `behaviour` does. Its connections go in `writers`, for the test to close."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\n"
            + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
            + BODY[: len(BODY) // 2]
        )
        await writer.drain()
        await behaviour(reader, writer)

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # never another byte; the connection kept open until the client leaves


async def _cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()  # the connection closed short of Content-Length


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFor]:
    servers: list[asyncio.Server] = []
    clients: list[AriClient] = []
    writers: list[asyncio.StreamWriter] = []

    async def make(behaviour: Behaviour) -> AriClient:
        server = await _serve(behaviour, writers)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        config = AriConfig(f"http://127.0.0.1:{port}/ari", "u", "p", app="holdfast", request_timeout=0.2)
        client = AriClient(config)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close(drain_timeout=0.5)
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def _read_all(client: AriClient) -> bytes:
    got = b""
    async for chunk in client.recordings.stored_file("holdfast-1"):
        got += chunk
    return got


async def test_a_download_stalled_mid_file_is_an_ari_timeout(client_for: ClientFor) -> None:
    """Asterisk sends half the recording and then nothing: after the request timeout the read
    ends with AriTimeout, as a REST call's timeout does (Asterisk slow, not unreachable: the
    API can answer it as a timeout), never as the end of a file that looks whole. aiohttp's read
    timeout is a ClientError too, and was reported as AriConnectionError "no response"."""
    client = await client_for(_stall)
    with pytest.raises(AriTimeout) as err:
        await _read_all(client)
    assert err.value.status is None
    assert "recordings/stored/holdfast-1/file" in err.value.path
    assert client.rest.failures == 1


async def test_a_download_cut_mid_file_is_an_ari_error(client_for: ClientFor) -> None:
    """Asterisk closes the connection short of its Content-Length: an error, never a short file."""
    client = await client_for(_cut)
    with pytest.raises(AriConnectionError):
        await _read_all(client)


async def test_a_whole_file_streams_whole(client_for: ClientFor) -> None:
    async def rest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BODY[len(BODY) // 2 :])
        await writer.drain()

    client = await client_for(rest)
    assert await _read_all(client) == BODY


async def test_a_download_with_no_answer_at_all_is_an_ari_timeout(fake_ari: FakeAri) -> None:
    fake_ari.state.recordings["holdfast-1"] = {"name": "holdfast-1", "format": "wav", "file": BODY}
    fake_ari.delay("GET", r"^/recordings/stored/holdfast-1/file$", 1.0)  # the headers come too late
    async with AriClient(fake_ari.config(request_timeout=0.1)) as client:
        with pytest.raises(AriTimeout):
            await _read_all(client)
