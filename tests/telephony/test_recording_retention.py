"""Recording retention (issue 17): a recorded call's `recording_started` is kept in the event log
with its queue, and the retention keeper deletes the stored recording through ARI once it is
older than its queue's `recording.retention` — not a moment before — logging `recording_deleted`.
Time is passed to `sweep`, so no test waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.core.commands import Activity, BridgeLegs
from app.store import store_from_dsn
from app.telephony.legs import Leg
from app.telephony.recordings import RetentionKeeper
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell

HOUR = 3600.0
RECORDED_QUEUES = """
  support:
    display_name: Support
    record_calls: true
    recording: {format: wav, retention: 2h}
  sales:
    display_name: Sales
    record_calls: true
    recording: {format: gsm, retention: 1d}
"""


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    store = store_from_dsn(str(tmp_path / "events.db"))
    await store.open()
    s = await make_shell(fake_ari, config_text(fake_ari, queues=RECORDED_QUEUES), store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


async def recorded_call(shell: Shell, number: str, extension: str, fmt: str = "wav") -> str:
    """A caller bridged to an agent with the bridge recorded (as the executor does on BridgeLegs);
    returns the request id once its recording_started is stored."""
    caller = await shell.caller(number, ("inbound", extension))
    agent_channel = shell.fake.add_channel(name=f"PJSIP/1001-{caller.request_id[:8]}")
    leg_id = f"agent-{caller.request_id}"
    shell.service.legs.add(Leg(leg_id, agent_channel["id"], "agent", caller.request_id, answered=True))
    command = BridgeLegs(caller.request_id, caller.request_id, leg_id, record=True, record_format=fmt)
    shell.service.executor.submit([command])
    await shell.activities.wait("recording_started", request_id=caller.request_id)
    await shell.service.wait_committed()
    return caller.request_id


def keeper(shell: Shell) -> RetentionKeeper:
    assert shell.service.recording_keeper is not None
    return shell.service.recording_keeper


async def test_a_recording_is_deleted_after_its_queues_retention_and_not_before(shell: Shell) -> None:
    start = shell.clock.now
    support = await recorded_call(shell, "+4520123456", "4000")
    sales = await recorded_call(shell, "+4520777666", "4001", fmt="gsm")
    name = f"holdfast-{support}"
    assert {name, f"holdfast-{sales}"} <= set(shell.fake.state.recordings)

    assert await keeper(shell).sweep(start + 2 * HOUR - 60) == []
    assert name in shell.fake.state.recordings
    assert not shell.fake.calls_to("DELETE", r"/recordings/stored/.*")

    assert await keeper(shell).sweep(start + 2 * HOUR + 1) == [name]  # support keeps 2 h, sales 1 d
    assert name not in shell.fake.state.recordings
    assert f"holdfast-{sales}" in shell.fake.state.recordings
    deleted = await shell.activities.wait("recording_deleted", request_id=support)
    assert (deleted.queue, deleted.data["name"], deleted.data["gone"]) == ("support", name, False)
    await shell.service.wait_committed()
    assert shell.service.store is not None
    kinds = [(e.kind, e.queue) for e in await shell.service.store.events(request_id=support)]
    assert ("recording_started", "support") in kinds and ("recording_deleted", "support") in kinds

    # the deletion is in the log: a later sweep (or a restarted keeper) does not delete it again
    assert await keeper(shell).sweep(start + 3 * HOUR) == []
    logged: list[Activity] = []
    store, retentions = shell.service.store, shell.service._retentions
    assert store is not None
    fresh = RetentionKeeper(store, shell.ari.recordings, retentions, logged.append, shell.clock)
    assert await fresh.sweep(start + 3 * HOUR) == []
    assert await fresh.sweep(start + 25 * HOUR) == [f"holdfast-{sales}"]
    assert [(a.kind, a.queue) for a in logged] == [("recording_deleted", "sales")]


async def test_a_refused_deletion_is_tried_again_and_a_missing_file_counts_as_deleted(shell: Shell) -> None:
    start = shell.clock.now
    rid = await recorded_call(shell, "+4520123456", "4000")
    name = f"holdfast-{rid}"
    shell.fake.fail("DELETE", r"/recordings/stored/.*", status=500, times=1)
    assert await keeper(shell).sweep(start + 3 * HOUR) == []
    assert name in shell.fake.state.recordings and name in keeper(shell).kept
    del shell.fake.state.recordings[name]  # removed by hand meanwhile
    assert await keeper(shell).sweep(start + 4 * HOUR) == [name]
    deleted = await shell.activities.wait("recording_deleted", request_id=rid)
    assert deleted.data["gone"] is True


async def test_the_keeper_dying_stops_the_service(shell: Shell) -> None:
    task = keeper(shell).task
    assert task is not None and not shell.service.fatal.is_set()
    task.cancel()
    await shell.eventually(shell.service.fatal.is_set, "the service to stop")
    assert shell.service.fatal_reason == "recording_retention_cancelled"


class CountingStore:
    """The store as the keeper sees it, counting the event-log lines handed back by any read."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.lines_read = 0

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.inner, name)
        if name not in ("events", "events_of_kinds"):
            return attr

        async def counted(*args: object, **kwargs: object) -> object:
            rows = await attr(*args, **kwargs)
            self.lines_read += len(rows)
            return rows

        return counted


