"""Users, roles and resource filters over the real API (service on the fake Asterisk): log-in with
a session cookie, CSRF, expiry, personal tokens next to the global admin token, and a supervisor
of `support` who never receives a byte about `sales` — lists, live rows, websocket, change log."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from app.web.api import make_app
from app.web.auth import PASSWORD_CHECKS
from app.web.context import SERVICE_KEY, SESSIONS_KEY
from app.web.login_guard import PasswordChecks, Throttle
from app.web.passwords import hash_password, hash_token
from app.web.sessions import COOKIE
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text
from tests.web.conftest import CALLBACK_QUEUES, TOKEN

PASSWORD = "correct horse battery"
SUPPORT_TOKEN = "hf_support-token-for-tests-0123456789"
SUPPORT_NUMBER = "+4520123456"
SALES_NUMBER = "+4520777666"
# Cheap hashes for tests: the same scheme, fewer rounds would change the format, so hash once.
_HASH = hash_password(PASSWORD)


def users_yaml(tmp: Path) -> str:
    return f"""
service:
  admin_token: "{TOKEN}"
  data_dir: {tmp}
agent_groups:
  support_team: ["1001"]
users:
  ada:
    role: admin
    password_hash: "{_HASH}"
  sam:
    role: supervisor
    password_hash: "{_HASH}"
    api_token_hash: "{hash_token(SUPPORT_TOKEN)}"
    queues: [support]
  gus:
    role: supervisor
    password_hash: "{_HASH}"
    queues: [support]
    agent_groups: [support_team]
  vic:
    role: viewer
    password_hash: "{_HASH}"
    queues: [support]
