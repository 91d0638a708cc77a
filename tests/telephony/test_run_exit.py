"""`holdfast run` ends with a non-zero exit code when the service stops on a fault (a supervisor
restarts it, and a restart reconciles); 0 only for a requested stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

from structlog.testing import capture_logs

from app.config import parse_config
from app.runner import EXIT_FATAL, serve
from app.store.migrations import SQLITE_MIGRATIONS
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, config_text

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_config(fake: FakeAri, data_dir: Path) -> str:
    return config_text(fake, extra=f"service:\n  http_port: {free_port()}\n  data_dir: {data_dir}\n")


class OverflowingStore(SQLiteStore):
    """Commits fail as SQLite does for an integer it cannot hold (not a StoreError)."""

    async def commit(self, requests, activities, agents=()):  # type: ignore[no-untyped-def]
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    async def commit_many(self, changes):  # type: ignore[no-untyped-def]
        raise OverflowError("Python int too large to convert to SQLite INTEGER")


async def test_serve_returns_a_fatal_exit_code_when_the_store_fails(fake_ari: FakeAri, tmp_path: Path) -> None:
    config = parse_config(run_config(fake_ari, tmp_path), env={})
    store = OverflowingStore(str(tmp_path / "holdfast.db"))
    await store.open()
    ready = asyncio.Event()
    served = asyncio.create_task(serve(config, ready=ready, store=store))
    await asyncio.wait_for(ready.wait(), 5.0)
    await fake_ari.wait_ws_connected()
    await fake_ari.wait_for_call("GET", r"/endpoints")  # resync done or nearly: events are read after it
    chan = fake_ari.add_channel(caller_number=CALLER, state="Ring")
    await fake_ari.push_event("StasisStart", channel=chan, args=["inbound", "4000"])
    assert await asyncio.wait_for(served, 10.0) == EXIT_FATAL
    assert not fake_ari.calls_to("POST", rf"/channels/{chan['id']}/answer")


async def test_serve_returns_0_on_a_signal(fake_ari: FakeAri, tmp_path: Path) -> None:
    config = parse_config(run_config(fake_ari, tmp_path), env={})
    ready = asyncio.Event()
    served = asyncio.create_task(serve(config, ready=ready))
    await asyncio.wait_for(ready.wait(), 5.0)
    os.kill(os.getpid(), signal.SIGTERM)  # serve's handler catches it
    assert await asyncio.wait_for(served, 10.0) == 0


class GatedStore(SQLiteStore):
    """Holds the start-up at loading the stored requests until `gate` is set."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.loading, self.gate = asyncio.Event(), asyncio.Event()

    async def load_active_requests(self):  # type: ignore[no-untyped-def]
        self.loading.set()
        await self.gate.wait()
        return await super().load_active_requests()


async def test_a_reload_asked_while_starting_neither_kills_the_service_nor_is_lost(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    """`systemctl reload` sends SIGHUP, whose default action ends the process: during a start-up
    (or a standby's wait for the lease) it took the node down silently, and systemd's
    Restart=on-failure does not restart a process a SIGHUP ended."""
    text = run_config(fake_ari, tmp_path)
    config_file = tmp_path / "holdfast.yaml"
    config_file.write_text(text)
    store = GatedStore(str(tmp_path / "holdfast.db"))
    await store.open()
    # Only so that this test process outlives the fault it looks for: serve's own handler replaces it.
    previous = signal.signal(signal.SIGHUP, lambda *_: None)
    try:
        with capture_logs() as logs:
            ready = asyncio.Event()
            served = asyncio.create_task(
                serve(parse_config(text, env={}), ready=ready, config_path=config_file, store=store)
            )
            await asyncio.wait_for(store.loading.wait(), 5.0)
            os.kill(os.getpid(), signal.SIGHUP)
            async with asyncio.timeout(5.0):
                while not any(e["event"] == "reload_deferred" for e in logs):
                    await asyncio.sleep(0.01)
            store.gate.set()
            await asyncio.wait_for(ready.wait(), 5.0)
            assert any(e["event"] == "reloaded" for e in logs)  # applied once the service runs
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(served, 10.0) == 0
    finally:
        signal.signal(signal.SIGHUP, previous)


async def test_holdfast_run_exits_non_zero_on_a_fatal_stop(fake_ari: FakeAri, tmp_path: Path) -> None:
    """The real command line, in its own process: another Holdfast takes the Stasis app over."""
    config_file = tmp_path / "holdfast.yaml"
    config_file.write_text(run_config(fake_ari, tmp_path / "var"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "run", "--config", str(config_file),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await fake_ari.wait_ws_connected(timeout=20.0)
        await fake_ari.wait_for_call("GET", r"/endpoints", timeout=10.0)
        assert await fake_ari.push_event("ApplicationReplaced") == 1
        code = await asyncio.wait_for(proc.wait(), 20.0)
    finally:
        if proc.returncode is None:
            proc.kill()
            with contextlib.suppress(Exception):
                await proc.wait()
    output = (await proc.stdout.read()).decode() if proc.stdout else ""
    assert code == EXIT_FATAL, output
    assert "application_replaced" in output


async def test_a_store_this_version_cannot_use_is_a_refused_start_not_a_traceback(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    """An older Holdfast on a store a newer one migrated (an upgrade rolled back): exit 2, which the
    unit does not restart, with a critical line. It was a traceback and exit 1: restarted every 2 s."""
    data = tmp_path / "var"
    data.mkdir()
    async with SQLiteStore(str(data / "holdfast.db")):
        pass
    with contextlib.closing(sqlite3.connect(data / "holdfast.db")) as db, db:
        db.execute("INSERT INTO schema_version VALUES (?, datetime('now'))", (len(SQLITE_MIGRATIONS) + 1,))
    config_file = tmp_path / "holdfast.yaml"
    config_file.write_text(run_config(fake_ari, data))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "run", "--config", str(config_file),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 30.0)
    text = output.decode()
    assert proc.returncode == 2, text[-800:]
    assert "Traceback" not in text and "store_unusable_at_start" in text and "schema version" in text