async def test_the_keeper_reads_only_recording_lines_not_the_whole_log(shell: Shell) -> None:
    start = shell.clock.now
    rid = await recorded_call(shell, "+4520123456", "4000")
    store = shell.service.store
    assert store is not None
    # a busy log: thousands of lines about other things, before and after the recording
    await store.append_events([Activity("agent_state", agent_id="a1", at=start, data={"i": i}) for i in range(2500)])
    counting = CountingStore(store)
    logged: list[Activity] = []
    fresh = RetentionKeeper(counting, shell.ari.recordings, shell.service._retentions, logged.append, shell.clock)  # type: ignore[arg-type]
    assert await fresh.sweep(start + 3 * HOUR) == [f"holdfast-{rid}"]
    assert [(a.kind, a.request_id) for a in logged] == [("recording_deleted", rid)]
    assert counting.lines_read <= 5, f"the keeper read {counting.lines_read} lines of the log"


async def test_a_call_that_ends_as_its_recording_starts_keeps_its_queues_retention(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor reports `recording_started` once ARI has answered the record request; a short
    call may have ended meanwhile and its request left the engine. The recording still belongs to
    its queue: kept for that queue's retention (sales: 1 d), not the 30 d default."""
    start = shell.clock.now
    caller = await shell.caller("+4520777666", ("inbound", "4001"))
    rid = caller.request_id
    answered, resume = asyncio.Event(), asyncio.Event()
    record = shell.ari.bridges.record

    async def answered_then_held(*args: Any, **kwargs: Any) -> None:
        await record(*args, **kwargs)  # Asterisk records...
        answered.set()
        await resume.wait()  # ...and the executor resumes only after the call has ended

    monkeypatch.setattr(shell.ari.bridges, "record", answered_then_held)
    agent_channel = shell.fake.add_channel(name="PJSIP/1001-00000009")
    leg_id = f"agent-{rid}"
    shell.service.legs.add(Leg(leg_id, agent_channel["id"], "agent", rid, answered=True))
    shell.service.executor.submit([BridgeLegs(rid, rid, leg_id, record=True, record_format="gsm")])
    await asyncio.wait_for(answered.wait(), 2.0)
    await shell.hangup_event(caller.channel)
    await shell.eventually(lambda: rid not in shell.engine.requests, "the request to end")
    resume.set()
    started = await shell.activities.wait("recording_started", request_id=rid)
    assert started.queue == "sales"
    await shell.service.wait_committed()
    assert await keeper(shell).sweep(start + 24 * HOUR - 60) == []
    assert await keeper(shell).sweep(start + 24 * HOUR + 60) == [f"holdfast-{rid}"]
