"""Extending an agent's wrap-up from the live page (service on the fake Asterisk with a store, real
Chromium): only an agent in wrap-up has the Extend button, the row counts down what is left of the
wrap-up, a click and the confirmation add a minute (engine and page), and a viewer has no button."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from app.core.states import AgentState
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.e2e.live_browser import chromium, log_in
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_users_api import _HASH, PASSWORD

pytestmark = pytest.mark.web

CONFIG = f"""
users:
  sam:
    role: supervisor
    password_hash: "{_HASH}"
    queues: [support]
  vic:
    role: viewer
    password_hash: "{_HASH}"
    queues: [support]
"""
ROW = '#agents tr[data-id="1001"]'


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    store = SQLiteStore(tmp_path / "holdfast.db")
    await store.open()
    s = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES, extra=CONFIG), store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in chromium():
        yield b


async def _left(page: Any) -> float:
    """Seconds of wrap-up the row says are left ("1:09" -> 69)."""
    text = await page.inner_text(f"{ROW} .wrap-left")
    minutes, seconds = text.split(":")
    return int(minutes) * 60 + int(seconds)


async def test_an_agent_in_wrap_up_is_given_a_minute_more_from_the_page(shell: Shell, browser: Any) -> None:
    server = TestServer(make_app(shell.service))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        page = await log_in(browser, base, "sam", PASSWORD)
        shell.ready("1001")
        await page.wait_for_selector(f"{ROW} .badge.a-ready")
        assert await page.locator(f"{ROW} button.agent-extend").count() == 0  # ready: nothing to extend
        assert await page.locator(f"{ROW} .wrap-left").count() == 0

        caller, _ring = await shell.connected_call()
        await shell.hangup_event(caller.channel)
        await shell.eventually(lambda: shell.agent_state("1001") is AgentState.WRAP_UP, "wrap-up")
        end = shell.engine.agents["1001"].wrap_up_until
        assert end is not None
        await page.wait_for_selector(f"{ROW} button.agent-extend")
        assert await _left(page) <= 10  # the queue's wrap-up, counting down

        await page.click(f"{ROW} button.agent-extend")
        await page.click("#confirm-ok")
        await shell.eventually(lambda: shell.engine.agents["1001"].wrap_up_until == end + 60.0, "the extension")
        await page.wait_for_function(
            "(row) => document.querySelector(row + ' .wrap-left')?.textContent.startsWith('1:')",
            arg=ROW,
            timeout=5000,
        )
        assert 60 < await _left(page) <= 70
        assert shell.service.store is not None
        [entry] = [e for e in await shell.service.store.admin_log() if e.action == "agent_extend"]
        assert (entry.who, entry.detail["agent_id"], entry.detail["granted"]) == ("sam", "1001", 60.0)
        await page.context.close()

        viewer = await log_in(browser, base, "vic", PASSWORD)
        await viewer.wait_for_selector(f"{ROW} .wrap-left")  # sees the wrap-up's end, cannot extend it
        assert await viewer.locator("button.agent-extend").count() == 0
        await viewer.context.close()
    finally:
        await server.close()
