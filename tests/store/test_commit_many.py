"""Group commit (`commit_many`): several steps' changes in one transaction, every backend (see
conftest's `store` fixture), with the end state of committing them one by one in order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.core.commands import Activity
from app.core.request import Attempt
from app.core.states import AgentState, RequestKind, RequestState
from app.store import AgentRecord, Change, Store, StoreDataError
from app.store.sqlite import SQLiteStore
from tests.store.conftest import StoreFactory
from tests.store.test_contract import make_request


def three_steps() -> list[Change]:
    """A callback promised, its agent rung, then its customer dialled: r1 changes three times,
    agent a1 twice; r2 arrives in the middle."""
    promised = make_request("r1", callback_number="+4530123456", kind=RequestKind.CALLBACK)
    ringing = dataclasses.replace(promised, state=RequestState.RINGING_AGENT, agent_id="a1")
    dialling = dataclasses.replace(ringing, state=RequestState.DIALLING_CUSTOMER, attempts=[Attempt(1, 1100.0, "a1")])
    return [
        Change([promised], [Activity("callback_accepted", "r1", None, "support", 1000.0)]),
        Change(
            [ringing, make_request("r2", place=(0, 1001.0, 2))],
            [Activity("agent_ringing", "r1", "a1", "support", 1050.0), Activity("arrived", "r2", at=1050.0)],
            [AgentRecord("a1", AgentState.RINGING, None, 1050.0)],
        ),
        Change(
            [dialling],
            [Activity("attempt_started", "r1", "a1", "support", 1100.0, {"attempt": 1})],
            [AgentRecord("a1", AgentState.BUSY, None, 1100.0)],
        ),
    ]


async def test_commit_many_leaves_the_state_of_the_same_commits_one_by_one(store_factory: StoreFactory) -> None:
    batched, one_by_one = await store_factory(), await store_factory()
    steps = three_steps()
    await batched.commit_many(steps)
    assert await batched.load_request("r1") == steps[2].requests[0]  # the last state wins
    assert [a.state for a in await batched.load_agents()] == [AgentState.BUSY]
    events = await batched.events()
    assert [e.activity() for e in events] == [a for s in steps for a in s.activities]  # in order
    assert [e.id for e in events] == sorted(e.id for e in events)

    # A second store on the same database, fed the same changes one commit each, ends the same.
    for step in steps:
        await one_by_one.commit(step.requests, step.activities, step.agents)
    assert await one_by_one.load_active_requests() == await batched.load_active_requests()
    assert await one_by_one.load_agents() == await batched.load_agents()
    log = [e.activity() for e in await one_by_one.events()]
    assert log == [e.activity() for e in events] * 2


async def test_a_later_state_in_the_batch_replaces_earlier_attempts(store: Store) -> None:
    first = make_request("r1", attempts=[Attempt(1, 1000.0, "a1"), Attempt(2, 1010.0, "a2")])
    second = dataclasses.replace(first, attempts=[Attempt(1, 1000.0, "a1")])
    await store.commit_many([Change([first]), Change([second])])
    assert await store.load_request("r1") == second


async def test_a_bad_value_in_one_change_writes_none_of_the_batch(store: Store) -> None:
    before = make_request("r0")
    await store.commit([before], [Activity("arrived", "r0", at=999.0)])
    events_before = await store.events()
    steps = three_steps()
    bad = Change([], [Activity("broken", "r2", at=1100.0, data={"oops": object()})])
    with pytest.raises(StoreDataError, match="broken"):
        await store.commit_many([*steps[:2], bad, steps[2]])
    assert await store.load_request("r1") is None and await store.load_request("r2") is None
    assert await store.events() == events_before
    assert await store.load_agents() == []
    await store.commit_many(steps)  # and the store is usable afterwards
    assert await store.load_request("r1") == steps[2].requests[0]


async def test_an_empty_batch_or_empty_changes_write_nothing(store: Store) -> None:
    await store.commit_many([])
    await store.commit_many([Change(), Change()])
    assert await store.events() == [] and await store.load_active_requests() == []


async def test_sqlite_commits_a_batch_in_one_transaction(tmp_path: Path) -> None:
    """One BEGIN … COMMIT (one WAL fsync) for the whole batch, traced on the connection."""
    async with SQLiteStore(tmp_path / "holdfast.db") as store:
        statements: list[str] = []
        await store._conn().set_trace_callback(statements.append)
        steps = [
            Change([make_request(f"r{i}", place=(0, 1000.0, i))], [Activity("arrived", f"r{i}")]) for i in range(50)
        ]
        await store.commit_many(steps)
        await store._conn().set_trace_callback(None)
        assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]
        assert len(await store.load_active_requests()) == 50
