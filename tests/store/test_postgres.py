"""What only the PostgreSQL store does; runs when HOLDFAST_TEST_POSTGRES_DSN is set."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest

from app.core.commands import Activity
from app.core.request import Attempt
from app.core.states import RequestState
from app.store import SchemaTooNew, StoreDataError, store_from_dsn
from tests.store.conftest import POSTGRES_DSN
from tests.store.test_contract import make_request

pytestmark = pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    from app.store.postgres import drop_schema

    name = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    yield name
    assert POSTGRES_DSN is not None
    await drop_schema(POSTGRES_DSN, name)


async def test_a_newer_schema_is_refused(schema: str) -> None:
    from app.store.postgres import PostgresStore

    assert POSTGRES_DSN is not None
    async with PostgresStore(POSTGRES_DSN, schema=schema) as store, store._transaction() as conn:
        await conn.execute("INSERT INTO schema_version VALUES (99, now())")
    with pytest.raises(SchemaTooNew, match=r"schema version 99.*newer Holdfast"):
        await PostgresStore(POSTGRES_DSN, schema=schema).open()


async def test_a_database_failure_midway_through_a_commit_writes_nothing(schema: str) -> None:
    from app.store.postgres import PostgresStore

    assert POSTGRES_DSN is not None
    async with PostgresStore(POSTGRES_DSN, schema=schema) as store:
        before = make_request("r1")
        await store.commit([before], [Activity("arrived", "r1")])
        async with store._transaction() as conn:
            await conn.execute(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.agent_id = 'boom' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$; "
                "CREATE TRIGGER boom BEFORE INSERT ON attempts FOR EACH ROW EXECUTE FUNCTION boom();"
            )
        changed = dataclasses.replace(before, state=RequestState.RINGING_AGENT, agent_id="a1")
        failing = make_request("r2", place=(0, 1.0, 2), attempts=[Attempt(1, 2.0, "boom")])
        with pytest.raises(StoreDataError, match="injected failure"):
            await store.commit([changed, failing], [Activity("agent_ringing", "r1")])
        assert await store.load_request("r1") == before
        assert await store.load_request("r2") is None
        assert [e.kind for e in await store.events()] == ["arrived"]


def test_store_from_dsn_picks_postgres() -> None:
    from app.store.postgres import PostgresStore

    s = store_from_dsn("postgresql://u:secret@db/holdfast", schema="node1")
    assert isinstance(s, PostgresStore) and "secret" not in repr(s)
