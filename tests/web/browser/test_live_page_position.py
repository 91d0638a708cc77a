"""Moving a waiting callback to first from the live page (service on the fake Asterisk with a store,
real Chromium): confirmed in the dialog with a reason, the positions on the page follow, the change
log has position before → after, and the next free agent is rung for the moved callback — the
page shows it ringing that agent while the others wait in their order. A viewer has no button."""

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
  vic:
    role: viewer
    password_hash: "{_HASH}"
    queues: [support]
"""
NUMBERS = ("+4520111111", "+4520222222", "+4520333333")


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


async def test_a_callback_moved_first_from_the_page_is_the_next_one_served(shell: Shell, browser: Any) -> None:
    server = TestServer(make_app(shell.service))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        page = await log_in(browser, base, "sam", PASSWORD)
        ids = []
        for number in NUMBERS:
            shell.clock.advance(1.0)
            answer = await page.evaluate(
                "async (n) => (await Holdfast.api('POST', '/api/callbacks', {queue: 'support', number: n})).answer",
                number,
            )
            ids.append(answer["request_id"])
        rows = [f'#requests tr[data-id="{rid}"]' for rid in ids]
        await page.wait_for_selector(f'{rows[2]} .position:text-is("3")')

        await page.click(f"{rows[2]} button.position-callback")
        assert await page.input_value("#confirm-position") == "1"  # first, unless changed
        await page.click("#confirm-ok")  # no reason: refused in the dialog, nothing sent
        assert await page.inner_text("#confirm-error") == "A reason is required."
        await page.fill("#confirm-reason", "customer waited since yesterday")
        await page.click("#confirm-ok")
        await page.wait_for_selector(f'{rows[2]} .position:text-is("1")', timeout=5000)  # the fake's page: not timed
        assert [await page.inner_text(f"{r} .position") for r in rows] == ["2", "3", "1"]
        assert [r.id for r in shell.service.engine.waiting("support")] == [ids[2], ids[0], ids[1]]
        assert shell.service.store is not None
        [entry] = await shell.service.store.admin_log()
        assert (entry.who, entry.action, entry.request_id, entry.detail["before"], entry.detail["after"]) == (
            "sam",
            "position_callback",
            ids[2],
            "position 3 of 3 in support",
            "position 1 of 3 in support",
        )

        await page.click('#agents tr[data-id="1001"] button.agent-ready')  # a free agent: who is rung?
        await page.click("#confirm-ok")
        await page.wait_for_selector(f'{rows[2]} .agent:text-is("Agent 1001")', timeout=5000)
        assert shell.service.engine.requests[ids[2]].agent_id == "1001"
        assert [await page.inner_text(f"{r} .position") for r in rows[:2]] == ["1", "2"]  # the others, in order
        await page.context.close()

        viewer = await log_in(browser, base, "vic", PASSWORD)
        await viewer.wait_for_selector(f'{rows[0]} .position:text-is("1")')
        assert await viewer.locator("button.position-callback").count() == 0
        await viewer.context.close()
    finally:
        await server.close()
