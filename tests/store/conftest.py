"""The `store` fixture: every contract test runs against each backend.

SQLite always runs (a file in tmp_path). PostgreSQL runs when HOLDFAST_TEST_POSTGRES_DSN is set:
each test gets its own schema in that database, dropped afterwards. Without it the PostgreSQL
tests are skipped on a developer's machine, but fail under CI (CI set and not false/0): there a
missing database must not pass for a green run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from app.store import Store

POSTGRES_DSN = os.environ.get("HOLDFAST_TEST_POSTGRES_DSN")
ON_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
BACKENDS = ["sqlite", "postgres"]

StoreFactory = Callable[[], Awaitable[Store]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    """Under CI, a PostgreSQL test skipped for want of the database is a failure instead."""
    try:
        return (yield)
    except pytest.skip.Exception as skipped:
        if ON_CI and "HOLDFAST_TEST_POSTGRES_DSN" in str(skipped):
            pytest.fail(f"CI is set but PostgreSQL is missing: {skipped} (see scripts/postgres-for-tests.sh)")
        raise


@pytest.fixture(params=BACKENDS)
async def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Opens stores on ONE shared database (a second service instance, a reader…)."""
    opened: list[Store] = []
    backend = request.param
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    if backend == "postgres" and not POSTGRES_DSN:
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL contract tests")

    async def make() -> Store:
        s: Store
        if backend == "sqlite":
            from app.store.sqlite import SQLiteStore

            s = SQLiteStore(tmp_path / "holdfast.db", busy_timeout=5.0)
        else:
            from app.store.postgres import PostgresStore

            assert POSTGRES_DSN is not None
            s = PostgresStore(POSTGRES_DSN, schema=schema)
        await s.open()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()
    if backend == "postgres":
        from app.store.postgres import drop_schema

        assert POSTGRES_DSN is not None
        await drop_schema(POSTGRES_DSN, schema)


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    return await store_factory()
