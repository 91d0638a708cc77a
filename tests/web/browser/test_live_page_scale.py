"""The live page with 200 ongoing requests and 100 agents (service on the fake Asterisk, real
Chromium): it renders them all, and a change still reaches the page within a second."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.e2e.live_browser import VIEWPORT, chromium
from tests.telephony.conftest import Shell

pytestmark = pytest.mark.web

AGENTS = [str(2000 + i) for i in range(100)]
REQUESTS = 200


@pytest.fixture
def shell_text(fake_ari: FakeAri) -> str:
    agents = "\n".join(
        f'  "{a}":\n    name: Agent {a}\n    password: "pw{a}"\n    skills: [support, sales]' for a in AGENTS
    )
    return f"""
asterisk:
  ari_url: {fake_ari.base_url}
  ari_user: {fake_ari.username}
  ari_password: "{fake_ari.password}"
  app: {fake_ari.app_name}
queues:
  support:
    display_name: Support
  sales:
    display_name: Sales
agents:
{agents}
"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in chromium():
        yield b


async def test_two_hundred_requests_and_a_hundred_agents_render_and_update(shell: Shell, browser: Any) -> None:
    server = TestServer(make_app(shell.service))
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            ids = []
            for i in range(REQUESTS):
                body = {"queue": "support" if i % 2 else "sales", "number": f"+45201{i:05d}"}
                async with http.post(str(server.make_url("/api/callbacks")), json=body) as resp:
                    assert resp.status == 201, await resp.text()
                    ids.append((await resp.json())["request_id"])
            context = await browser.new_context(base_url=str(server.make_url("/")), viewport=VIEWPORT)
            page = await context.new_page()
            await page.goto("/live")
            await page.wait_for_selector("#connection.up")
            assert await page.locator("#requests tbody tr").count() == REQUESTS
            assert await page.locator("#agents tbody tr").count() == len(AGENTS)
            # one change among 300 rows: on the page within a second
            started = time.monotonic()
            async with http.delete(str(server.make_url(f"/api/callbacks/{ids[7]}"))) as resp:
                assert resp.status == 200
            await page.wait_for_selector(f'#requests tr[data-id="{ids[7]}"]', state="detached", timeout=1000)
            assert shell.service.agent_action(AGENTS[42], "ready") == "agent_ready"
            await page.wait_for_selector(f'#agents tr[data-id="{AGENTS[42]}"] .state:has-text("ready")', timeout=1000)
            elapsed = time.monotonic() - started
            assert elapsed < 2.0, elapsed
            assert await page.locator("#requests tbody tr").count() == REQUESTS - 1
            # the browser keeps up: ticking 300 rows stays well under a frame budget of work per second
            tick_ms = await page.evaluate(
                "() => { const t = performance.now(); tick(); return performance.now() - t; }"
            )
            assert tick_ms < 50, tick_ms
            await context.close()
    finally:
        await server.close()
