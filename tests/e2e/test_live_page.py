"""The live page in headless Chromium, with the service on real Asterisk and the phone simulator.

A caller's row appears within 1 s of the call reaching the queue, changes when an agent is rung
and answers, and goes when the call ends; a supervisor of support never receives anything of
sales (page, API, websocket); a callback removed from the page is gone and in the change log; a
viewer has no buttons and the API refuses them; log-in failures and expired sessions are
refused. Screenshots of the page go to docs/.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_browser import DOCS, chromium, frames_of, log_in

from app.web.passwords import hash_password, hash_token
from app.web.sessions import COOKIE, SessionKeeper, new_key

pytestmark = [pytest.mark.e2e, pytest.mark.web]

PASSWORD = "live-page-password"
ADMIN_TOKEN = "hf_admin-token-for-the-live-page-tests"
SUPPORT, SALES = "4000", "4001"
CALLER = "+4520123456"
SALES_CALLER = "+4520777666"
ANNA = "+4520555111"
WITHIN = 1000  # ms: a change on a real call is on the page within 1 s
_HASH = hash_password(PASSWORD)


@pytest.fixture
def holdfast_extra_config() -> str:
    return f"""
agent_groups:
  front: ["1001", "1002", "1003"]
users:
  ada:
    role: admin
    password_hash: "{_HASH}"
    api_token_hash: "{hash_token(ADMIN_TOKEN)}"
  sam:
    role: supervisor
    display_name: Sam Support
    password_hash: "{_HASH}"
    queues: [support, cb]
    campaigns: [spring]
  vic:
    role: viewer
    password_hash: "{_HASH}"
    queues: [support, cb]
web:
  mask_numbers: []
campaigns:
  spring:
    name: Spring offer
    queue: support
    state: paused
"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in chromium():
        yield b


def row(rid: str) -> str:
    return f'#requests tr[data-id="{rid}"]'


async def api(holdfast: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{holdfast.http_url}{path}", headers=headers, **kwargs) as resp,
    ):
        return resp.status, await resp.json()


async def callback(holdfast: Any, number: str = ANNA, queue: str = "cb") -> str:
    status, body = await api(holdfast, "POST", "/api/callbacks", json={"queue": queue, "number": number})
    assert status == 201, body
    return str(body["request_id"])


async def test_a_call_appears_changes_and_goes_within_a_second(holdfast, phonesim, browser) -> None:
    page = await log_in(browser, holdfast.http_url, "sam", PASSWORD)
    phonesim.set_behaviour("agent:1001", "manual")  # so "ringing agent" shows before "talking"
    caller = await phonesim.call(SUPPORT, CALLER)
    arrived = await holdfast.wait_activity("arrived", caller=CALLER)
    rid = arrived.request_id
    await page.wait_for_selector(row(rid), timeout=WITHIN)
    cells = await page.inner_text(row(rid))
    assert "Support" in cells and CALLER in cells and "waiting" in cells

    # the supervisor makes agent 1001 ready from the page (confirmed in a dialog)
    await page.click('#agents tr[data-id="1001"] button.agent-ready')
    await page.click("#confirm-ok")
    await holdfast.wait_activity("agent_ringing", request_id=rid, agent_id="1001")
    await page.wait_for_selector(f'{row(rid)} .state:has-text("ringing agent")', timeout=WITHIN)
    agent = await phonesim.wait_incoming("agent:1001")
    await agent.answer()
    await holdfast.wait_activity("connected", request_id=rid)
    await page.wait_for_selector(f'{row(rid)} .state:has-text("talking")', timeout=WITHIN)
    assert "Agent 1001" in await page.inner_text(f"{row(rid)} .agent")
    await page.wait_for_selector('#agents tr[data-id="1001"] .state:has-text("busy")', timeout=WITHIN)

    await caller.hangup()
    await holdfast.wait_activity("ended", request_id=rid)
    await page.wait_for_selector(row(rid), state="detached", timeout=WITHIN)
    await agent.wait_hangup()
    await page.wait_for_selector('#agents tr[data-id="1001"] .handled:text-is("1")', timeout=WITHIN)

    # the agent change made from the page is in the change log, with who, before and after
    await holdfast.service.wait_committed()
    [entry] = [e for e in await holdfast.store.admin_log() if e.action == "agent_ready"]
    assert (entry.who, entry.detail["agent_id"], entry.detail["before"], entry.detail["after"]) == (
        "sam",
        "1001",
        "logged_off",
        "ready, then ringing",  # a caller waited: rung at once
    )
    await page.goto("/changelog")
    await page.wait_for_selector('#changes td.action:has-text("set an agent ready")')
    await page.context.close()


