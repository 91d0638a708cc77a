"""A wrap-up an agent extended keeps its extended end across a restart.

An agent who asked for more wrap-up time (`WrapUpExtended`) and whose service restarted (a crash,
an upgrade, a standby taking over) came back with the configured wrap-up only (stored `since` +
the queue's `wrap_up`): they were rung for the next caller while still writing their notes. The
extension was not stored at all (the step made no agent row). Now the wrap-up's end is stored with
the agent (`wrap_up_until`) and restored; a wrap-up extended and then over while the service was
down is over at the start, its `agent_state` line dated at the extended end.

The extension already granted is stored too (`wrap_up_extended`): the call's queue is not, so it
was counted back as end - since - the longest wrap-up of the agent's queues, and an agent whose
call's queue had a shorter wrap-up could be granted more than `max_wrap_up_extension` after a
restart. Rows stored before that column keep that rule.

Run through the real SQLite store and, with HOLDFAST_TEST_POSTGRES_DSN, PostgreSQL (under CI a
missing PostgreSQL fails instead of skipping).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from app.core import events as ev
from app.core.states import AgentState, RequestState
from app.store import Store
from app.store.migrations import SQLITE_MIGRATIONS
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import START, Shell, config_text
from tests.telephony.test_service_agent_move_restart import NEXT_CALLER, Lives

WRAP_UP = 10.0  # the test config's support queue
EXTRA = 30.0
POSTGRES_DSN = os.environ.get("HOLDFAST_TEST_POSTGRES_DSN")
ON_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store
    if request.param == "sqlite":
        from app.store.sqlite import SQLiteStore

        s = SQLiteStore(str(tmp_path / "holdfast.db"))
        await s.open()
        try:
            yield s
        finally:
            await s.close()
        return
    if not POSTGRES_DSN:
        if ON_CI:
            pytest.fail("CI is set but PostgreSQL is missing: set HOLDFAST_TEST_POSTGRES_DSN")
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL case")
    from app.store.postgres import PostgresStore, drop_schema

    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    s = PostgresStore(POSTGRES_DSN, schema=schema)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        await drop_schema(POSTGRES_DSN, schema)


@contextlib.asynccontextmanager
async def lives(fake: FakeAri, store: Store) -> AsyncIterator[Lives]:
    made = Lives(fake, store)  # type: ignore[arg-type]  # (any Store: it only hands it to the service)
    try:
        yield made
    finally:
        await made.stop()


SHORT_AND_LONG_WRAP_UPS = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 10s
    callback:
      enabled: false
  sales:
    display_name: Sales
    ring_timeout: 15s
    wrap_up: 100s
    callback:
      enabled: false
"""
CAP = 300.0  # service.max_wrap_up_extension's default


async def extended_wrap_up(service: Lives) -> float:
    """A call of 1001's ends, 1001 wraps up (10 s) and extends it by 30 s; returns its end."""
    first = await service.start()
    caller, _ring = await first.connected_call()
    await first.hangup_event(caller.channel)
    await first.eventually(lambda: first.agent_state("1001") is AgentState.WRAP_UP, "the wrap-up")
    first.service.feed(ev.WrapUpExtended(service.clock.now, "1001", EXTRA))
    assert first.service.committer is not None
    await first.service.committer.wait_committed()
    agent = first.engine.agents["1001"]
    assert agent.wrap_up_until == agent.state_since + WRAP_UP + EXTRA
    return agent.wrap_up_until


async def stored_1001(shell: Shell, store: Store) -> tuple[AgentState, float, list[tuple[float, dict[str, object]]]]:
    assert shell.service.committer is not None
    await shell.service.committer.wait_committed()
    record = next(a for a in await store.load_agents() if a.agent_id == "1001")
    lines = [(e.at, e.data) for e in await store.events(agent_id="1001", limit=1000) if e.kind == "agent_state"]
    return record.state, record.since, lines


async def test_an_extended_wrap_up_stays_extended_after_a_restart(fake_ari: FakeAri, store: Store) -> None:
    async with lives(fake_ari, store) as service:
        end = await extended_wrap_up(service)
        second = await service.restart(after=15.0)  # past the configured 10 s, inside the extended 40 s
        assert second.agent_state("1001") is AgentState.WRAP_UP, "the extension was lost at the restart"
        assert second.engine.agents["1001"].wrap_up_until == end
        assert second.engine.next_deadline() == end

        rings = len(fake_ari.calls_to("POST", r"/channels"))
        nxt = await second.caller(NEXT_CALLER)
        second.tick(1.0)
        assert second.engine.requests[nxt.request_id].state is RequestState.WAITING  # 1001 is not rung
        assert second.service.committer is not None
        await second.service.committer.wait_committed()
        assert len(fake_ari.calls_to("POST", r"/channels")) == rings, "rung while still writing the notes"

        second.tick(end - service.clock.now)  # the extended end
        assert second.agent_state("1001") is not AgentState.WRAP_UP
        await second.wait_originate("1001")  # and now rung for the caller waiting


