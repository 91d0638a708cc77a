"""A log-out outlives a restart (issue 16): the session's id is kept in the store, so a new
process (a fresh app with nothing in memory) still refuses the logged-out cookie, while another
session of the same user goes on working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.store import StoreError
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from app.web.sessions import COOKIE
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_users_api import login, users_yaml


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


async def with_cookie(shell: Shell, cookie: str) -> int:
    """GET /api/session with `cookie` on a freshly started app: nothing of the old one in memory."""
    async with TestClient(TestServer(make_app(shell.service))) as fresh:
        return (await fresh.get("/api/session", headers={"Cookie": f"{COOKIE}={cookie}"})).status


async def test_a_logged_out_session_stays_out_after_a_restart(shell: Shell) -> None:
    gone, kept = await login(shell, "sam"), await login(shell, "sam")
    try:
        gone_cookie = gone.session.cookie_jar.filter_cookies(gone.make_url("/"))[COOKIE].value
        kept_cookie = kept.session.cookie_jar.filter_cookies(kept.make_url("/"))[COOKIE].value
        resp = await gone.delete("/api/session", headers={"X-CSRF-Token": gone.csrf})  # type: ignore[attr-defined]
        assert resp.status == 200
    finally:
        await gone.close()
        await kept.close()
    assert await with_cookie(shell, gone_cookie) == 401
    assert await with_cookie(shell, kept_cookie) == 200


async def test_a_log_out_the_store_cannot_keep_is_refused(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await login(shell, "sam")
    try:

        async def full(*args: object) -> None:
            raise StoreError("database or disk is full (test)")

        assert shell.service.store is not None
        monkeypatch.setattr(shell.service.store, "revoke_session", full)
        resp = await client.delete("/api/session", headers={"X-CSRF-Token": client.csrf})  # type: ignore[attr-defined]
        assert resp.status == 503 and "log out again" in (await resp.json())["error"]
        assert (await client.get("/api/session")).status == 401  # this process refuses it already
    finally:
        await client.close()