async def test_a_supervisor_of_support_never_sees_sales(holdfast, phonesim, browser) -> None:
    context = await browser.new_context(base_url=holdfast.http_url)
    page = await context.new_page()
    frames = frames_of(page)  # every websocket message, from the first
    await page.goto("/login?next=/live")
    await page.fill("#username", "sam")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#connection.up", timeout=5000)

    sales_call = await phonesim.call(SALES, SALES_CALLER)
    sales = (await holdfast.wait_activity("arrived", caller=SALES_CALLER)).request_id
    support_call = await phonesim.call(SUPPORT, CALLER)
    support = (await holdfast.wait_activity("arrived", caller=CALLER)).request_id
    await page.wait_for_selector(row(support), timeout=WITHIN)  # after the sales call: its push has gone too

    status, everything = await api(holdfast, "GET", "/api/live")  # the admin sees both: a real filter
    assert status == 200 and {support, sales} <= {r["id"] for r in everything["requests"]}
    seen = await page.request.get("/api/live")  # the API with the page's own session
    assert seen.status == 200
    for name, text in (
        ("page", await page.content()),
        ("websocket", "\n".join(frames)),
        ("api", json.dumps(await seen.json())),
        ("queues api", json.dumps(await (await page.request.get("/api/queues")).json())),
    ):
        assert f'"{sales}"' not in text and SALES_CALLER not in text, name  # ids look like epochs: quoted
        assert "sales" not in text.lower(), name
    assert frames, "the websocket carried nothing: the check above would prove nothing"
    assert (await page.request.delete(f"/api/callbacks/{sales}")).status in (403, 404)
    await sales_call.hangup()
    await support_call.hangup()
    await context.close()


async def test_removing_a_callback_from_the_page(holdfast, browser) -> None:
    anna = await callback(holdfast)
    page = await log_in(browser, holdfast.http_url, "sam", PASSWORD)
    await page.wait_for_selector(row(anna), timeout=WITHIN)
    await page.click(f"{row(anna)} button.remove-callback")
    await page.click("#confirm-ok")  # no reason: refused by the page
    assert await page.inner_text("#confirm-error") == "A reason is required."
    assert anna in holdfast.engine.requests
    await page.fill("#confirm-reason", "customer called in again")
    await page.click("#confirm-ok")
    await page.wait_for_selector(row(anna), state="detached", timeout=WITHIN)
    ended = await holdfast.wait_activity("ended", request_id=anna)
    assert (ended.data["outcome"], ended.data["by"]) == ("removed", "sam")
    assert anna not in holdfast.engine.requests
    [entry] = await holdfast.store.admin_log(request_id=anna)
    assert (entry.who, entry.action) == ("sam", "remove_callback")
    assert entry.detail["reason"] == "customer called in again" and entry.detail["after"] == "removed"
    assert entry.detail["before"] == "callback waiting, position 1 in cb"
    await page.goto("/changelog")
    # the page fetches its rows after it loads: wait for them, not for the empty table
    await page.wait_for_selector('#changes tbody tr td.action:has-text("removed a callback")')
    text = await page.inner_text("#changes tbody")
    assert "removed a callback" in text and "customer called in again" in text and "sam" in text
    await page.context.close()


async def test_a_viewer_has_no_buttons_and_the_api_refuses_them(holdfast, browser) -> None:
    anna = await callback(holdfast)
    page = await log_in(browser, holdfast.http_url, "vic", PASSWORD)
    await page.wait_for_selector(row(anna), timeout=WITHIN)
    await page.wait_for_selector('#agents tr[data-id="1001"]')
    assert await page.locator(f"{row(anna)} button").count() == 0
    assert await page.locator("#agents button").count() == 0
    me = await (await page.request.get("/api/session")).json()
    assert me["role"] == "viewer" and me["can_act"] is False
    headers = {"X-CSRF-Token": me["csrf_token"]}
    resp = await page.request.delete(f"/api/callbacks/{anna}", data={"reason": "try"}, headers=headers)
    assert resp.status == 403
    assert (await page.request.post("/api/agents/1001/ready", headers=headers)).status == 403
    assert anna in holdfast.engine.requests
    await page.context.close()