"""


@pytest.fixture
def shell_text(fake_ari: FakeAri, tmp_path: Path) -> str:
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path))


async def login(shell: Shell, user: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(TestServer(make_app(shell.service)))
    await client.start_server()
    resp = await client.post("/api/session", json={"username": user, "password": password})
    assert resp.status == 200, await resp.text()
    client.csrf = (await resp.json())["csrf_token"]  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def clients(shell: Shell) -> AsyncIterator[dict[str, TestClient]]:
    made = {name: await login(shell, name) for name in ("ada", "sam", "gus", "vic")}
    try:
        yield made
    finally:
        for client in made.values():
            await client.close()


def admin(headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", **(headers or {})}


async def callbacks_in_both_queues(http: TestClient) -> tuple[str, str]:
    ids = []
    for queue, number in (("support", SUPPORT_NUMBER), ("sales", SALES_NUMBER)):
        resp = await http.post("/api/callbacks", json={"queue": queue, "number": number}, headers=admin())
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["request_id"])
    return ids[0], ids[1]


# ---- log-in, cookie, CSRF, expiry ---------------------------------------------------------------


async def test_a_wrong_password_or_unknown_user_is_refused_without_a_cookie(http: TestClient) -> None:
    for body in ({"username": "sam", "password": "wrong"}, {"username": "nobody", "password": PASSWORD}):
        resp = await http.post("/api/session", json=body)
        assert resp.status == 401
        assert await resp.json() == {"error": "wrong user name or password"}
        assert COOKIE not in resp.cookies
    assert (await http.get("/api/live")).status == 401


async def test_the_session_cookie_is_httponly_and_samesite_strict(http: TestClient) -> None:
    resp = await http.post("/api/session", json={"username": "sam", "password": PASSWORD})
    assert resp.status == 200
    morsel = resp.cookies[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert PASSWORD not in morsel.value
    me = await resp.json()
    assert (me["user"], me["role"], me["queues"], me["can_act"]) == ("sam", "supervisor", ["support"], True)


async def test_a_change_with_the_cookie_needs_the_csrf_header(
    shell: Shell, http: TestClient, clients: dict[str, TestClient]
) -> None:
    support, _ = await callbacks_in_both_queues(http)
    sam = clients["sam"]
    resp = await sam.delete(f"/api/callbacks/{support}", json={"reason": "duplicate"})
    assert resp.status == 403 and "X-CSRF-Token" in (await resp.json())["error"]
    resp = await sam.delete(f"/api/callbacks/{support}", json={"reason": "x"}, headers={"X-CSRF-Token": "0" * 64})
    assert resp.status == 403
    assert support in shell.engine.requests  # nothing changed
    resp = await sam.delete(
        f"/api/callbacks/{support}", json={"reason": "duplicate"}, headers={"X-CSRF-Token": sam.csrf}
    )  # type: ignore[attr-defined]
    assert resp.status == 200, await resp.text()
    assert support not in shell.engine.requests


async def test_an_expired_session_is_refused(shell: Shell, http: TestClient) -> None:
    app = http.server.app
    password_hash = shell.service.config.users["sam"].password_hash
    assert password_hash is not None
    cookie, _ = app[SESSIONS_KEY].issue("sam", password_hash, 60.0, now=time.time() - 61.0)
    resp = await http.get("/api/live", cookies={COOKIE: cookie})
    assert resp.status == 401
    assert await resp.json() == {"error": "your session has expired; log in again"}
    fresh, _ = app[SESSIONS_KEY].issue("sam", password_hash, 60.0)
    assert (await http.get("/api/live", cookies={COOKIE: fresh})).status == 200


async def test_a_forged_or_logged_out_cookie_is_refused(http: TestClient, clients: dict[str, TestClient]) -> None:
    sam = clients["sam"]
    cookie = sam.session.cookie_jar.filter_cookies(sam.make_url("/"))[COOKIE].value
    payload, signature = cookie.split(".")
    forged = payload.replace(payload[5], "A" if payload[5] != "A" else "B") + "." + signature
    assert (await http.get("/api/live", cookies={COOKIE: forged})).status == 401
    assert (await http.get("/api/live", cookies={COOKIE: cookie})).status == 200
    assert (await sam.delete("/api/session")).status == 200
    assert (await sam.get("/api/live", cookies={COOKIE: cookie})).status == 401  # revoked by log-out


async def test_the_live_page_redirects_to_log_in_without_a_session(http: TestClient) -> None:
    resp = await http.get("/live", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/login?next=/live"
    assert (await http.get("/login")).status == 200
    css = await http.get("/static/style.css")
    assert css.status == 200 and css.content_type == "text/css"
    assert (await http.get("/static/..%2Fapi.py")).status == 404


# ---- roles ----------------------------------------------------------------------------------------


async def test_a_viewer_cannot_act(shell: Shell, http: TestClient, clients: dict[str, TestClient]) -> None:
    support, _ = await callbacks_in_both_queues(http)
    vic = clients["vic"]
    csrf = {"X-CSRF-Token": vic.csrf}  # type: ignore[attr-defined]
    resp = await vic.delete(f"/api/callbacks/{support}", json={"reason": "try"}, headers=csrf)
    assert resp.status == 403 and "viewer" in (await resp.json())["error"]
    assert (await vic.post("/api/agents/1001/ready", headers=csrf)).status == 403
    assert (
        await vic.post("/api/callbacks", json={"queue": "support", "number": "+4520111222"}, headers=csrf)
    ).status == 403
    assert support in shell.engine.requests
    assert (await vic.get("/api/live")).status == 200


async def test_only_an_admin_may_reload(clients: dict[str, TestClient]) -> None:
    sam = clients["sam"]
    resp = await sam.post("/api/reload", headers={"X-CSRF-Token": sam.csrf})  # type: ignore[attr-defined]
    assert resp.status == 403


async def test_the_global_token_still_acts_as_admin_and_a_wrong_one_is_401(shell: Shell, http: TestClient) -> None:
    assert (await http.get("/api/live", headers=admin())).status == 200
    resp = await http.get("/api/live", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401 and await resp.json() == {"error": "missing or wrong bearer token"}
    me = await (await http.get("/api/session", headers=admin())).json()
    assert (me["role"], me["via"], me["csrf_token"]) == ("admin", "admin_token", None)


# ---- the resource filter: support never sees sales ---------------------------------------------


def assert_nothing_about_sales(payload: Any, sales_id: str) -> None:
    text = json.dumps(payload)
    assert "sales" not in text.lower() and sales_id not in text and SALES_NUMBER not in text, text


async def test_a_supervisor_of_support_sees_nothing_of_sales(shell: Shell, http: TestClient) -> None:
    support, sales = await callbacks_in_both_queues(http)
    headers = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}  # sam's own token
    for path in ("/api/live", "/api/queues", "/api/callbacks", "/api/agents", "/api/session"):
        resp = await http.get(path, headers=headers)
        assert resp.status == 200, path
        assert_nothing_about_sales(await resp.json(), sales)
    live = await (await http.get("/api/live", headers=headers)).json()
    assert [r["id"] for r in live["requests"]] == [support]
    assert [q["name"] for q in live["queues"]] == ["support"]
    everything = await (await http.get("/api/live", headers=admin())).json()
    assert {r["id"] for r in everything["requests"]} == {support, sales}  # the filter, not an empty service
    # acting on sales: as if it did not exist
    resp = await http.delete(f"/api/callbacks/{sales}", json={"reason": "x"}, headers=headers)
    assert resp.status == 404 and sales in shell.engine.requests
    resp = await http.post("/api/callbacks", json={"queue": "sales", "number": "+4520111222"}, headers=headers)
    assert resp.status == 404


async def test_agent_groups_limit_the_agents_a_supervisor_sees(shell: Shell, clients: dict[str, TestClient]) -> None:
    gus, sam = clients["gus"], clients["sam"]
    assert [a["id"] for a in (await (await gus.get("/api/agents")).json())["agents"]] == ["1001"]
    assert [a["id"] for a in (await (await sam.get("/api/agents")).json())["agents"]] == ["1001", "1002"]
    resp = await gus.post("/api/agents/1002/ready", headers={"X-CSRF-Token": gus.csrf})  # type: ignore[attr-defined]
    assert resp.status == 404


async def test_the_websocket_sends_only_the_users_queues(
    shell: Shell, http: TestClient, clients: dict[str, TestClient]
) -> None:
    sam = clients["sam"]
    async with sam.ws_connect("/ws/live") as ws:
        first = await ws.receive_json(timeout=2)
        assert first["type"] == "snapshot" and first["requests"] == []
        support, sales = await callbacks_in_both_queues(http)
        patch = await ws.receive_json(timeout=2)
        assert patch["type"] == "patch"
        assert [r["id"] for r in patch["requests"]["upsert"]] == [support]
        assert_nothing_about_sales(patch, sales)
    async with http.ws_connect("/ws/live", headers=admin()) as ws:
        first = await ws.receive_json(timeout=2)
        assert {r["id"] for r in first["requests"]} == {support, sales}


async def test_the_websocket_refuses_without_a_session_and_closes_when_it_expires(
    shell: Shell, http: TestClient
) -> None:
    resp = await http.get("/ws/live", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert resp.status == 401
    app = http.server.app
    password_hash = shell.service.config.users["sam"].password_hash
    assert password_hash is not None
    cookie, session = app[SESSIONS_KEY].issue("sam", password_hash, 60.0)
    async with http.ws_connect("/ws/live", headers={"Cookie": f"{COOKIE}={cookie}"}) as ws:
        assert (await ws.receive_json(timeout=2))["type"] == "snapshot"
        app[SESSIONS_KEY].revoke(session)  # as log-out does
        shell.service.step_listeners[0]()  # any change: the next push checks the session
        assert (await ws.receive_json(timeout=3)) == {"type": "expired"}
        closed = await ws.receive(timeout=2)
        assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and ws.close_code == 4401


async def test_removing_from_the_page_writes_the_change_log(
    shell: Shell, http: TestClient, clients: dict[str, TestClient], tmp_path: Path
) -> None:
    from app.store import store_from_dsn

    store = store_from_dsn(str(tmp_path / "log.db"))
    await store.open()
    shell.service.store = store  # the admin log only (no committer: this service stores no steps)
    try:
        support, sales = await callbacks_in_both_queues(http)
        sam = clients["sam"]
        csrf = {"X-CSRF-Token": sam.csrf}  # type: ignore[attr-defined]
        resp = await sam.delete(f"/api/callbacks/{support}", json={"reason": ""}, headers=csrf)
        assert resp.status == 422  # a person says why
        resp = await sam.delete(f"/api/callbacks/{support}", json={"reason": "called in again"}, headers=csrf)
        assert resp.status == 200
        resp = await http.delete(f"/api/callbacks/{sales}", json={"by": "ops", "reason": "dup"}, headers=admin())
        assert resp.status == 200
        shell.ready("1001")
        resp = await sam.post("/api/agents/1001/pause", json={"reason": "lunch"}, headers=csrf)
        assert resp.status == 200
        changes = (await (await sam.get("/api/changelog")).json())["changes"]
        assert [(c["who"], c["action"]) for c in changes] == [("sam", "agent_pause"), ("sam", "remove_callback")]
        removed = changes[1]["detail"]
        assert (
            removed["queue"] == "support" and removed["after"] == "removed" and removed["reason"] == "called in again"
        )
        assert removed["before"].startswith("callback waiting, position 1")
        paused = changes[0]["detail"]
        assert (paused["agent_id"], paused["before"], paused["after"]) == ("1001", "ready", "paused (lunch)")
        everything = (await (await http.get("/api/changelog", headers=admin())).json())["changes"]
        assert [c["who"] for c in everything] == ["sam", "ops", "sam"]
    finally:
        shell.service.store = None
        await store.close()


async def test_password_guessing_is_throttled_and_a_form_post_is_refused(http: TestClient) -> None:
    for _ in range(5):
        resp = await http.post("/api/session", json={"username": "vic", "password": "guess"})
        assert resp.status == 401
    resp = await http.post("/api/session", json={"username": "vic", "password": PASSWORD})
    assert resp.status == 429 and COOKIE not in resp.cookies  # even the right password, for a while
    assert (await http.post("/api/session", json={"username": "sam", "password": PASSWORD})).status == 200
    form = await http.post("/api/session", data={"username": "sam", "password": PASSWORD})
    assert form.status == 415


def logins(http: TestClient) -> dict[str, float]:
    """holdfast_logins_total on /metrics, by result (the ones counted)."""
    registry = http.server.app[SERVICE_KEY].metrics.registry
    results = ("ok", "wrong_password", "throttled_user", "throttled_address", "line_full")
    counts = {r: registry.get_sample_value("holdfast_logins_total", {"result": r}) for r in results}
    return {r: n for r, n in counts.items() if n}


async def test_one_address_guessing_one_password_over_many_names_is_throttled(http: TestClient) -> None:
    for i in range(Throttle.MAX_ADDRESS_FAILURES):
        resp = await http.post("/api/session", json={"username": f"name{i}", "password": "guess"})
        assert resp.status == 401  # five per name are never reached: one guess each
    resp = await http.post("/api/session", json={"username": "sam", "password": PASSWORD})
    assert resp.status == 429 and COOKIE not in resp.cookies  # a user not guessed at, from this address
    body = await resp.json()
    assert "from this address" in body["error"]
    assert 0 < int(resp.headers["Retry-After"]) == body["retry_after"] <= Throttle.WINDOW
    assert logins(http) == {"wrong_password": Throttle.MAX_ADDRESS_FAILURES, "throttled_address": 1}


async def test_password_checks_run_one_at_a_time_and_a_full_line_is_refused_at_once(http: TestClient) -> None:
    """hashlib's scrypt lets go of the GIL: on the default executor a flood of log-ins took every
    core. The checks now run one at a time, and past the line a log-in is refused before any check."""
    checks = http.server.app[PASSWORD_CHECKS]
    real, gate, lock = checks.check, threading.Event(), threading.Lock()
    running, most = 0, 0

    def held(password: str, stored: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(30)
        ok = real(password, stored)
        with lock:
            running -= 1
        return ok

    checks.check = held
    names = [f"flood{i}" for i in range(PasswordChecks.MAX_WAITING)]
    waiting = [asyncio.create_task(http.post("/api/session", json={"username": n, "password": "x"})) for n in names]
    deadline = time.monotonic() + 10
    while checks.waiting < PasswordChecks.MAX_WAITING:  # the line fills as the requests arrive
        assert time.monotonic() < deadline, f"only {checks.waiting} log-ins in line"
        await asyncio.sleep(0.01)
    full = await http.post("/api/session", json={"username": "sam", "password": PASSWORD})
    assert full.status == 503 and full.headers["Retry-After"] == "5" and COOKIE not in full.cookies
    assert checks.refused == 1 and not gate.is_set()  # refused while every check was still held
    gate.set()
    assert [r.status for r in await asyncio.gather(*waiting)] == [401] * len(names)
    assert most == 1 and checks.waiting == 0
    assert (await http.post("/api/session", json={"username": "sam", "password": PASSWORD})).status == 200
    assert logins(http) == {"wrong_password": len(names), "line_full": 1, "ok": 1}


async def test_log_ins_sent_at_once_get_no_more_guesses_than_the_limit(http: TestClient) -> None:
    """The throttle once counted a wrong password after its slow check, so guesses sent at once
    all passed it: one user's password got as many tries as the checker's line holds. Now each
    counts from the moment it passes; the rest are refused while the first are still checked."""
    checks = http.server.app[PASSWORD_CHECKS]
    real, gate = checks.check, threading.Event()
    checked: list[str] = []

    def held(password: str, stored: str) -> bool:
        gate.wait(30)
        checked.append(password)
        return real(password, stored)

    checks.check = held
    guesses = [
        asyncio.create_task(http.post("/api/session", json={"username": "sam", "password": f"guess-{i}"}))
        for i in range(3 * Throttle.MAX_FAILURES)
    ]
    pending, answered = set(guesses), 0
    async with asyncio.timeout(10):  # all but MAX_FAILURES are answered while the checks are held
        while answered < len(guesses) - Throttle.MAX_FAILURES:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            assert [r.result().status for r in done] == [429] * len(done) and not gate.is_set()
            answered += len(done)
    gate.set()
    assert [r.status for r in await asyncio.gather(*pending)] == [401] * Throttle.MAX_FAILURES
    assert len(checked) == Throttle.MAX_FAILURES
    assert logins(http) == {"throttled_user": 2 * Throttle.MAX_FAILURES, "wrong_password": Throttle.MAX_FAILURES}


async def test_a_reload_that_narrows_a_filter_applies_to_an_open_websocket(
    shell: Shell, http: TestClient, clients: dict[str, TestClient], tmp_path: Path
) -> None:
    support, sales = await callbacks_in_both_queues(http)
    path = tmp_path / "holdfast.yaml"
    path.write_text(
        config_text(shell.fake, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path)).replace(
            "    queues: [support]\n    agent_groups", "    queues: [sales]\n    agent_groups"
        )
    )  # gus: support -> sales
    shell.service.config_path = path
    gus = clients["gus"]
    async with gus.ws_connect("/ws/live") as ws:
        first = await ws.receive_json(timeout=2)
        assert [r["id"] for r in first["requests"]] == [support]
        assert shell.service.reload() is None  # feeds SettingsChanged: a step, so a push
        patch = await ws.receive_json(timeout=3)
        assert patch["requests"] == {"upsert": [dict(patch["requests"]["upsert"][0])], "remove": [support]}
        assert patch["requests"]["upsert"][0]["id"] == sales
