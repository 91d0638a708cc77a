"""The real service with the SQLite store on a real full disk (tests/store/full_disk.py), against the
fake ARI: a caller who keys 1 while the disk is full is not told "we will call you back" (the
step is never stored, so never acted on); the service stops loudly (a critical log naming the full
database, `fatal`, /healthz); every callback promised before is in the store; and once space is
freed a restart brings them all back in their order and the service takes calls again.

Not an injected StoreFull (tests/telephony/test_service_store.py has those): here SQLite meets
the kernel's "no space" itself, through aiosqlite's thread, with the default commit retries."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from app.config import parse_config
from app.core.states import RequestKind, RequestState
from app.runner import EXIT_FATAL, serve
from app.store import Store
from app.store.sqlite import SQLiteStore
from app.web.status import health_problems
from tests.ari.fake_ari import FakeAri, RecordedCall
from tests.store.full_disk import SmallDisk, small_tmpfs
from tests.telephony.conftest import CALLBACK_QUEUES, Caller, FakeClock, Shell, config_text, make_shell
from tests.telephony.test_run_exit import ROOT, run_config

__all__ = ["small_tmpfs"]  # the fixture

PROMISED = ("+4520123401", "+4520123402", "+4520123403")  # Danish mobiles: callbacks allowed
LATE = "+4520123499"  # keys 1 once the disk is full
RETRIES_OUT = 10.0  # the committer's default retries (0.2 + 0.5 + 1 + 2 s) and some


async def promise(shell: Shell, number: str) -> Caller:
    """A caller keys 1, hears the confirmation and is hung up: a callback waits in their place."""
    caller = await shell.caller(number)
    await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="1")
    play = await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/play")
    assert play.param("media") == shell.media("callback_confirmed")
    await shell.finish_playback(play.param("playbackId") or "", caller.channel_id)
    await shell.fake.wait_for_call("DELETE", f"/channels/{caller.channel_id}")
    await shell.hangup_event(caller.channel, "StasisEnd")
    await shell.eventually(lambda: shell.service.legs.by_channel(caller.channel_id) is None, "the caller's leg gone")
    return caller


def confirmations(shell: Shell, caller: Caller) -> list[RecordedCall]:
    """The "we will call you back" prompts played to `caller`."""
    return [c for c in shell.plays(caller.channel_id) if c.param("media") == shell.media("callback_confirmed")]


async def callbacks_in(store: Store) -> list[tuple[str | None, RequestState]]:
    return [(r.callback_number, r.state) for r in await store.load_active_requests() if r.kind is RequestKind.CALLBACK]


async def test_a_callback_asked_for_on_a_full_disk_is_never_confirmed_and_a_restart_keeps_every_promise(
    fake_ari: FakeAri, small_tmpfs: SmallDisk
) -> None:
    path = small_tmpfs.path / "holdfast.db"
    text = config_text(fake_ari, queues=CALLBACK_QUEUES)
    clock = FakeClock()
    store = SQLiteStore(path)
    await store.open()
    first = await make_shell(fake_ari, text, clock=clock, store=store)
    try:
        await first.start(online=())  # nobody to serve them: the callbacks wait
        promised = [await promise(first, number) for number in PROMISED]
        late = await first.caller(LATE)
        await first.service.wait_committed()  # the late caller's arrival is stored

        small_tmpfs.fill()
        with capture_logs() as logs:
            await first.push("ChannelDtmfReceived", channel=late.channel, digit="1")
            await first.eventually(first.service.fatal.is_set, "the service giving up", timeout=RETRIES_OUT)
        assert not first.service.healthy
        # /healthz tells a monitor what to do, not only that the store failed
        assert any(
            "store_failed_stopping" in problem and "free disk space" in problem
            for problem in health_problems(first.service)
        ), health_problems(first.service)
        critical = [e for e in logs if e["log_level"] == "critical"]
        assert [e["event"] for e in critical] == ["store_failed_stopping", "service_stopping"], critical
        named = str(critical[0]["error"])
        assert "StoreFull" in named and str(path) in named and "free disk space" in named, named
        # Not told "we will call you back": the step that promised it was never stored.
        assert not confirmations(first, late)
        assert not fake_ari.calls_to("DELETE", f"/channels/{late.channel_id}")
    finally:
        await first.stop()
    # Still full: what was promised is there, and the late caller was never made a callback.
    assert await callbacks_in(store) == [(number, RequestState.WAITING) for number in PROMISED]
    late_stored = await store.load_request(late.request_id)
    assert late_stored is not None and late_stored.kind is RequestKind.INBOUND
    await store.close()

    # The late caller hangs up while the service is down; the admin frees space; it is restarted.
    fake_ari.remove_channel(late.channel_id)
    small_tmpfs.free()
    restarted_store = SQLiteStore(path)
    await restarted_store.open()
    second = await make_shell(fake_ari, text, clock=clock, store=restarted_store)
    try:
        await second.start(online=())
        assert second.service.healthy
        waiting = [r.id for r in second.engine.waiting("support") if r.kind is RequestKind.CALLBACK]
        assert waiting == [c.request_id for c in promised]  # all of them, in their order
        await second.endpoint_state("1001", "online")
        second.ready("1001")  # the first promised is rung first
        ring = await second.wait_originate("1001")
        assert ring.call.param("callerId") == f'"Callback" <{PROMISED[0]}>'
        await second.service.wait_committed()  # and it stores again
        assert second.service.healthy
    finally:
        await second.stop()
        await restarted_store.close()


async def test_a_disk_freed_while_the_commit_is_retried_is_waited_out_and_the_caller_confirmed_after_it(
    fake_ari: FakeAri, small_tmpfs: SmallDisk
) -> None:
    store = SQLiteStore(small_tmpfs.path / "holdfast.db")
    await store.open()
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES), store=store)
    try:
        await shell.start(online=())
        caller = await shell.caller(LATE)
        await shell.service.wait_committed()
        small_tmpfs.fill()
        with capture_logs() as logs:
            await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="1")
            await shell.eventually(lambda: any(e["event"] == "store_commit_retry" for e in logs), "a refused commit")
            assert not confirmations(shell, caller)  # refused: not told yet
            small_tmpfs.free()  # an admin frees space within the retries
            play = await fake_ari.wait_for_call("POST", f"/channels/{caller.channel_id}/play", timeout=RETRIES_OUT)
        assert play.param("media") == shell.media("callback_confirmed")
        assert not [e for e in logs if e["log_level"] == "critical"]
        assert shell.service.healthy and not shell.service.fatal.is_set()
        assert await callbacks_in(store) == [(LATE, RequestState.WAITING)]  # stored before it was said
    finally:
        await shell.stop()
        await store.close()


async def test_serve_stops_with_the_fatal_exit_code_when_the_disk_fills(
    fake_ari: FakeAri, small_tmpfs: SmallDisk
) -> None:
    store = SQLiteStore(small_tmpfs.path / "holdfast.db")
    await store.open()
    ready = asyncio.Event()
    served = asyncio.create_task(
        serve(parse_config(run_config(fake_ari, small_tmpfs.path), env={}), ready=ready, store=store)
    )
    try:
        await asyncio.wait_for(ready.wait(), 5.0)
        await fake_ari.wait_ws_connected()
        await fake_ari.wait_for_call("GET", r"/endpoints")
        small_tmpfs.fill()
        chan = fake_ari.add_channel(caller_number=LATE, state="Ring")
        await fake_ari.push_event("StasisStart", channel=chan, args=["inbound", "4000"])
        assert await asyncio.wait_for(served, RETRIES_OUT + 10.0) == EXIT_FATAL
        assert not fake_ari.calls_to("POST", rf"/channels/{chan['id']}/answer")  # its arrival was not stored
    finally:
        if not served.done():
            served.cancel()
            await asyncio.gather(served, return_exceptions=True)
            await store.close()


@pytest.mark.parametrize("left", ["closed", "open"])
async def test_holdfast_run_on_a_full_disk_says_so_and_exits_to_be_restarted(
    fake_ari: FakeAri, small_tmpfs: SmallDisk, tmp_path: Path, left: str
) -> None:
    """The real command line, its store on a full disk: no traceback, a critical line that names
    the full database, and the exit code a supervisor restarts on (3; 2 would mean "never").
    `closed`: stopped cleanly, so its -shm file must be made again at the open. `open`: as after a
    crash, the -wal and -shm files are there, the open works and the first write is refused."""
    path = small_tmpfs.path / "holdfast.db"
    async with SQLiteStore(path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as crashed:
        if left == "open":
            crashed.execute("SELECT COUNT(*) FROM requests").fetchall()  # makes the -wal and -shm files
        small_tmpfs.fill()
        config_file = tmp_path / "holdfast.yaml"
        config_file.write_text(run_config(fake_ari, small_tmpfs.path))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "run", "--config", str(config_file),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), 30.0)
    text = output.decode()
    assert proc.returncode == EXIT_FATAL, text[-800:]
    assert "Traceback" not in text and "critical" in text, text[-800:]
    assert "StoreFull" in text and "free disk space" in text, text[-800:]
