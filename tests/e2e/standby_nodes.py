"""Two `holdfast run` nodes sharing one PostgreSQL database (for test_standby*.py and the
failover benchmark): conftest's ServiceProcess, started with or without --standby, reading its
event log from PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import pytest
from conftest import HOLDFAST, ServiceProcess, holdfast_config_text, installed_prompts_yaml

from app.sandbox import free_tcp_port
from app.store import store_from_dsn
from app.store.lease import Lease
from app.store.postgres import PostgresStore
from app.store.records import AdminEntry, StoredEvent

ON_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
STANDBY_TEXT = "standby, waiting for the lease"

# cbs: callback queue whose customer rings 30 s (a takeover happens while it rings).
# cbd: a callback queue whose first attempt waits 1 s after the request (the failover benchmark books
# a callback, then kills the leader before it is due), one attempt, quick to free the agent.
CBD_QUEUE = """  cbd:
    ring_timeout: 6s
    wrap_up: 0s
    callback:
      enabled: true
      callback_delay: 1s
      max_attempts: 1
      customer_ring_timeout: 5s
      caller_id: "+4570000000"
  cbs:
    ring_timeout: 6s
    wrap_up: 0s
    callback:
      enabled: true
      max_attempts: 1
      customer_ring_timeout: 30s
      caller_id: "+4570000000"
"""


def postgres_dsn() -> str:
    dsn = os.environ.get("HOLDFAST_TEST_POSTGRES_DSN")
    if not dsn:
        message = "set HOLDFAST_TEST_POSTGRES_DSN (scripts/postgres-for-tests.sh) to run the standby tests"
        if ON_CI:
            pytest.fail(f"CI is set but PostgreSQL is missing: {message}")
        pytest.skip(message)
    return dsn


async def fresh_database(admin_dsn: str) -> str:
    """A new empty database on the test server; its DSN."""
    name = f"holdfast_e2e_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(admin_dsn: str, dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


class PgEvents:
    """The shared event log read from PostgreSQL, incrementally (by event id)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.events: list[StoredEvent] = []

    async def _store(self) -> PostgresStore:
        store = store_from_dsn(self.dsn)
        assert isinstance(store, PostgresStore)
        await store.open()
        return store

    async def refresh(self) -> list[StoredEvent]:
        store = await self._store()
        try:
            since = self.events[-1].id if self.events else 0
            self.events.extend(await store.events(since_id=since, limit=1_000_000))
        finally:
            await store.close()
        return self.events

    async def admin_log(self, request_id: str | None = None) -> list[AdminEntry]:
        store = await self._store()
        try:
            return await store.admin_log(request_id=request_id)
        finally:
            await store.close()

    async def lease(self) -> Lease | None:
        store = await self._store()
        try:
            return await store.lease_holder()
        finally:
            await store.close()


class Node(ServiceProcess):
    """`holdfast run [--standby]` on the shared PostgreSQL database."""

    def __init__(self, name: str, config_path: Path, http_port: int, data_dir: Path, dsn: str) -> None:
        super().__init__(config_path, http_port, data_dir)
        self.name = name
        self.store_events = PgEvents(dsn)  # type: ignore[assignment]
        self.paused = False

    async def start(self, timeout: float = 20.0, standby: bool = False) -> None:  # type: ignore[override]
        """Start; return once it leads (healthz 200) or, with `standby`, once it says it waits."""
        self.starts += 1
        self._killed = False
        with self.log.open("ab") as f:
            f.write(
                f"\n===== test harness: start #{self.starts} ({'standby' if standby else 'leader'}) =====\n".encode()
            )
        args = [HOLDFAST, "run", "--config", str(self.config_path)] + (["--standby"] if standby else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self.check_alive()
            status, body = await self.health()
            if status == 200 or (standby and status == 503 and f"{STANDBY_TEXT} (held by" in str(body.get("error"))):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"{self.name} not up in {timeout} s (last {status} {body})\n{await self.diagnose()}"
                )
            await asyncio.sleep(0.1)

    async def health(self) -> tuple[int | None, dict]:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}/healthz", timeout=2) as resp:
                return resp.status, await resp.json()
        except (aiohttp.ClientError, TimeoutError):
            return None, {}

    async def metric(self, name: str) -> float | None:
        """A sample's value from /metrics (None if absent)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics", timeout=2) as resp:
            text = await resp.text()
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        return None

    async def status_of(self, method: str, path: str, **kwargs: object) -> int:
        async with aiohttp.ClientSession() as http, http.request(method, f"{self.url}{path}", **kwargs) as resp:  # type: ignore[arg-type]
            return resp.status

    async def wait_leading(self, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while (await self.health())[0] != 200:
            self.check_alive()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name} did not take over in {timeout} s\n{await self.diagnose()}")
            await asyncio.sleep(0.05)

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    async def wait_exit(self, timeout: float) -> int:
        """The exit code of a process expected to stop by itself."""
        assert self.proc is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while self.proc.poll() is None:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name} still running after {timeout} s\n{self.diagnose_sync()}")
            await asyncio.sleep(0.05)
        self._killed = True  # expected: not an unexpected exit
        return self.proc.returncode

    def stop(self) -> int | None:
        if self.paused:
            self.resume()
        return super().stop()


def node_config(sut, agents, port: int, data_dir: Path, dsn: str) -> str:  # type: ignore[no-untyped-def]
    text = holdfast_config_text(sut, agents, port, extra=installed_prompts_yaml(sut), data_dir=data_dir)
    text = text.replace("service:\n", f'service:\n  database: "{dsn}"\n', 1)
    text = text.replace("queues:\n", "queues:\n" + CBD_QUEUE, 1)
    return text.replace("skills: [support,", "skills: [cbd, cbs, support,")


async def make_nodes(sut, agents, tmp_path: Path) -> AsyncIterator[tuple[Node, Node, str]]:  # type: ignore[no-untyped-def]
    """Two nodes "a" and "b" (not started) on a fresh database; stopped and dropped afterwards."""
    admin = postgres_dsn()
    dsn = await fresh_database(admin)
    nodes = []
    for name in ("a", "b"):
        data_dir = tmp_path / name
        data_dir.mkdir()
        port = free_tcp_port()
        path = data_dir / "holdfast.yaml"
        path.write_text(node_config(sut, agents, port, data_dir, dsn))
        nodes.append(Node(name, path, port, data_dir, dsn))
    try:
        yield nodes[0], nodes[1], dsn
    finally:
        for node in nodes:
            node.stop()
        await drop_database(admin, dsn)


class DbLink:
    """A TCP relay between a node and PostgreSQL that the test can cut (a network partition: the
    connections stay open, nothing gets through) to cut the node off from the database."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_tcp_port()
        self.cut = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if self.cut.is_set():
                    await asyncio.Event().wait()  # swallowed: blackholed until the test ends
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            dst.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
