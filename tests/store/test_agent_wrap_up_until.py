"""An agent's wrap-up end is stored with the agent (SQLite migration 12, PostgreSQL migration 13),
and the extension granted in it (SQLite migration 13, PostgreSQL migration 14).

An extended wrap-up ends later than since + the configured wrap-up; the end is kept so a restart
resumes it (tests/telephony/test_service_wrap_up_extension_restart.py). Rows written before the
column load with no end: the restore then falls back to since + the configured wrap-up. Rows
written before the extension column load with none: the restore then counts it back from the end.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from app.core.states import AgentState
from app.store import AgentRecord, Change, Store
from tests.store.conftest import BACKENDS, ON_CI, POSTGRES_DSN


async def test_the_wrap_up_end_is_stored_with_the_agent_and_cleared_with_it(store: Store) -> None:
    wrapping = AgentRecord("a1", AgentState.WRAP_UP, None, 10.0, wrap_up_until=50.5)
    leaving = AgentRecord("a2", AgentState.WRAP_UP, None, 11.0, AgentState.LOGGED_OFF, None, 21.0)
    await store.commit([], [], [wrapping, leaving])
    assert await store.load_agents() == [wrapping, leaving]
    extended = AgentRecord("a1", AgentState.WRAP_UP, None, 10.0, wrap_up_until=80.5)
    ready = AgentRecord("a1", AgentState.READY, None, 80.5)  # the wrap-up is over: no end
    await store.commit_many([Change(agents=[extended])])
    assert (await store.load_agents())[0] == extended
    await store.commit_many([Change(agents=[ready])])
    assert await store.load_agents() == [ready, leaving]


OLD_WRAP_UP_ROW = "INSERT INTO agent_states (agent_id, state, pause_reason, since) VALUES ('a1', 'wrap_up', NULL, 10.0)"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_agents_stored_before_the_wrap_up_end_was_kept_load_with_none(backend: str, tmp_path: Path) -> None:
    if backend == "postgres" and not POSTGRES_DSN:
        if ON_CI:  # a skip in the test's body is not the setup's, which the conftest turns into a failure
            pytest.fail("CI is set but PostgreSQL is missing (see scripts/postgres-for-tests.sh)")
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL contract tests")
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    added = {"sqlite": 12, "postgres": 13}[backend]  # the migration that adds the column
    migrations: tuple[str, ...]
    if backend == "sqlite":
        from app.store.migrations import SQLITE_MIGRATIONS as migrations
        from app.store.sqlite import SQLiteStore

        def make(upto: int) -> Any:
            return SQLiteStore(tmp_path / "old.db", migrations=migrations[:upto])
    else:
        from app.store.postgres import POSTGRES_MIGRATIONS as migrations
        from app.store.postgres import PostgresStore

        def make(upto: int) -> Any:
            assert POSTGRES_DSN is not None
            return PostgresStore(POSTGRES_DSN, schema=schema, migrations=migrations[:upto])

    # a released migration is never edited (app/store/migrations.py): the column comes with its own
    assert "wrap_up_until" in migrations[added - 1]
    assert not any("wrap_up_until" in m for m in migrations[: added - 1])
    try:
        async with make(added - 1) as old, old._transaction() as conn:
            await conn.execute(OLD_WRAP_UP_ROW)
        async with make(len(migrations)) as new:
            assert await new.load_agents() == [AgentRecord("a1", AgentState.WRAP_UP, None, 10.0)]
            extended = AgentRecord("a1", AgentState.WRAP_UP, None, 10.0, wrap_up_until=45.0)
            await new.commit([], [], [extended])
            assert await new.load_agents() == [extended]
    finally:
        if backend == "postgres":
            from app.store.postgres import drop_schema

            assert POSTGRES_DSN is not None
            await drop_schema(POSTGRES_DSN, schema)


async def test_the_extension_granted_is_stored_with_the_wrap_up_end(store: Store) -> None:
    wrapping = AgentRecord("a1", AgentState.WRAP_UP, None, 10.0, wrap_up_until=20.0, wrap_up_extended=0.0)
    await store.commit([], [], [wrapping])
    assert await store.load_agents() == [wrapping]
    extended = AgentRecord("a1", AgentState.WRAP_UP, None, 10.0, wrap_up_until=50.5, wrap_up_extended=30.5)
    await store.commit_many([Change(agents=[extended])])
    assert await store.load_agents() == [extended]
    ready = AgentRecord("a1", AgentState.READY, None, 50.5)  # the wrap-up is over: neither
    await store.commit_many([Change(agents=[ready])])
    assert await store.load_agents() == [ready]


OLD_EXTENDED_ROW = (
    "INSERT INTO agent_states (agent_id, state, pause_reason, since, wrap_up_until) "
    "VALUES ('a1', 'wrap_up', NULL, 10.0, 50.0)"
)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_agents_stored_before_the_extension_was_kept_load_with_none(backend: str, tmp_path: Path) -> None:
    if backend == "postgres" and not POSTGRES_DSN:
        if ON_CI:
            pytest.fail("CI is set but PostgreSQL is missing (see scripts/postgres-for-tests.sh)")
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL contract tests")
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    added = {"sqlite": 13, "postgres": 14}[backend]  # the migration that adds the column
    migrations: tuple[str, ...]
    if backend == "sqlite":
        from app.store.migrations import SQLITE_MIGRATIONS as migrations
        from app.store.sqlite import SQLiteStore

        def make(upto: int) -> Any:
            return SQLiteStore(tmp_path / "old.db", migrations=migrations[:upto])
    else:
        from app.store.postgres import POSTGRES_MIGRATIONS as migrations
        from app.store.postgres import PostgresStore

        def make(upto: int) -> Any:
            assert POSTGRES_DSN is not None
            return PostgresStore(POSTGRES_DSN, schema=schema, migrations=migrations[:upto])

    assert len(migrations) >= added, "the column's migration is missing"
    assert "wrap_up_extended" in migrations[added - 1]
    assert not any("wrap_up_extended" in m for m in migrations[: added - 1])
    try:
        async with make(added - 1) as old, old._transaction() as conn:
            await conn.execute(OLD_EXTENDED_ROW)
        async with make(len(migrations)) as new:
            old_row = AgentRecord("a1", AgentState.WRAP_UP, None, 10.0, wrap_up_until=50.0)
            assert await new.load_agents() == [old_row]
            assert old_row.wrap_up_extended is None
            extended = AgentRecord("a1", AgentState.WRAP_UP, None, 10.0, wrap_up_until=60.0, wrap_up_extended=20.0)
            await new.commit([], [], [extended])
            assert await new.load_agents() == [extended]
    finally:
        if backend == "postgres":
            from app.store.postgres import drop_schema

            assert POSTGRES_DSN is not None
            await drop_schema(POSTGRES_DSN, schema)
