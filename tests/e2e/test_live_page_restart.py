"""The live page reconnects by itself after the service restarts (`holdfast run`, stopped and
started again), keeps today's counts (read back from the event log), and shows the next call
within a second of it being stored."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_browser import VIEWPORT, chromium

pytestmark = [pytest.mark.e2e, pytest.mark.web]

SUPPORT = "4000"
CALLER = "+4520123456"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in chromium():
        yield b


async def test_the_page_reconnects_after_a_restart_and_shows_the_next_call(service_process, phonesim, browser):
    # No users and no token in these settings: the service is open on loopback, as before issue 16.
    context = await browser.new_context(base_url=service_process.url, viewport=VIEWPORT)
    page = await context.new_page()
    await page.goto("/live")
    await page.wait_for_selector("#connection.up", timeout=5000)
    answered = '.queue-card[data-queue="support"] b.answered'
    handled = '#agents tr[data-id="1001"] .handled'
    status, _ = await service_process.api("POST", "/api/agents/1001/ready")
    assert status == 200
    first = await phonesim.call(SUPPORT, "+4520999000")
    agent = await phonesim.wait_incoming("agent:1001")
    await page.wait_for_selector(f'{answered}:text-is("1")', timeout=5000)
    await agent.hangup()
    await first.wait_hangup()
    await page.wait_for_selector(f'{handled}:text-is("1")', timeout=5000)

    service_process.stop()
    await page.wait_for_selector("#connection.down", timeout=5000)  # the page noticed
    await service_process.start()
    await page.wait_for_selector("#connection.up", timeout=10_000)  # and came back by itself
    await page.wait_for_selector(f'{answered}:text-is("1")', timeout=5000)  # today's counts survived
    await page.wait_for_selector(f'{handled}:text-is("1")', timeout=5000)
    status, _ = await service_process.api("POST", "/api/agents/1001/logout")  # the next caller waits
    assert status == 200

    caller = await phonesim.call(SUPPORT, CALLER)
    events = await service_process.wait_events(
        lambda evs: any(e.kind == "arrived" and e.data.get("caller") == CALLER for e in evs), "the caller arrived"
    )
    rid = next(e.request_id for e in events if e.kind == "arrived" and e.data.get("caller") == CALLER)
    await page.wait_for_selector(f'#requests tr[data-id="{rid}"]', timeout=1000)
    await caller.hangup()
    await page.wait_for_selector(f'#requests tr[data-id="{rid}"]', state="detached", timeout=5000)
    await context.close()
