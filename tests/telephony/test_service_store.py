"""Commit before act, checked against the fake ARI with a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from app.core import events as ev
from app.core.commands import Activity, Command
from app.core.errors import CoreError
from app.core.states import AgentState
from app.store import StoreFull
from app.store.sqlite import SQLiteStore
from app.telephony.errors import CommitFailed, ServiceStopping
from tests.ari.fake_ari import FakeAri, RecordedCall
from tests.telephony.conftest import CALLER, DEFAULT_QUEUES, Shell, config_text, make_shell


async def test_a_step_is_stored_before_asterisk_is_told_anything(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    seen_at_answer: list[list[str]] = []

    async def look_at_store(call: RecordedCall) -> None:
        if call.method == "POST" and call.path.endswith("/answer"):
            seen_at_answer.append([e.kind for e in await store.events()])

    fake_ari.on_request.append(look_at_store)
    shell = await make_shell(fake_ari, store=store)
    try:
        await shell.start()
        caller = await shell.caller(CALLER)
        await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/answer")
        assert seen_at_answer and "arrived" in seen_at_answer[0]
        stored = await store.load_request(caller.request_id)
        assert stored is not None and stored.state == "waiting"
    finally:
        await shell.stop()
        await store.close()


class FullDisk(SQLiteStore):
    async def commit(self, requests, activities, agents=()):  # type: ignore[no-untyped-def]
        raise StoreFull("database or disk is full (test)")


async def test_a_store_that_cannot_commit_stops_the_service_before_acting(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = FullDisk(str(tmp_path / "holdfast.db"))
    await store.open()
    shell = await make_shell(fake_ari, store=store)
    assert shell.service.committer is not None
    shell.service.committer.retries = (0.0, None)
    try:
        await shell.start()
        chan = await shell.arrive(CALLER, ("inbound", "4000"))
        await shell.eventually(shell.service.fatal.is_set, "the service giving up")
        assert not shell.fake.calls_to("POST", rf"/channels/{chan['id']}/answer")  # nothing acted on
        assert shell.service.metrics.store_failures._value.get() >= 1
    finally:
        await shell.stop()
        await store.close()


class FailingStore(SQLiteStore):
    """SQLite that fails on demand: `failure` is raised by every commit (of one step or a batch)
    / admin log write. `batches` lists the steps per group commit."""

    failure: BaseException | None = None
    batch_failure: BaseException | None = None  # raised by group commits (of several steps) only
    admin_failure: BaseException | None = None
    gate: asyncio.Event | None = None  # when set, commits wait for it (and `held` is set)

    async def commit(self, requests, activities, agents=()):  # type: ignore[no-untyped-def]
        await self._hold_or_fail()
        await super().commit(requests, activities, agents)

    async def commit_many(self, changes):  # type: ignore[no-untyped-def]
        changes = list(changes)
        if len(changes) > 1:  # commit() is commit_many of one: held and counted there
            await self._hold_or_fail()
            if self.batch_failure is not None:
                raise self.batch_failure
            self.batches.append(len(changes))
        await super().commit_many(changes)

    async def _hold_or_fail(self) -> None:
        if self.gate is not None:
            self.held.set()
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure

    async def append_admin(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.admin_failure is not None:
            raise self.admin_failure
        return await super().append_admin(*args, **kwargs)


@pytest.fixture
async def failing_store(tmp_path: Path) -> AsyncIterator[FailingStore]:
    store = FailingStore(str(tmp_path / "holdfast.db"))
    store.held = asyncio.Event()  # type: ignore[attr-defined]
    store.batches = []  # type: ignore[attr-defined]
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def stored_shell(fake_ari: FakeAri, failing_store: FailingStore) -> AsyncIterator[Shell]:
    # support takes callbacks here: the admin tests below ask for one there (issue 12 refuses
    # callbacks into a queue with callback.enabled false, the shell's default).
    queues = DEFAULT_QUEUES.replace("    callback:\n      enabled: false\n", "", 1)
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=queues), store=failing_store)
    assert shell.service.committer is not None
    shell.service.committer.retries = (0.0, None)  # one retry, then give up
    try:
        await shell.start()
        yield shell
    finally:
        await shell.stop()


FAILURES = {
    "store_refuses": StoreFull("database or disk is full (test)"),
    "integer_overflow": OverflowError("Python int too large to convert to SQLite INTEGER"),
    "bug": RuntimeError("a bug in the store (test)"),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
async def test_a_commit_that_fails_in_any_way_stops_the_service_and_nothing_after_it_is_acted_on(
    stored_shell: Shell, failing_store: FailingStore, failure: BaseException
) -> None:
    shell = stored_shell
    first = await shell.caller(CALLER)
    await shell.service.wait_committed()
    assert shell.service.healthy

    failing_store.failure = failure
    with capture_logs() as logs:
        chan = await shell.arrive("+4520999888")
        await shell.eventually(shell.service.fatal.is_set, "the service giving up")
        assert not shell.service.healthy
        # Fed after the failed step: an agent gets ready, which would ring them for the first caller.
        assert shell.service.agent_action("1001", "ready") == "agent_ready"
        await shell.settle()
        with pytest.raises(CommitFailed):
            await asyncio.wait_for(shell.service.wait_committed(), 2.0)
        with pytest.raises(ServiceStopping):
            await asyncio.wait_for(shell.service.feed_and_commit(ev.AgentPaused(shell.clock(), "1001", "x")), 2.0)
    assert not shell.fake.calls_to("POST", rf"/channels/{chan['id']}/answer")  # its own step: not acted on
    assert not shell.fake.calls_to("POST", r"/channels")  # the later step: nobody was rung
    assert first.request_id in shell.engine.requests
    critical = [e for e in logs if e["log_level"] == "critical"]
    assert critical and type(failure).__name__ in str(critical[0].get("error"))


async def test_a_bug_in_acting_on_a_stored_step_stops_the_service(stored_shell: Shell) -> None:
    shell = stored_shell
    committer = shell.service.committer
    assert committer is not None

    def broken_act(commands: list[Command]) -> None:
        raise TypeError("a bug in act (test)")

    committer.act = broken_act
    await shell.arrive(CALLER)
    await shell.eventually(shell.service.fatal.is_set, "the service giving up")
    assert not shell.service.healthy and committer.failed
    with pytest.raises(CommitFailed):
        await asyncio.wait_for(shell.service.wait_committed(), 2.0)


async def test_waiting_for_a_commit_ends_when_the_store_fails_instead_of_hanging(
    stored_shell: Shell, failing_store: FailingStore
) -> None:
    shell = stored_shell
    failing_store.failure = StoreFull("database or disk is full (test)")
    shell.ready("1001")
    with pytest.raises(CommitFailed):
        await asyncio.wait_for(shell.service.wait_committed(), 2.0)


async def test_feed_and_commit_returns_once_that_step_is_stored(
    stored_shell: Shell, failing_store: FailingStore
) -> None:
    shell = stored_shell
    failing_store.gate = asyncio.Event()
    task = asyncio.create_task(shell.service.feed_and_commit(ev.AgentReady(shell.clock(), "1001")))
    await asyncio.wait_for(failing_store.held.wait(), 2.0)  # type: ignore[attr-defined]
    assert shell.agent_state("1001") is AgentState.READY  # applied in memory at once...
    assert not task.done()  # ...but not answered before it is kept
    failing_store.gate.set()
    commands = await asyncio.wait_for(task, 2.0)
    assert any(isinstance(c, Activity) and c.kind == "agent_state" for c in commands)
    stored = {a.agent_id: a.state for a in await failing_store.load_agents()}
    assert stored["1001"] is AgentState.READY


async def test_feed_and_commit_passes_on_a_refusal_of_the_engine(stored_shell: Shell) -> None:
    with pytest.raises(CoreError):
        await stored_shell.service.feed_and_commit(ev.CallbackRemoved(stored_shell.clock(), "no-such-request", "admin"))
    assert stored_shell.service.healthy


async def test_an_admin_change_is_stored_and_logged_before_admin_action_returns(
    stored_shell: Shell, failing_store: FailingStore
) -> None:
    shell = stored_shell
    await shell.service.feed_and_commit(ev.CallbackRequested(shell.clock(), "cb-1", "support", CALLER))
    await shell.service.admin_action(ev.CallbackRemoved(shell.clock(), "cb-1", "alice", "duplicate"))
    stored = await failing_store.load_request("cb-1")
    assert stored is not None and stored.state == "ended"
    log = await failing_store.admin_log()
    assert [(a.who, a.action, a.request_id) for a in log] == [("alice", "remove_callback", "cb-1")]


async def test_an_admin_change_log_the_store_keeps_refusing_stops_the_service(
    stored_shell: Shell, failing_store: FailingStore
) -> None:
    shell = stored_shell
    await shell.service.feed_and_commit(ev.CallbackRequested(shell.clock(), "cb-1", "support", CALLER))
    failing_store.admin_failure = StoreFull("database or disk is full (test)")
    with capture_logs() as logs, pytest.raises(ServiceStopping):
        await shell.service.admin_action(ev.CallbackRemoved(shell.clock(), "cb-1", "alice", "duplicate"))
    assert shell.service.fatal.is_set() and not shell.service.healthy
    assert shell.service.fatal_reason == "admin_log_failed_stopping"
    assert [e["event"] for e in logs if e["log_level"] == "critical"] == ["service_stopping"]


async def test_changes_fed_while_a_commit_runs_are_stored_together_then_answered(
    stored_shell: Shell, failing_store: FailingStore
) -> None:
    """Group commit through the service: 16 callbacks requested while the store is busy share the
    next transaction, and each feed_and_commit returns only once its own callback is stored."""
    shell = stored_shell
    await shell.service.wait_committed()  # the start-up's own steps
    before = list(failing_store.batches)  # type: ignore[attr-defined]
    failing_store.gate = asyncio.Event()
    blocker = asyncio.create_task(shell.service.feed_and_commit(ev.AgentReady(shell.clock(), "1001")))
    await asyncio.wait_for(failing_store.held.wait(), 2.0)  # the store is busy with that step
    numbers = [f"+4520100{i:03d}" for i in range(16)]  # valid Danish mobiles
    tasks = [
        asyncio.create_task(
            shell.service.feed_and_commit(ev.CallbackRequested(shell.clock(), f"cb-{i}", "support", number))
        )
        for i, number in enumerate(numbers)
    ]
    await asyncio.sleep(0)
    assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()][:1]
    failing_store.gate.set()
    await asyncio.wait_for(asyncio.gather(blocker, *tasks), 5.0)
    assert failing_store.batches == [*before, 16]  # type: ignore[attr-defined]
    for i, number in enumerate(numbers):
        stored = await failing_store.load_request(f"cb-{i}")
        assert stored is not None and stored.callback_number == number


async def test_a_failed_group_commit_stops_the_service_and_acts_on_none_of_its_steps(
    stored_shell: Shell, failing_store: FailingStore
) -> None:
    shell = stored_shell
    await shell.service.wait_committed()  # the start-up's own steps
    before = list(failing_store.batches)  # type: ignore[attr-defined]
    failing_store.gate = asyncio.Event()
    blocker = asyncio.create_task(shell.service.feed_and_commit(ev.AgentReady(shell.clock(), "1001")))
    await asyncio.wait_for(failing_store.held.wait(), 2.0)  # the store is busy with that step
    chans = [await shell.arrive(f"+45209998{i:02d}") for i in range(3)]
    await shell.eventually(lambda: len(shell.engine.requests) == 3, "three callers in the engine")
    failing_store.batch_failure = StoreFull("database or disk is full (test)")
    failing_store.gate.set()
    await asyncio.wait_for(blocker, 2.0)  # its own step was stored alone
    await shell.eventually(shell.service.fatal.is_set, "the service giving up")
    assert failing_store.batches == before  # type: ignore[attr-defined]
    await shell.settle()
    for chan in chans:  # none of the failed batch's steps was acted on
        assert not shell.fake.calls_to("POST", rf"/channels/{chan['id']}/answer")
    assert not shell.fake.calls_to("POST", r"/channels")  # the ready agent was not rung either
