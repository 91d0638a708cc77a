"""Moving a waiting callback to first from the live page, with the service on real Asterisk and the
phone simulator: three callbacks wait in `cb`; a supervisor puts the third first (confirmed, with
a reason, in the change log with the position before and after) and makes agent 1001 ready from
the page; the phone that rings is 1001's, showing the moved callback's number — it is the next one
served — while the other two wait in their order."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_browser import chromium, log_in

from app.web.passwords import hash_password, hash_token

pytestmark = [pytest.mark.e2e, pytest.mark.web]

PASSWORD = "position-page-password"
ADMIN_TOKEN = "hf_admin-token-for-the-position-tests"
NUMBERS = ("+4520555111", "+4520555222", "+4520555333")
WITHIN = 1000  # ms
_HASH = hash_password(PASSWORD)


@pytest.fixture
def holdfast_extra_config() -> str:
    return f"""
users:
  ada:
    role: admin
    api_token_hash: "{hash_token(ADMIN_TOKEN)}"
  sam:
    role: supervisor
    password_hash: "{_HASH}"
    queues: [cb]
web:
  mask_numbers: []
"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in chromium():
        yield b


async def callback(holdfast: Any, number: str) -> str:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{holdfast.http_url}/api/callbacks", headers=headers, json={"queue": "cb", "number": number}) as r,
    ):
        body = await r.json()
        assert r.status == 201, body
        return str(body["request_id"])


def row(rid: str) -> str:
    return f'#requests tr[data-id="{rid}"]'


async def test_the_callback_moved_first_from_the_page_is_the_one_the_agents_phone_rings_for(
    holdfast: Any, phonesim: Any, browser: Any
) -> None:
    ids = [await callback(holdfast, number) for number in NUMBERS]
    assert [r.id for r in holdfast.engine.waiting("cb")] == ids
    phonesim.set_behaviour("agent:1001", "manual")  # it rings; the test looks at who it rings for
    page = await log_in(browser, holdfast.http_url, "sam", PASSWORD)
    await page.wait_for_selector(f'{row(ids[2])} .position:text-is("3")', timeout=WITHIN)

    await page.click(f"{row(ids[2])} button.position-callback")
    await page.fill("#confirm-position", "1")
    await page.fill("#confirm-reason", "promised a call first thing")
    await page.click("#confirm-ok")
    await holdfast.wait_activity("repositioned", request_id=ids[2])
    await page.wait_for_selector(f'{row(ids[2])} .position:text-is("1")', timeout=WITHIN)
    assert [r.id for r in holdfast.engine.waiting("cb")] == [ids[2], ids[0], ids[1]]
    await holdfast.service.wait_committed()
    [entry] = await holdfast.store.admin_log(request_id=ids[2])
    assert (entry.who, entry.action, entry.detail["reason"]) == (
        "sam",
        "position_callback",
        "promised a call first thing",
    )
    assert (entry.detail["before"], entry.detail["after"]) == ("position 3 of 3 in cb", "position 1 of 3 in cb")

    await page.click('#agents tr[data-id="1001"] button.agent-ready')
    await page.click("#confirm-ok")
    rung = await holdfast.wait_activity("agent_ringing", agent_id="1001")
    assert rung.request_id == ids[2]  # the moved one is served next
    agent = await phonesim.wait_incoming("agent:1001")
    assert agent.caller_number.endswith(NUMBERS[2][-8:])  # the real phone shows whom it will call
    await page.wait_for_selector(f'{row(ids[2])} .state:has-text("ringing agent")', timeout=WITHIN)
    assert [await page.inner_text(f"{row(r)} .position") for r in ids[:2]] == ["1", "2"]
    await agent.reject()  # declined: the callback goes back to its (first) place
    await holdfast.wait_activity("agent_no_answer", request_id=ids[2])
    await page.context.close()
