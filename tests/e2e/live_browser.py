"""Headless Chromium for the live page's tests: Debian's /usr/bin/chromium driven by Playwright.

Playwright's own browser download does not work here (and is not needed): `chromium()` launches
the system browser. Without it the tests skip — unless CI=true (or HOLDFAST_REQUIRE_BROWSER=1),
where a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("HOLDFAST_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
VIEWPORT = {"width": 1440, "height": 900}


def browser_required() -> bool:
    flag = os.environ.get("HOLDFAST_REQUIRE_BROWSER", "").strip().lower()
    if flag:
        return flag not in ("0", "false", "no")
    return os.environ.get("CI", "").strip().lower() == "true"


def _missing(why: str) -> None:
    if browser_required():
        pytest.fail(f"the browser tests need Chromium (CI or HOLDFAST_REQUIRE_BROWSER) but {why}")
    pytest.skip(f"browser tests need Chromium: {why}")


async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (an async generator, for a fixture)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("the python package playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    async with async_playwright() as playwright:
        # --no-sandbox: the tests may run as root (CI containers), where Chromium's sandbox refuses.
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def log_in(browser: Any, base_url: str, user: str, password: str) -> Any:
    """A page logged in as `user` through the log-in form, on /live with the feed connected."""
    context = await browser.new_context(base_url=base_url, viewport=VIEWPORT)
    page = await context.new_page()
    await page.goto("/live")
    assert "/login" in page.url  # not logged in yet: the page sends us to the form
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/live")
    await page.wait_for_selector("#connection.up", timeout=5000)
    return page


def frames_of(page: Any) -> list[str]:
    """Every websocket message the page receives from now on (for "never a byte about ...")."""
    frames: list[str] = []

    def on_socket(socket: Any) -> None:
        socket.on("framereceived", lambda payload: frames.append(payload if isinstance(payload, str) else ""))

    page.on("websocket", on_socket)
    return frames
