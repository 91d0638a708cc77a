"""Campaign rows on the live page (service on the fake Asterisk with a store, real Chromium): a
supervisor given `spring` sees its row with its figures and never `autumn`, pauses it from the
page (confirmed in the dialog), the engine and the store follow and the change log has it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

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
    campaigns: [spring]
campaigns:
  spring:
    name: Spring offer
    queue: support
    state: running
  autumn:
    name: Autumn renewals
    queue: support
    state: running
"""


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


async def test_a_supervisor_sees_their_campaign_row_and_pauses_it_from_the_page(shell: Shell, browser: Any) -> None:
    server = TestServer(make_app(shell.service))
    await server.start_server()
    try:
        page = await log_in(browser, str(server.make_url("")).rstrip("/"), "sam", PASSWORD)
        spring = '#campaigns tr[data-id="spring"]'
        await page.wait_for_selector(f'{spring} .state:has-text("running")')
        cells = await page.inner_text(spring)
        assert "Spring offer" in cells and "0%" not in cells  # no dials yet: the rate is unknown, not 0
        assert await page.inner_text(f"{spring} .left") == "0"
        assert await page.locator('#campaigns tr[data-id="autumn"]').count() == 0
        assert "Autumn" not in await page.content()

        await page.click(f"{spring} button.campaign-pause")
        await page.fill("#confirm-reason", "list being cleaned")
        await page.click("#confirm-ok")
        await page.wait_for_selector(f'{spring} .state:has-text("paused")', timeout=1000)
        await page.wait_for_selector(f"{spring} button.campaign-resume")
        assert shell.service.engine.campaign_state["spring"].value == "paused"
        assert shell.service.engine.campaign_state["autumn"].value == "running"
        assert shell.service.store is not None
        [entry] = await shell.service.store.admin_log()
        assert (entry.who, entry.action, entry.detail) == (
            "sam",
            "campaign_pause",
            {"campaign": "spring", "reason": "list being cleaned", "before": "running", "after": "paused"},
        )
        await page.context.close()
    finally:
        await server.close()
