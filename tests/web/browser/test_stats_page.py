"""The statistics page in real headless Chromium (service on the fake Asterisk, a store with a
day of generated events plus the hand-counted log): a supervisor of support sees support's
figures only, the tables and charts render (tickets and moves too), CSV export is linked, a
report too large is refused on the page and a pruned history is warned of; docs/stats-page.png is
made here from an admin's view."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from app.core.commands import Activity
from app.store import store_from_dsn
from app.web.api import make_app
from bench.stats import EPOCH, generate
from tests.ari.fake_ari import FakeAri
from tests.e2e.live_browser import DOCS, chromium, log_in
from tests.telephony.conftest import Shell, make_shell
from tests.web.test_users_api import PASSWORD, shell_text  # noqa: F401

pytestmark = pytest.mark.web
DAY = datetime.fromtimestamp(EPOCH, UTC).strftime("%Y-%m-%d")
AGENTS = 38  # busy enough that waits and abandons show
RENAME = {"billing": "sales"}  # the generator's three queues onto the two of the settings


def _day_of_events() -> list[Activity]:
    out = []
    for at, kind, req, agent, queue, data in generate(1, AGENTS):
        out.append(Activity(kind, req, agent, RENAME.get(queue or "", queue), at, json.loads(data)))
    # The generator gives no tickets nor moves: one of each at 10:00, so their columns show a figure.
    at = EPOCH + 10 * 3600
    out.append(Activity("ended", "t1", None, "support", at, {"outcome": "ticket"}))
    out.append(Activity("moved", "m1", None, "support", at, {"from_queue": "support", "to_queue": "sales"}))
    return out


@pytest.fixture
async def shell(fake_ari: FakeAri, shell_text: str, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    store = store_from_dsn(str(tmp_path / "stats.db"))
    await store.open()
    await store.append_events(_day_of_events())
    s = await make_shell(fake_ari, shell_text, store=store)
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


async def test_the_stats_page_shows_a_supervisor_their_queue_and_draws_the_charts(shell: Shell, browser: Any) -> None:
    server = TestServer(make_app(shell.service))
    await server.start_server()
    try:
        page = await log_in(browser, str(server.make_url("/")), "sam", PASSWORD)
        await page.click('.topbar a[href="/stats"]')  # linked from the live page's header
        await page.wait_for_url("**/stats")
        await page.goto(f"/stats?day={DAY}&interval=1h")
        await page.wait_for_selector('#totals tbody tr[data-key="support"]')
        keys = await page.locator("#totals tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")
        assert keys == ["support"]
        assert "sales" not in (await page.content()).lower()
        assert await page.locator("#volume rect").count() > 20  # bars for the day's busy hours
        assert await page.locator("#sla polyline").count() == 3  # SLA net, gross, ASA
        assert await page.locator("#rows tbody tr").count() >= 9  # 08:00-17:00 at least
        # The ticket and move columns /api/stats returns, headed plainly with a tooltip.
        headers = await page.locator("#totals thead th").evaluate_all("hs => hs.map(h => [h.textContent, h.title])")
        tips = dict(headers)
        assert {"Tickets", "Moved in", "Moved out"} <= set(tips) and "moved into" in tips["Moved in"], headers
        api = await page.evaluate(
            "async (u) => (await fetch(u)).json()", f"/api/stats?from={EPOCH}&to={EPOCH + 86400}&interval=1h"
        )
        cells = await page.locator('#totals tbody tr[data-key="support"] td').all_text_contents()
        shown = dict(zip([h for h, _ in headers], cells, strict=True))
        for field, header in (("tickets", "Tickets"), ("moved_in", "Moved in"), ("moved_out", "Moved out")):
            assert shown[header] == str(api["totals"][0][field]), (header, shown)
        assert (shown["Tickets"], shown["Moved in"], shown["Moved out"]) == ("1", "0", "1")
        assert await page.locator("#pruned").is_hidden()  # nothing was pruned
        href = await page.get_attribute("#csv", "href")
        assert href is not None and "format=csv" in href
        csv_text = await page.evaluate("async (u) => (await fetch(u)).text()", href)
        assert csv_text.startswith("key,bucket,offered") and "sales" not in csv_text
        await page.context.close()

        admin = await log_in(browser, str(server.make_url("/")), "ada", PASSWORD)
        await admin.goto(f"/stats?day={DAY}&interval=1h")
        await admin.wait_for_selector('#totals tbody tr[data-key="all"]')
        keys = await admin.locator("#totals tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")
        assert keys == ["sales", "support", "all"]
        DOCS.mkdir(exist_ok=True)
        await admin.screenshot(path=str(DOCS / "stats-page.png"), full_page=True)
        await admin.select_option("#by", "agent")
        await admin.click("#controls button[type=submit]")
        await admin.wait_for_selector("#totals th:has-text('Occupancy')")
        assert await admin.locator("#totals tbody tr").count() == AGENTS + 1  # every agent and all
        # A quarter by agent per 15 minutes is refused with what to change, and the last
        # report's figures are taken away rather than left under the new range.
        await admin.fill("#days", "92")
        await admin.select_option("#interval", "15m")
        await admin.click("#controls button[type=submit]")
        await admin.wait_for_selector("#problem:not([hidden])")
        assert "8,832 intervals" in await admin.text_content("#problem")
        assert await admin.locator("#totals tbody tr").count() == 0
        # The history keeper cut the log at noon: the page says the figures before it are missing.
        assert shell.service.store is not None
        cut = EPOCH + 12 * 3600
        await shell.service.store.append_events([Activity("history_pruned", None, None, None, cut, {"before": cut})])
        await admin.fill("#days", "1")
        await admin.click("#controls button[type=submit]")
        await admin.wait_for_selector("#pruned:not([hidden])")
        warning = await admin.text_content("#pruned")
        assert warning is not None and f"{datetime.fromtimestamp(cut, UTC):%Y-%m-%d %H:%M} UTC" in warning, warning
        assert await admin.locator("#problem").is_hidden()
        await admin.context.close()
    finally:
        await server.close()
