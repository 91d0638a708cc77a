"""A TCP proxy in front of the test PostgreSQL that can lose a COMMIT's answer.

It forwards everything both ways. Armed, it acts on the next COMMIT a client sends (asyncpg ends a
transaction with the simple query "COMMIT;", a 'Q' message) and then cuts that client off:
- "lose_answer": the COMMIT reaches the server (which commits); its answer never reaches the client.
- "drop": the COMMIT never reaches the server (which then rolls back); the client is cut off too.
- "late": the COMMIT reaches the server only once the client, on a fresh connection, has asked
  twice about the transaction (`txid_status`): its first look finds it still in progress.
- "blackhole": a silent network drop, no reset. The COMMIT is held in the network and nothing more
  passes either way on that connection; both ends stay open (the server's transaction stays open,
  holding its locks, until the server itself ends it; its goodbye then is lost too). `give_up()`
  then drops the client's side (its OS giving up on the peer). The held COMMIT reaches the server
  late: once another connection starts writing (a retry's INSERT); with `heals = False`, never (the
  server's transaction stays open until the proxy closes, or the server ends it).
Only the client-to-server stream is parsed; connect through `dsn`, which turns TLS off.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Mode = Literal["lose_answer", "drop", "late", "blackhole"]


class PgProxy:
    def __init__(self, upstream_dsn: str) -> None:
        self._upstream = urlsplit(upstream_dsn)
        self._server: asyncio.Server | None = None
        self._armed: Mode | None = None
        self._at: bytes | None = None  # act on a message holding these bytes rather than on a COMMIT
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._held: tuple[asyncio.StreamWriter, bytes] | None = None  # "late": the COMMIT and its server
        self._stalled: tuple[asyncio.StreamWriter, bytes] | None = None  # "blackhole": its COMMIT and server
        self._silent: asyncio.StreamWriter | None = None  # "blackhole": the client that hears nothing more
        self.heals = True  # "blackhole": the held COMMIT reaches the server once a retry writes
        self._looks = 0  # "late": txid_status looks sent (one Bind each on the asking connection)
        self.tripped = asyncio.Event()  # set once the armed COMMIT was acted on

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        """Every connection ends: the server rolls back whatever transaction is still open."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()

    @property
    def dsn(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        user = f"{self._upstream.username}@" if self._upstream.username else ""
        if self._upstream.password:
            user = f"{self._upstream.username}:{self._upstream.password}@"
        query = "&".join(q for q in (self._upstream.query, "sslmode=disable") if q)
        return urlunsplit((self._upstream.scheme, f"{user}127.0.0.1:{port}", self._upstream.path, query, ""))

    def arm(self, mode: Mode, at: bytes | None = None) -> None:
        """Act on the next COMMIT any client sends (once); with `at`, on the next message holding
        those bytes instead (e.g. a statement's text: a drop in the middle of a transaction)."""
        self._armed, self._at = mode, at

    def give_up(self) -> None:
        """In "blackhole": the client's side of the silent connection drops (its OS gave up)."""
        assert self._silent is not None
        self._silent.transport.abort()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        server_r, server_w = await asyncio.open_connection(self._upstream.hostname, self._upstream.port or 5432)
        self._writers += [client_w, server_w]
        cut = asyncio.Event()  # this client was cut off: the server's further answers are dropped
        back = asyncio.create_task(self._server_to_client(server_r, client_w, server_w, cut))
        self._tasks.add(back)  # close() ends it too ("blackhole": its server may never speak again)
        back.add_done_callback(self._tasks.discard)
        try:
            await self._client_to_server(client_r, server_w, client_w, cut)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if not cut.is_set():
                server_w.close()
            with contextlib.suppress(Exception):
                await back
            client_w.close()
            self._tasks.discard(task)

    async def _client_to_server(
        self,
        client_r: asyncio.StreamReader,
        server_w: asyncio.StreamWriter,
        client_w: asyncio.StreamWriter,
        cut: asyncio.Event,
    ) -> None:
        (length,) = struct.unpack("!I", await client_r.readexactly(4))  # the startup message has no type byte
        server_w.write(struct.pack("!I", length) + await client_r.readexactly(length - 4))
        asking = False  # this connection asks txid_status
        while True:
            head = await client_r.readexactly(5)
            kind, (length,) = head[:1], struct.unpack("!I", head[1:])
            message = head + await client_r.readexactly(length - 4)
            asking = asking or (kind == b"P" and b"txid_status" in message)
            if self.heals and self._stalled is not None and kind == b"P" and b"INSERT INTO" in message:
                stalled_w, commit = self._stalled  # the network heals as a retry starts
                self._stalled = None
                with contextlib.suppress(ConnectionError):
                    stalled_w.write(commit)  # (its server may be gone: then nothing is committed)
            if asking and kind == b"B":
                self._looks += 1
                if self._looks == 2 and self._held is not None:  # the first look was answered "in progress"
                    held_w, commit = self._held
                    held_w.write(commit)
            is_commit = kind == b"Q" and message[5:].rstrip(b"\0").strip().rstrip(b";").upper() == b"COMMIT"
            if self._at is not None:
                is_commit = self._at in message
            mode, self._armed = (self._armed, None) if is_commit and self._armed else (None, self._armed)
            if mode == "drop":
                server_w.close()  # the server reads end-of-stream and rolls back
            elif mode == "late":
                self._held = (server_w, message)
            elif mode == "blackhole":
                self._stalled, self._silent = (server_w, message), client_w
                cut.set()
                self.tripped.set()
                while True:  # whatever the client sends now is lost too; its end stays open
                    head = await client_r.readexactly(5)
                    await client_r.readexactly(struct.unpack("!I", head[1:])[0] - 4)
            else:
                server_w.write(message)
                await server_w.drain()
            if mode is not None:
                cut.set()
                client_w.transport.abort()  # the client's connection drops before any answer
                self.tripped.set()
                return

    async def _server_to_client(
        self,
        server_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_w: asyncio.StreamWriter,
        cut: asyncio.Event,
    ) -> None:
        while data := await server_r.read(65536):
            if cut.is_set():  # the COMMIT's answer: the client never gets it
                break
            client_w.write(data)
            with contextlib.suppress(ConnectionError):
                await client_w.drain()
        server_w.close()
        if client_w is not self._silent:  # ("blackhole": the server's goodbye is lost in the network too)
            client_w.close()  # the server hung up (after a Terminate): so does the client's side
