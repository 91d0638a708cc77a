"""Campaign rows, moves and the outbox on the live page (service on the fake Asterisk with a store,
real Chromium): a supervisor given `spring` sees its row with its figures and never `autumn`,
pauses it from the page (confirmed in the dialog), the engine and the store follow and the change
log has it; a waiting callback is moved to another queue from the page; an admin sees the
notification outbox with the last error of a failed notification, a supervisor does not."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from app.store.outbox import write_sqlite
from app.store.outbox_records import Notification
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
  ada:
    role: admin
    password_hash: "{_HASH}"
  sam:
    role: supervisor
    password_hash: "{_HASH}"
    queues: [support, sales]
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
    with sqlite3.connect(tmp_path / "holdfast.db") as conn:  # two notifications the worker is not configured to send
        write_sqlite(conn, [outbox("n-pending", "support"), outbox("n-failed", "sales")])
    await store.notification_failed("n-failed", "receiver answered 502 Bad Gateway")
    await store.notification_retry("n-pending", 4_000_000_000.0, "timed out")  # not due while the test runs
    s = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES, extra=CONFIG), store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


def outbox(nid: str, queue: str) -> Notification:
    return Notification(nid, 1_700_000_000.0, "missed_callback", "webhook:crm", None, queue, 1_900_000_000.0, {})


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


async def test_a_waiting_callback_is_moved_from_the_page_and_the_outbox_is_for_admins(
    shell: Shell, browser: Any
) -> None:
    server = TestServer(make_app(shell.service))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        page = await log_in(browser, base, "sam", PASSWORD)
        answer = await page.evaluate(
            "async () => (await Holdfast.api('POST', '/api/callbacks', "
            "{queue: 'support', number: '+4520123456'})).answer"
        )
        rid = answer["request_id"]
        row = f'#requests tr[data-id="{rid}"]'
        await page.wait_for_selector(f'{row} td:first-child:text-is("Support")')
        await page.click(f"{row} button.move-callback")
        await page.select_option("#confirm-queue", "sales")
        await page.fill("#confirm-reason", "a sales question")
        await page.click("#confirm-ok")
        await page.wait_for_selector(f'{row} td:first-child:text-is("Sales")', timeout=1000)
        assert shell.service.engine.requests[rid].queue == "sales"
        assert shell.service.store is not None
        moves = [e for e in await shell.service.store.admin_log() if e.request_id == rid and "move" in e.action]
        assert [(e.who, e.detail.get("reason")) for e in moves] == [("sam", "a sales question")]
        assert await page.locator("#outbox-section").is_hidden()  # supervisors: no outbox
        await page.context.close()

        admin = await log_in(browser, base, "ada", PASSWORD)
        failed = '#outbox tr[data-id="n-failed"]'
        await admin.wait_for_selector(failed)
        assert "failed" in await admin.inner_text(failed)
        assert "receiver answered 502 Bad Gateway" in await admin.inner_text(failed)
        pending = await admin.inner_text('#outbox tr[data-id="n-pending"]')
        assert "pending" in pending and "timed out" in pending
        await admin.context.close()
    finally:
        await server.close()
