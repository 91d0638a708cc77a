"""A supervisor demoted to viewer while the live page is open (service on the fake Asterisk, real
Chromium): the page read the role once, at load, so it kept offering Remove and Move; the server
refused them (403) and the supervisor met an error for a button the page still showed. Now the page
reads the role again when an action is refused, when its feed reconnects, and every SESSION_EVERY:
the buttons go, and a refused action says why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.e2e.live_browser import VIEWPORT, chromium, log_in
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_users_api import _HASH, PASSWORD

pytestmark = pytest.mark.web

USERS = """
users:
  sam:
    role: {role}
    password_hash: "{hash}"
    queues: [support]
"""
REMOVE = "#requests button.remove-callback"


def settings(fake: FakeAri, role: str) -> str:
    return config_text(fake, queues=CALLBACK_QUEUES, extra=USERS.format(role=role, hash=_HASH))


@pytest.fixture
async def shell(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, settings(fake_ari, "supervisor"))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in chromium():
        yield b


@pytest.fixture
async def base(shell: Shell) -> AsyncIterator[str]:
    server = TestServer(make_app(shell.service))
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def with_a_callback(page: Any) -> None:
    await page.evaluate("async () => Holdfast.api('POST', '/api/callbacks', {queue: 'support', number: '+4520111111'})")
    await page.wait_for_selector(REMOVE)


def demote(shell: Shell, tmp_path: Path) -> None:
    path = tmp_path / "holdfast.yaml"
    path.write_text(settings(shell.fake, "viewer"))
    shell.service.config_path = path
    assert shell.service.reload() is None  # as SIGHUP does it


async def test_a_refused_action_says_the_role_changed_and_the_buttons_go(
    shell: Shell, browser: Any, base: str, tmp_path: Path
) -> None:
    page = await log_in(browser, base, "sam", PASSWORD)
    await with_a_callback(page)
    demote(shell, tmp_path)
    await page.click(REMOVE)  # the page has not heard yet: the button is still there
    await page.fill("#confirm-reason", "duplicate")
    await page.click("#confirm-ok")
    error = page.locator("#confirm-error")
    await error.filter(has_text="your role was changed from supervisor to viewer").wait_for(timeout=5000)
    assert "no longer change anything" in await error.inner_text()
    assert await page.is_disabled("#confirm-ok")  # nothing to try again
    await page.click("#confirm-cancel")
    await page.wait_for_selector(REMOVE, state="detached", timeout=5000)  # the fake's page: not timed
    assert await page.locator("#requests tbody tr").count() == 1  # the row stays, without its buttons
    assert await page.locator("#agents button").count() == 0
    assert "sam · viewer" in await page.inner_text("#topbar")
    assert len(shell.service.engine.waiting("support")) == 1  # nothing was removed
    await page.context.close()


async def test_the_buttons_go_when_the_feed_reconnects(shell: Shell, browser: Any, base: str, tmp_path: Path) -> None:
    """(A guard: the page read the role at a reconnect before too, and its snapshot redrew the row.)"""
    page = await log_in(browser, base, "sam", PASSWORD)
    await with_a_callback(page)
    demote(shell, tmp_path)
    await page.evaluate("() => socket.close()")  # as a restart of the service or a network blip does
    await page.wait_for_selector(REMOVE, state="detached", timeout=5000)
    await page.wait_for_selector("#connection.up", timeout=5000)
    assert await page.locator("#requests tbody tr").count() == 1
    await page.context.close()


async def test_the_buttons_go_within_a_while_without_anything_else(
    shell: Shell, browser: Any, base: str, tmp_path: Path
) -> None:
    context = await browser.new_context(base_url=base, viewport=VIEWPORT)
    page = await context.new_page()
    await page.clock.install()  # the page's timers on a clock the test moves
    await page.goto("/login?next=/live")
    await page.fill("#username", "sam")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#connection.up", timeout=5000)
    await with_a_callback(page)
    demote(shell, tmp_path)
    await page.clock.run_for(31_000)  # SESSION_EVERY (30 s) later
    await page.wait_for_selector(REMOVE, state="detached", timeout=5000)
    assert "sam · viewer" in await page.inner_text("#topbar")
    await context.close()