async def test_an_extension_left_over_a_restart_is_not_granted_again(fake_ari: FakeAri, store: Store) -> None:
    """The extension already taken counts against `max_wrap_up_extension` (5 min) after a restart."""
    async with lives(fake_ari, store) as service:
        end = await extended_wrap_up(service)
        second = await service.restart(after=15.0)
        second.service.feed(ev.WrapUpExtended(service.clock.now, "1001", 600.0))
        assert second.engine.agents["1001"].wrap_up_until == end + 300.0 - EXTRA


async def test_an_extended_wrap_up_over_while_down_is_over_and_logged_at_its_end(
    fake_ari: FakeAri, store: Store
) -> None:
    async with lives(fake_ari, store) as service:
        end = await extended_wrap_up(service)
        second = await service.restart(after=60.0)  # past the extended end too
        assert second.agent_state("1001") is AgentState.READY
        state, since, lines = await stored_1001(second, store)
        assert state is AgentState.READY
        at, data = lines[-1]
        assert (data["state"], data["previous"]) == ("ready", "wrap_up")
        assert at == since == end  # when it ended: the extended end, not since + the configured 10 s


async def test_the_cap_after_a_restart_counts_the_extension_granted_not_the_longest_wrap_up(
    fake_ari: FakeAri, store: Store
) -> None:
    """1001 serves support (10 s wrap-up, the call's) and sales (100 s): counted from the longest,
    the 30 s granted looked like none, and 300 s more were granted after the restart."""
    async with lives(fake_ari, store) as service:
        service.text = config_text(fake_ari, queues=SHORT_AND_LONG_WRAP_UPS)
        end = await extended_wrap_up(service)  # a support call: 10 s + 30 s
        second = await service.restart(after=15.0)
        second.service.feed(ev.WrapUpExtended(service.clock.now, "1001", 600.0))
        agent = second.engine.agents["1001"]
        assert agent.wrap_up_until == end + CAP - EXTRA, "granted more than the cap after the restart"
        assert agent.wrap_up_extended == CAP
        assert second.service.committer is not None
        await second.service.committer.wait_committed()
        record = next(a for a in await store.load_agents() if a.agent_id == "1001")
        assert (record.wrap_up_until, record.wrap_up_extended) == (end + CAP - EXTRA, CAP)


# What a service stored before the extension granted was kept (SQLite migration 12, PostgreSQL 13):
# 1001 in a support wrap-up (10 s) since 15 s ago, extended by 30 s to end in 25 s.
OLD_EXTENDED_ROW = (
    "INSERT INTO agent_states (agent_id, state, pause_reason, since, wrap_up_until) "
    f"VALUES ('1001', 'wrap_up', NULL, {START - 15.0}, {START + 25.0})"
)
GRANTED_KEPT_BY = {"sqlite": 13, "postgres": 14}  # the migration that adds the column


def store_at(backend: str, tmp_path: Path, schema: str) -> Callable[[int | None], Any]:
    """A maker of the backend's store migrated up to a version (None: all)."""
    if backend == "sqlite":
        from app.store.sqlite import SQLiteStore

        return lambda upto: SQLiteStore(
            str(tmp_path / "holdfast.db"), **({} if upto is None else {"migrations": SQLITE_MIGRATIONS[:upto]})
        )
    if not POSTGRES_DSN:
        if ON_CI:
            pytest.fail("CI is set but PostgreSQL is missing: set HOLDFAST_TEST_POSTGRES_DSN")
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL case")
    from app.store.postgres import POSTGRES_MIGRATIONS, PostgresStore

    dsn = POSTGRES_DSN
    return lambda upto: PostgresStore(
        dsn, schema=schema, **({} if upto is None else {"migrations": POSTGRES_MIGRATIONS[:upto]})
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_wrap_up_stored_before_the_extension_was_kept_restores_as_before(
    fake_ari: FakeAri, tmp_path: Path, backend: str
) -> None:
    """Its extension is counted back from the end as before: end - since - the longest wrap-up."""
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    make = store_at(backend, tmp_path, schema)
    try:
        async with make(GRANTED_KEPT_BY[backend] - 1) as old, old._transaction() as conn:
            await conn.execute(OLD_EXTENDED_ROW)
        async with make(None) as new, lives(fake_ari, new) as service:
            shell = await service.start()
            agent = shell.engine.agents["1001"]
            assert (agent.state, agent.wrap_up_until) == (AgentState.WRAP_UP, START + 25.0)
            shell.service.feed(ev.WrapUpExtended(service.clock.now, "1001", 600.0))
            assert agent.wrap_up_until == START + 25.0 + CAP - 30.0  # the 30 s granted before count
    finally:
        if backend == "postgres":
            from app.store.postgres import drop_schema

            assert POSTGRES_DSN is not None
            await drop_schema(POSTGRES_DSN, schema)
