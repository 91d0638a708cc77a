"""One SIGTERM stops `holdfast run` within seconds whatever is in flight (issue 12, 4): a call up,
a commit waiting on a locked database, stderr a pipe whose reader has gone (Ctrl-C on
`holdfast run 2>&1 | tee run.log` kills tee too). Once, the service hung at interpreter exit in
the store's worker thread, its HTTP port still bound."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from app.runner import EXIT_FATAL
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, config_text

ROOT = Path(__file__).resolve().parents[2]
STOPPED_WITHIN = 10.0  # seconds; the runner's own budget is 8 (watchdog)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a restarted service would
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Running:
    """`holdfast run` in its own process, its stdout and stderr piped into `cat` (the tee)."""

    def __init__(self, proc: asyncio.subprocess.Process, tee: subprocess.Popen[bytes], port: int, data: Path) -> None:
        self.proc, self.tee, self.port, self.data = proc, tee, port, data

    async def waiting_callers(self) -> int:
        url = f"http://127.0.0.1:{self.port}/api/queues"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            body = await resp.json()
        return sum(len(q["waiting"]) for q in body["queues"])

    async def wait_waiting(self, count: int, timeout: float = 10.0) -> None:
        """Until the engine has `count` callers waiting (read from the HTTP API)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.waiting_callers() < count:
            assert asyncio.get_running_loop().time() < deadline, "the caller never reached the queue"
            await asyncio.sleep(0.05)

    def close_the_pipe(self) -> None:
        """The reader of the service's output goes away (Ctrl-C killed tee)."""
        self.tee.kill()
        self.tee.wait()


@pytest.fixture
async def running(fake_ari: FakeAri, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    data = tmp_path / "var"
    config_file = tmp_path / "holdfast.yaml"
    config_file.write_text(config_text(fake_ari, extra=f"service:\n  http_port: {port}\n  data_dir: {data}\n"))
    read_end, write_end = os.pipe()
    with open(tmp_path / "run.log", "wb") as out:
        tee = subprocess.Popen(["cat"], stdin=read_end, stdout=out)
    os.close(read_end)  # only the tee reads it: once the tee is gone, writes fail with EPIPE
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "run", "--config", str(config_file),
            cwd=ROOT, stdout=write_end, stderr=write_end,
        )  # fmt: skip
    finally:
        os.close(write_end)
    try:
        await fake_ari.wait_ws_connected(timeout=20.0)
        await fake_ari.wait_for_call("GET", r"/endpoints", timeout=10.0)  # resynced: events are read
        yield Running(proc, tee, port, data)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if tee.poll() is None:
            tee.kill()
            tee.wait()


async def stop(running: Running) -> int:
    running.proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(running.proc.wait(), STOPPED_WITHIN)
    except TimeoutError:
        raise AssertionError(f"holdfast run still running {STOPPED_WITHIN} s after SIGTERM") from None


async def test_sigterm_with_a_call_up_and_the_output_pipe_closed_stops_cleanly(
    running: Running, fake_ari: FakeAri
) -> None:
    chan = fake_ari.add_channel(caller_number=CALLER, state="Ring")
    await fake_ari.push_event("StasisStart", channel=chan, args=["inbound", "4000"])
    await running.wait_waiting(1)  # a caller on hold
    await fake_ari.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
    running.close_the_pipe()
    assert await stop(running) == 0  # nothing was cut short
    assert port_is_free(running.port)


async def test_sigterm_with_a_commit_waiting_on_a_locked_database_stops_within_seconds(
    running: Running, fake_ari: FakeAri
) -> None:
    db = sqlite3.connect(running.data / "holdfast.db", timeout=5, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")  # another process holds the write lock: every commit waits
        chan = fake_ari.add_channel(caller_number=CALLER, state="Ring")
        await fake_ari.push_event("StasisStart", channel=chan, args=["inbound", "4000"])
        await running.wait_waiting(1)  # the engine has the caller; its commit cannot get through
        assert not fake_ari.calls_to("POST", rf"/channels/{chan['id']}/answer")  # commit before act
        running.close_the_pipe()
        code = await stop(running)
        assert code in (0, EXIT_FATAL)  # cut short, or the store gave up first: either way, out
        assert port_is_free(running.port)
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        db.close()