async def test_log_in_failures_expired_sessions_and_missing_csrf_are_refused(holdfast, browser) -> None:
    context = await browser.new_context(base_url=holdfast.http_url)
    page = await context.new_page()
    await page.goto("/live")
    await page.fill("#username", "sam")
    await page.fill("#password", "not the password")
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#login-error:not([hidden])")
    assert await page.inner_text("#login-error") == "wrong user name or password"
    assert "/login" in page.url and not [c for c in await context.cookies() if c["name"] == COOKIE]

    # a session past its expiry: back to the form, told why
    keeper = SessionKeeper(await holdfast.store.session_key(new_key()))  # the store's key: the service's
    password_hash = holdfast.service.config.users["sam"].password_hash
    cookie, _ = keeper.issue("sam", password_hash, 60.0, now=time.time() - 120.0)
    await context.add_cookies([{"name": COOKIE, "value": cookie, "url": holdfast.http_url}])
    await page.goto("/live")
    await page.wait_for_url("**/login?next=/live&expired=1")
    assert "expired" in await page.inner_text("#login-error")
    assert (await page.request.get("/api/live")).status == 401

    # logged in: a change without the CSRF header is refused, with it accepted
    await page.fill("#username", "sam")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/live")
    anna = await callback(holdfast)
    resp = await page.request.delete(f"/api/callbacks/{anna}", data={"reason": "no csrf"})
    assert resp.status == 403 and anna in holdfast.engine.requests
    me = await (await page.request.get("/api/session")).json()
    resp = await page.request.delete(
        f"/api/callbacks/{anna}", data={"reason": "with csrf"}, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert resp.status == 200 and anna not in holdfast.engine.requests
    await context.close()


async def test_screenshots_of_the_live_page_and_the_change_log(holdfast, phonesim, browser) -> None:
    """docs/live-page.png and docs/changelog-page.png: a busy moment, for people to look at."""
    phonesim.set_behaviour("agent:*", "answer")
    holdfast.service.agent_action("1001", "ready")
    talking = await phonesim.call(SUPPORT, "+4520100200")
    await holdfast.wait_activity("connected", agent_id="1001")
    holdfast.service.agent_action("1005", "ready")
    holdfast.service.agent_action("1005", "logout")
    holdfast.service.agent_action("1002", "ready")
    holdfast.service.agent_action("1002", "pause", "lunch")
    holdfast.service.agent_action("1003", "ready")
    holdfast.service.agent_action("1003", "pause", "training")
    waiting = []
    for i, number in enumerate(["+4520300400", "+4520500600", "+4520700800"]):
        waiting.append(await phonesim.call(SUPPORT, number))
        await holdfast.wait_activity("arrived", caller=number, position=i + 1)
    anna = await callback(holdfast)
    await callback(holdfast, "+4520900100")
    page = await log_in(browser, holdfast.http_url, "sam", PASSWORD)
    await page.wait_for_selector(row(anna))
    await page.click('#agents tr[data-id="1003"] button.agent-ready')
    await page.click("#confirm-ok")
    await page.wait_for_selector('#agents tr[data-id="1003"] .state:not(:has-text("paused"))', timeout=WITHIN)
    await page.wait_for_timeout(3000)  # not an assertion: lets the waits tick for the picture
    DOCS.mkdir(exist_ok=True)
    await page.screenshot(path=str(DOCS / "live-page.png"), full_page=True)
    await page.click('#agents tr[data-id="1002"] button.agent-ready')
    await page.click("#confirm-ok")
    await page.click(f"{row(anna)} button.remove-callback")
    await page.fill("#confirm-reason", "customer called in again")
    await page.click("#confirm-ok")
    await page.wait_for_selector(row(anna), state="detached", timeout=WITHIN)
    await page.goto("/changelog")
    await page.wait_for_selector('#changes tbody tr td.action:has-text("removed a callback")')
    await page.screenshot(path=str(DOCS / "changelog-page.png"), full_page=True)
    await page.context.close()
    for call in [talking, *waiting]:
        await call.hangup()
