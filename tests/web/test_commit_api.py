"""A change is answered only once it is stored: with a store whose commit is held back, the 201
(or 200) does not arrive before the commit completes; a store that fails gives 503."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from app.store import StoreFull
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES

NOT_BEFORE = 0.3  # how long an answer is given to (wrongly) arrive while its commit is held back


class GatedStore(SQLiteStore):
    """Commits wait for `gate`; `held` is set while one waits and `done` counts finished ones."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = asyncio.Event()
        self.done = 0
        self.fail = False

    async def commit(self, requests, activities, agents=()):  # type: ignore[no-untyped-def]
        if not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
        if self.fail:
            raise StoreFull("database or disk is full (test)")
        await super().commit(requests, activities, agents)
        self.done += 1


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    s = GatedStore(str(tmp_path / "holdfast.db"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def stored_shell(fake_ari: FakeAri, store: GatedStore) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES), store=store)
    assert s.service.committer is not None
    s.service.committer.retries = (0.0, None)  # a failing store gives up at once
    await s.start()
    try:
        yield s
    finally:
        store.gate.set()
        await s.stop()


@pytest.fixture
async def http(stored_shell: Shell) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(make_app(stored_shell.service)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def answered_only_after_commit(
    store: GatedStore, call: Callable[[], Awaitable[ClientResponse]]
) -> tuple[ClientResponse, bool]:
    """Run `call` with commits held back; returns its response and whether the commit had
    completed when the response arrived."""
    await asyncio.sleep(0)
    store.gate.clear()
    store.held.clear()
    done_before = store.done
    task = asyncio.ensure_future(call())
    await asyncio.wait_for(store.held.wait(), 2.0)  # the change reached the store and waits there
    with_commit_held, _ = await asyncio.wait({task}, timeout=NOT_BEFORE)
    store.gate.set()
    resp = await asyncio.wait_for(task, 2.0)
    # On the old code the answer came while the commit was held back.
    return resp, not with_commit_held and store.done > done_before


async def test_the_201_for_a_callback_waits_for_its_commit(
    stored_shell: Shell, http: TestClient, store: GatedStore
) -> None:
    resp, after = await answered_only_after_commit(
        store, lambda: http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    )
    assert resp.status == 201
    assert after, "the 201 arrived before the callback was stored"
    stored = await store.load_request((await resp.json())["request_id"])
    assert stored is not None and stored.callback_number == CALLER


async def test_remove_and_move_answer_after_their_commit(
    stored_shell: Shell, http: TestClient, store: GatedStore
) -> None:
    ids = []
    for number in (CALLER, "+4520999888"):
        resp = await http.post("/api/callbacks", json={"queue": "support", "number": number})
        ids.append((await resp.json())["request_id"])
    resp, after = await answered_only_after_commit(
        store, lambda: http.post(f"/api/callbacks/{ids[0]}/move", json={"queue": "sales", "by": "eva"})
    )
    assert resp.status == 200 and after, "the move was answered before it was stored"
    stored = await store.load_request(ids[0])
    assert stored is not None and stored.queue == "sales"
    resp, after = await answered_only_after_commit(store, lambda: http.delete(f"/api/callbacks/{ids[1]}"))
    assert resp.status == 200 and after, "the removal was answered before it was stored"
    assert ids[1] not in {r.id for r in await store.load_active_requests()}


async def test_an_agent_action_answers_after_its_commit(
    stored_shell: Shell, http: TestClient, store: GatedStore
) -> None:
    resp, after = await answered_only_after_commit(store, lambda: http.post("/api/agents/1001/ready"))
    assert resp.status == 200 and after, "the agent's change was answered before it was stored"
    assert {a.agent_id: a.state.value for a in await store.load_agents()}["1001"] == "ready"


async def test_a_store_that_cannot_commit_gives_503_not_201(
    stored_shell: Shell, http: TestClient, store: GatedStore
) -> None:
    store.fail = True
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 503, body
    assert body["error"].startswith("the change could not be stored")
    assert stored_shell.service.fatal.is_set()
    # and once the service is stopping, a change is refused before it is applied
    before = len(stored_shell.engine.requests)
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": "+4520999888"})
    assert resp.status == 503
    assert len(stored_shell.engine.requests) == before


@pytest.mark.parametrize("change", ["remove", "move", "agent"])
async def test_a_stopping_service_refuses_every_change_with_503(
    stored_shell: Shell, http: TestClient, change: str
) -> None:
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    request_id = (await resp.json())["request_id"]
    stored_shell.service.fatal.set()
    if change == "remove":
        resp = await http.delete(f"/api/callbacks/{request_id}")
    elif change == "move":
        resp = await http.post(f"/api/callbacks/{request_id}/move", json={"queue": "sales"})
    else:
        resp = await http.post("/api/agents/1001/ready")
    assert resp.status == 503
    assert "try again later" in (await resp.json())["error"]
    assert stored_shell.engine.requests[request_id].queue == "support"
    assert stored_shell.agent_state("1001").value == "logged_off"
