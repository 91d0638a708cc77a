"""Wrong passwords outlive a restart (app/web/login_guard.py StoredFailures): the throttle's counts
were in memory only, so a restart, or a standby taking over, gave a password guesser fresh tries.
Now each checked wrong password is kept in the store and counted again by the next app on it; they
are written in batches, so a flood of wrong passwords costs the store one write, not one each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.store import StoreError
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from app.web.auth import THROTTLE
from app.web.login_guard import StoredFailures, Throttle
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_users_api import PASSWORD, users_yaml


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    store = SQLiteStore(tmp_path / "holdfast.db")
    await store.open()
    s = await make_shell(
        fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path)), store=store
    )
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


async def log_in(client: TestClient, user: str, password: str) -> int:
    return (await client.post("/api/session", json={"username": user, "password": password})).status


async def test_wrong_passwords_before_a_restart_still_count_after_it(shell: Shell) -> None:
    async with TestClient(TestServer(make_app(shell.service))) as before:
        for i in range(Throttle.MAX_FAILURES):
            assert await log_in(before, "sam", f"guess-{i}") == 401
        assert await log_in(before, "sam", PASSWORD) == 429
    # A fresh app (a restart: nothing in memory) on the same store
    async with TestClient(TestServer(make_app(shell.service))) as after:
        resp = await after.post("/api/session", json={"username": "sam", "password": PASSWORD})
        assert resp.status == 429, await resp.text()
        assert "too many wrong passwords for this user" in (await resp.json())["error"]
        assert await log_in(after, "vic", PASSWORD) == 200  # another user is not held up


async def test_a_node_taking_over_counts_what_the_leader_wrote_without_a_clean_stop(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StoredFailures, "FLUSH_EVERY", 0.05)  # written soon, not at the leader's stop
    async with TestClient(TestServer(make_app(shell.service))) as leader:
        stored = leader.server.app[THROTTLE].stored
        assert stored is not None
        for i in range(Throttle.MAX_FAILURES):
            assert await log_in(leader, "sam", f"guess-{i}") == 401
        async with asyncio.timeout(5):
            while stored._flusher is None or not stored._flusher.done():  # the batch written
                await asyncio.sleep(0.01)
        assert stored.writes >= 1
        async with TestClient(TestServer(make_app(shell.service))) as standby:  # the leader still up
            assert await log_in(standby, "sam", PASSWORD) == 429


async def test_a_flood_of_wrong_passwords_is_one_write_and_a_refused_log_in_none(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StoredFailures, "FLUSH_EVERY", 60.0)  # the whole flood within one batch
    async with TestClient(TestServer(make_app(shell.service))) as client:
        throttle = client.server.app[THROTTLE]
        assert throttle.stored is not None
        names = [f"flood{i}" for i in range(12)]
        statuses = await asyncio.gather(*(log_in(client, n, "x") for n in names))
        assert statuses == [401] * len(names)
        for i in range(Throttle.MAX_FAILURES):
            assert await log_in(client, "sam", f"guess-{i}") == 401
        for _ in range(3):  # refused before any check: nothing to write
            assert await log_in(client, "sam", PASSWORD) == 429
        assert throttle.stored.writes == 0  # nothing written while the flood goes on
    assert throttle.stored.writes == 1  # the app's stop wrote them, together
    assert shell.service.store is not None
    kept = await shell.service.store.login_failures(0.0)  # type: ignore[attr-defined]
    assert sorted(f.user for f in kept) == sorted(names + ["sam"] * Throttle.MAX_FAILURES)


async def test_a_store_that_cannot_be_read_refuses_the_log_in_until_it_can(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counts are read before the first log-in is judged (not at start-up, which they would
    hold up): while the store cannot be read a log-in is refused (503), never let through uncounted."""
    async with TestClient(TestServer(make_app(shell.service))) as before:
        for i in range(Throttle.MAX_FAILURES):
            assert await log_in(before, "sam", f"guess-{i}") == 401
    store = shell.service.store
    assert store is not None
    real = store.login_failures  # type: ignore[attr-defined]

    async def unreadable(since: float) -> list[object]:
        raise StoreError("database is locked (test)")

    async with TestClient(TestServer(make_app(shell.service))) as after:
        monkeypatch.setattr(store, "login_failures", unreadable)
        resp = await after.post("/api/session", json={"username": "sam", "password": PASSWORD})
        assert resp.status == 503 and resp.headers["Retry-After"] == "5"
        monkeypatch.setattr(store, "login_failures", real)
        assert await log_in(after, "sam", PASSWORD) == 429
