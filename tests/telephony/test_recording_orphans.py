"""Recordings the event log does not know, and recordings of a queue since removed.

A kill -9 of the service after Asterisk has started a call's recording and before its
`recording_started` line is stored leaves a file in the spool that the retention keeper (which
follows the log) would keep for ever: call recordings past their retention (GDPR). At start-up the
keeper lists the spool and adopts each `holdfast-` recording the log does not know (its request's
queue and last event tell how long to keep it), so it is deleted like the others once due. It
never touches another application's file, a recording of a call still going on, or one the log
knows.

A queue removed from the settings: its recordings keep the retention in force when they were
made (stored in their `recording_started` line), not a 30-day default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from structlog.testing import CapturingLogger

from app.ari import AriError
from app.core.commands import Activity, BridgeLegs
from app.store import Store, store_from_dsn
from app.telephony import recordings
from app.telephony.legs import Leg
from app.telephony.recordings import STARTED, RetentionKeeper
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import START, FakeClock, Shell, config_text, make_shell
from tests.telephony.test_service_multi_asterisk import build_two

HOUR, DAY = 3600.0, 86400.0
QUEUES = """
  support:
    display_name: Support
    record_calls: true
    recording: {format: wav, retention: 2h}
  sales:
    display_name: Sales
    record_calls: true
    recording: {format: gsm, retention: 1d}
"""
# sales renamed away (its calls now go to "support"): its settings, retention included, are gone
WITHOUT_SALES = """
  support:
    display_name: Support
    record_calls: true
    recording: {format: wav, retention: 2h}
  closing:
    display_name: Closing
    record_calls: true
    recording: {format: gsm, retention: 3d}
"""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = store_from_dsn(str(tmp_path / "events.db"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def started_shell(fake: FakeAri, store: Store, clock: FakeClock, queues: str = QUEUES) -> Shell:
    # a queue renamed away: the numbers and skills that named it name its successor
    text = config_text(fake, queues=queues).replace("sales", "closing") if queues is WITHOUT_SALES else None
    s = await make_shell(fake, text or config_text(fake, queues=queues), clock=clock, store=store)
    await s.start()
    return s


def keeper(shell: Shell) -> RetentionKeeper:
    assert shell.service.recording_keeper is not None
    return shell.service.recording_keeper


async def bridge_recorded(shell: Shell, number: str, extension: str, fmt: str = "wav", lost: bool = False) -> str:
    """A caller bridged to an agent with the bridge recorded (as the executor does on BridgeLegs).
    `lost`: the service dies (kill -9) once Asterisk is recording and before the line is stored."""
    caller = await shell.caller(number, ("inbound", extension))
    rid = caller.request_id
    agent_channel = shell.fake.add_channel(name=f"PJSIP/1001-{rid[:8]}")
    shell.service.legs.add(Leg(f"agent-{rid}", agent_channel["id"], "agent", rid, answered=True))
    executor = shell.service.executor
    report: Callable[[Activity], None] = executor.on_activity
    dropped = asyncio.Event()

    def killed_before_storing(activity: Activity) -> None:
        if activity.kind == STARTED:
            dropped.set()
        else:
            report(activity)

    if lost:
        executor.on_activity = killed_before_storing
    executor.submit([BridgeLegs(rid, rid, f"agent-{rid}", record=True, record_format=fmt)])
    if lost:
        await asyncio.wait_for(dropped.wait(), 2.0)
    else:
        await shell.activities.wait(STARTED, request_id=rid)
    assert f"holdfast-{rid}" in shell.fake.state.recordings
    executor.on_activity = report
    await shell.service.wait_committed()
    return rid


async def hang_up(shell: Shell, rid: str) -> None:
    leg = shell.service.legs.by_leg(rid)
    assert leg is not None
    await shell.hangup_event(shell.fake.state.channels[leg.channel_id])
    await shell.eventually(lambda: rid not in shell.engine.requests, "the request to end")
    await shell.service.wait_committed()


async def test_a_recording_whose_line_was_never_stored_is_deleted_after_its_queues_retention(
    fake_ari: FakeAri, store: Store
) -> None:
    clock = FakeClock(START)
    first = await started_shell(fake_ari, store, clock)
    try:
        lost = await bridge_recorded(first, "+4520123456", "4000", lost=True)  # support: 2 h
        kept = await bridge_recorded(first, "+4520777666", "4001", fmt="gsm")  # sales: 1 d, logged
        for rid in (lost, kept):
            await hang_up(first, rid)
    finally:
        await first.stop()  # (the kill: nothing more about `lost` reaches the log)
    fake_ari.state.recordings["voicemail-4711"] = {"name": "voicemail-4711", "format": "wav", "file": b"RIFF"}
    lost_name = f"holdfast-{lost}"

    clock.advance(2 * HOUR - 60)  # restarted before the orphan is due: adopted, kept
    second = await started_shell(fake_ari, store, clock)
    try:
        adopted = await second.activities.wait(STARTED, request_id=lost)
        assert adopted.queue == "support" and adopted.data["adopted"] is True
        await second.service.wait_committed()
        assert await keeper(second).sweep(clock()) == []
        assert lost_name in fake_ari.state.recordings
        # due once its queue's retention has passed since the call (its last line), like the others
        assert await keeper(second).sweep(START + 2 * HOUR + 60) == [lost_name]
        deleted = await second.activities.wait("recording_deleted", request_id=lost)
        assert (deleted.queue, deleted.data["name"]) == ("support", lost_name)
        assert lost_name not in fake_ari.state.recordings
        assert {"voicemail-4711", f"holdfast-{kept}"} <= set(fake_ari.state.recordings)  # not ours; not due
        assert await keeper(second).sweep(START + DAY + 60) == [f"holdfast-{kept}"]
        assert "voicemail-4711" in fake_ari.state.recordings
    finally:
        await second.stop()


async def test_an_unknown_recording_is_adopted_at_start_up_and_survives_a_restart(
    fake_ari: FakeAri, store: Store
) -> None:
    """Once adopted, the orphan is in the log: a later start-up keeps counting from the first."""
    clock = FakeClock(START)
    first = await started_shell(fake_ari, store, clock)
    try:
        lost = await bridge_recorded(first, "+4520123456", "4000", lost=True)
        await hang_up(first, lost)
    finally:
        await first.stop()
    for step in (HOUR, 0.5 * HOUR):
        clock.advance(step)
        again = await started_shell(fake_ari, store, clock)
        try:
            adopted = keeper(again)
            await again.eventually(lambda: adopted.kept != {}, "the first sweep")  # noqa: B023 (awaited here)
            await again.service.wait_committed()
        finally:
            await again.stop()
    started = [e for e in await store.events(request_id=lost) if e.kind == STARTED]
    assert len(started) == 1 and started[0].at == pytest.approx(START, abs=1.0)
    clock.advance(HOUR)
    last = await started_shell(fake_ari, store, clock)
    try:
        await last.activities.wait("recording_deleted", request_id=lost)  # the start-up sweep: due
        assert f"holdfast-{lost}" not in fake_ari.state.recordings
    finally:
        await last.stop()


async def test_a_recording_of_a_call_going_on_is_not_touched_until_the_call_ends(
    fake_ari: FakeAri, store: Store
) -> None:
    clock = FakeClock(START)
    shell = await started_shell(fake_ari, store, clock)
    try:
        rid = await bridge_recorded(shell, "+4520123456", "4000", lost=True)
        name = f"holdfast-{rid}"
        keeper(shell).unknown_scan = True  # as at a start-up while the call goes on
        assert await keeper(shell).sweep(START + 30 * DAY) == []
        assert name in fake_ari.state.recordings and name not in keeper(shell).kept
        clock.advance(10 * 60)
        await hang_up(shell, rid)  # ended 10 min into the call: the retention counts from then
        assert await keeper(shell).sweep(clock() + 2 * HOUR - 60) == []
        assert keeper(shell).kept[name].queue == "support"
        assert await keeper(shell).sweep(clock() + 2 * HOUR + 1) == [name]
    finally:
        await shell.stop()


async def test_a_removed_queues_recordings_keep_the_retention_they_were_made_with(
    fake_ari: FakeAri, store: Store
) -> None:
    """sales kept its recordings 1 d. Renamed away, they must not fall back to a 30 d default (too
    long for a 1-day policy); support, still configured, follows its running settings."""
    clock = FakeClock(START)
    first = await started_shell(fake_ari, store, clock)
    try:
        sales = await bridge_recorded(first, "+4520777666", "4001", fmt="gsm")
        support = await bridge_recorded(first, "+4520123456", "4000")
        for rid in (sales, support):
            await hang_up(first, rid)
    finally:
        await first.stop()

    second = await started_shell(fake_ari, store, clock, queues=WITHOUT_SALES)
    try:
        await second.eventually(lambda: len(keeper(second).kept) == 2, "the start-up sweep")
        assert await keeper(second).sweep(START + DAY - 60) == [f"holdfast-{support}"]
        assert await keeper(second).sweep(START + DAY + 60) == [f"holdfast-{sales}"]
    finally:
        await second.stop()


async def test_a_recording_of_a_request_the_log_has_no_line_of_is_kept_the_longest_retention_from_when_found(
    fake_ari: FakeAri, store: Store
) -> None:
    """Nothing tells its queue or age (its request's lines pruned, or never stored): counted from
    when it is found, for the longest retention any queue has (sales: 1 d), then deleted. A spool
    that cannot be listed is listed at the next sweep; the keeper goes on."""
    clock = FakeClock(START)
    name = "holdfast-0b7c6a52-5c1e-4f0e-9d7a-1e2f3a4b5c6d"
    fake_ari.state.recordings[name] = {"name": name, "format": "wav", "file": b"RIFF"}
    fake_ari.fail("GET", r"/recordings/stored$", status=500, times=1)
    shell = await started_shell(fake_ari, store, clock)
    try:
        await shell.fake.wait_for_call("GET", r"/recordings/stored$")
        task = keeper(shell).task
        assert task is not None and not task.done()  # a refused list does not end the keeper
        assert keeper(shell).unknown_scan and name not in keeper(shell).kept
        clock.advance(HOUR)
        assert await keeper(shell).sweep(clock()) == []
        adopted = await shell.activities.wait(STARTED, request_id=name.removeprefix("holdfast-"))
        assert adopted.queue is None and adopted.at == START + HOUR and adopted.data["retention"] == DAY
        assert not keeper(shell).unknown_scan  # listed once: later sweeps follow the log only
        assert await keeper(shell).sweep(START + HOUR + DAY - 60) == []
        assert await keeper(shell).sweep(START + HOUR + DAY + 60) == [name]
        assert name not in fake_ari.state.recordings
    finally:
        await shell.stop()


async def test_a_line_of_a_removed_queue_stored_without_its_retention_keeps_the_default_and_says_so(
    fake_ari: FakeAri, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines stored before the retention was kept with them: the 30 d default, with a warning."""
    logged = CapturingLogger()  # (not capture_logs: another test may have cached the module's logger)
    monkeypatch.setattr(recordings, "log", logged)
    clock = FakeClock(START)
    name = "holdfast-old-request"
    fake_ari.state.recordings[name] = {"name": name, "format": "wav", "file": b"RIFF"}
    line = Activity(STARTED, request_id="old-request", queue="retired", at=START, data={"name": name, "format": "wav"})
    await store.append_events([line])
    shell = await started_shell(fake_ari, store, clock)
    try:
        await shell.eventually(lambda: name in keeper(shell).kept, "the start-up sweep")
        assert await keeper(shell).sweep(START + 30 * DAY - 60) == []
        assert await keeper(shell).sweep(START + 30 * DAY - 30) == []
        warned = [c.kwargs for c in logged.calls if c.args == ("recording_retention_unknown",)]
        assert [(w["queue"], w["retention"]) for w in warned] == [("retired", 30 * DAY)]  # once per queue
        assert await keeper(shell).sweep(START + 30 * DAY + 60) == [name]
    finally:
        await shell.stop()


async def test_the_spool_list_of_several_servers_is_all_of_theirs_or_an_error() -> None:
    """Several servers: a call's recording is on the one that bridged it, so each spool is listed;
    one that cannot answer makes the list unknown (an error: the scan waits for the next sweep)."""
    async with FakeAri() as a, FakeAri() as b:
        two = build_two(a, b)
        await two.service.start()
        try:
            a.state.recordings["holdfast-r1"] = {"name": "holdfast-r1", "format": "wav", "file": b""}
            b.state.recordings["holdfast-r2"] = {"name": "holdfast-r2", "format": "gsm", "file": b""}
            listed = await two.service.recordings.list_stored()
            assert sorted((r.name, r.format) for r in listed) == [("holdfast-r1", "wav"), ("holdfast-r2", "gsm")]
            b.fail("GET", r"/recordings/stored$", status=500, times=1)
            with pytest.raises(AriError):
                await two.service.recordings.list_stored()
        finally:
            await asyncio.wait_for(two.service.stop(), 5.0)
