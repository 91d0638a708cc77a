"""The campaign filter on every route that lists, exports or counts: a dialler contact belongs to
its campaign, not to the queue its agents come from. `sam` sees queues support and sales and
campaign spring; `cora` sees campaign autumn only. An autumn contact rings agent 1001 (who
serves sales): sam must not receive a byte of it — agents, queues, callbacks, export, stats,
notifications, recordings, the live feed — and cora sees it everywhere a campaign shows."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.core.commands import Activity
from app.store.outbox import write_sqlite
from app.store.outbox_records import Notification
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN, started_shell, users_settings
from tests.web.test_users_api import _HASH, PASSWORD

CAMPAIGNS = """
campaigns:
  spring:
    mode: preview
    queue: sales
    review_time: 30s
  autumn:
    mode: preview
    queue: sales
    review_time: 30s
"""
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def users(tmp: Path) -> str:
    return users_settings(
        tmp,
        _HASH,
        sam={"role": "supervisor", "queues": ["support", "sales"], "campaigns": ["spring"]},
        cora={"role": "supervisor", "campaigns": ["autumn"]},
    )


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    async with started_shell(fake_ari, tmp_path, users(tmp_path) + CAMPAIGNS) as s:
        yield s


@pytest.fixture
async def clients(shell: Shell) -> AsyncIterator[dict[str, TestClient]]:
    made = {}
    for name in ("sam", "cora", "admin"):
        client = TestClient(TestServer(make_app(shell.service)))
        await client.start_server()
        if name != "admin":
            resp = await client.post("/api/session", json={"username": name, "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            client.csrf = (await resp.json())["csrf_token"]  # type: ignore[attr-defined]
        made[name] = client
    try:
        yield made
    finally:
        for client in made.values():
            await client.close()


def headers(name: str) -> dict[str, str]:
    return ADMIN if name == "admin" else {}


@pytest.fixture
async def autumn_contact(shell: Shell, clients: dict[str, TestClient]) -> str:
    """An autumn contact (uploaded, loaded by the engine) ringing agent 1001, stored; its request id."""
    resp = await clients["admin"].post(
        "/api/campaigns/autumn/contacts?by=eva",
        data="number,name\n+4520123477,Ada\n",
        headers={**ADMIN, "Content-Type": "text/csv"},
    )
    assert resp.status == 200, await resp.text()
    shell.tick(1.0)
    await shell.activities.wait("contacts_loaded", timeout=10.0, campaign="autumn", taken=1)
    assert shell.service.agent_action("1001", "ready") is not None
    await shell.eventually(
        lambda: shell.service.engine.contact_for_agent("1001") is not None, "autumn rings 1001", timeout=10.0
    )
    found = shell.service.engine.contact_for_agent("1001")
    assert found is not None
    await shell.service.wait_committed()
    request_id = found[0]
    assert shell.service.engine.requests[request_id].campaign == "autumn"
    assert shell.service.engine.requests[request_id].queue == "sales"
    return request_id


async def get_json(client: TestClient, path: str, name: str) -> Any:
    resp = await client.get(path, headers=headers(name))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_the_agents_list_shows_another_campaigns_contact_to_nobody_else(
    clients: dict[str, TestClient], autumn_contact: str
) -> None:
    sam = await get_json(clients["sam"], "/api/agents", "sam")
    ada_agent = next(a for a in sam["agents"] if a["id"] == "1001")
    assert ada_agent["request_id"] is None  # the agent is sam's; the autumn call is not
    assert "autumn" not in json.dumps(sam) and autumn_contact not in json.dumps(sam)
    admin = await get_json(clients["admin"], "/api/agents", "admin")
    assert next(a for a in admin["agents"] if a["id"] == "1001")["request_id"] == autumn_contact


async def test_the_queues_view_leaves_out_another_campaigns_contact(
    clients: dict[str, TestClient], autumn_contact: str
) -> None:
    sam = await get_json(clients["sam"], "/api/queues", "sam")
    assert {q["name"] for q in sam["queues"]} == {"support", "sales"}
    assert autumn_contact not in json.dumps(sam) and "autumn" not in json.dumps(sam)
    admin = await get_json(clients["admin"], "/api/queues", "admin")
    sales = next(q for q in admin["queues"] if q["name"] == "sales")
    assert [r["request_id"] for r in sales["requests"]] == [autumn_contact]


async def test_another_campaigns_contact_cannot_be_acted_on_as_if_it_existed(
    clients: dict[str, TestClient], autumn_contact: str
) -> None:
    sam = clients["sam"]
    csrf = {"X-CSRF-Token": sam.csrf}  # type: ignore[attr-defined]
    resp = await sam.delete(f"/api/callbacks/{autumn_contact}", json={"reason": "test"}, headers=csrf)
    assert resp.status == 404  # not 409: that would tell sam the request exists
    resp = await sam.post(
        f"/api/callbacks/{autumn_contact}/move", json={"queue": "support", "reason": "x"}, headers=csrf
    )
    assert resp.status == 404


async def test_the_export_gives_a_contacts_lines_only_to_its_campaigns_users(
    clients: dict[str, TestClient], autumn_contact: str
) -> None:
    sam = await (await clients["sam"].get("/api/events/export?format=jsonl")).text()
    assert "autumn" not in sam  # not the contact's lines, not agent_ringing (which names no campaign)
    cora_resp = await clients["cora"].get("/api/events/export?format=csv")
    assert cora_resp.status == 200
    rows = list(csv.DictReader(io.StringIO(await cora_resp.text())))
    mine = [r for r in rows if r["request_id"] == autumn_contact]
    assert {"contact_previewed", "agent_ringing"} <= {r["kind"] for r in mine}
    assert {r["queue"] for r in rows} <= {"", "autumn"}  # the agents' queue (sales) is not cora's
    assert all(r["request_id"] == autumn_contact or "autumn" in r["data"] for r in rows)
    admin = await (await clients["admin"].get("/api/events/export?format=jsonl", headers=ADMIN)).text()
    assert any(json.loads(line)["queue"] == "sales" for line in admin.splitlines() if autumn_contact in line)


def dials(at: float) -> list[Activity]:
    """What the engine logs for one autumn and one spring dial answered by 1002 (queue sales)."""
    out = []
    for campaign, n in (("autumn", 8), ("spring", 9)):
        rid = f"dial-{campaign}-{n}-{n}"
        out += [
            Activity("attempt_started", rid, None, "sales", at, {"campaign": campaign, "contact": n, "attempt": 1}),
            Activity("agent_ringing", rid, "1002", "sales", at + 1, {"agent": "1002"}),
            Activity("connected", rid, "1002", "sales", at + 2, {"campaign": campaign, "contact": n}),
            Activity("dial_attempt", rid, "1002", campaign, at + 2, {"campaign": campaign, "outcome": "answered"}),
            Activity("ended", rid, "1002", "sales", at + 30, {"campaign": campaign, "outcome": "served"}),
        ]
    return out


async def stats(client: TestClient, name: str, by: str, start: float) -> list[dict[str, Any]]:
    body = await get_json(client, f"/api/stats?by={by}&from={start - 10}&to={start + 3600}&interval=1d", name)
    return body["totals"]  # type: ignore[no-any-return]


async def test_statistics_count_a_campaigns_calls_only_for_its_users(
    clients: dict[str, TestClient], shell: Shell
) -> None:
    at = shell.clock.now
    assert shell.service.store is not None
    await shell.service.store.append_events(dials(at))
    sam_agents = {r["key"]: r for r in await stats(clients["sam"], "sam", "agent", at)}
    assert sam_agents["1002"]["offered"] == 1 and sam_agents["1002"]["answered"] == 1  # the spring call only
    sam_campaigns = await stats(clients["sam"], "sam", "campaign", at)
    assert [(r["key"], r["dial_attempts"], r["dial_connects"]) for r in sam_campaigns] == [("spring", 1, 1)]
    cora_campaigns = await stats(clients["cora"], "cora", "campaign", at)
    assert [(r["key"], r["dial_attempts"]) for r in cora_campaigns] == [("autumn", 1)]
    assert await stats(clients["cora"], "cora", "queue", at) == []  # no queue of hers
    admin_agents = {r["key"]: r for r in await stats(clients["admin"], "admin", "agent", at)}
    assert admin_agents["1002"]["offered"] == 2
    csv_text = await (await clients["sam"].get(f"/api/stats?by=agent&from={at - 10}&to={at + 3600}&format=csv")).text()
    assert "autumn" not in csv_text and "1002" in csv_text


async def test_notifications_of_a_contact_go_with_its_campaign(
    clients: dict[str, TestClient], shell: Shell, tmp_path: Path
) -> None:
    now = shell.clock.now
    made = [
        Notification("n-in", now, "missed_callback", "sms", "web-1", "sales", now + 3600, {"to": "+4520000001"}),
        Notification("n-dial", now, "missed_callback", "sms", "dial-autumn-8-8", "sales", now + 3600, {}),
    ]
    with sqlite3.connect(tmp_path / "holdfast.db") as conn:  # as a commit writes them
        write_sqlite(conn, made)
    sam = await get_json(clients["sam"], "/api/notifications", "sam")
    assert [n["id"] for n in sam["notifications"]] == ["n-in"]
    cora = await get_json(clients["cora"], "/api/notifications", "cora")
    assert [(n["id"], n["queue"]) for n in cora["notifications"]] == [("n-dial", None)]  # sales is not hers
    admin = await get_json(clients["admin"], "/api/notifications", "admin")
    assert {n["id"] for n in admin["notifications"]} == {"n-in", "n-dial"}


async def test_a_contacts_recordings_are_listed_only_for_its_campaigns_users(
    clients: dict[str, TestClient], shell: Shell, autumn_contact: str
) -> None:
    path = f"/api/requests/{autumn_contact}/recordings"
    assert (await clients["sam"].get(path)).status == 404
    assert (await clients["cora"].get(path)).status == 200
    assert shell.service.store is not None
    await shell.service.store.append_events(dials(shell.clock.now))  # ended dials, known from the log only
    assert (await clients["sam"].get("/api/requests/dial-autumn-8-8/recordings")).status == 404
    assert (await clients["sam"].get("/api/requests/dial-spring-9-9/recordings")).status == 200
    assert (await clients["cora"].get("/api/requests/dial-autumn-8-8/recordings")).status == 200


async def test_an_unknown_campaign_is_refused_without_naming_anothers(clients: dict[str, TestClient]) -> None:
    resp = await clients["sam"].get("/api/campaigns/winter/figures")
    assert resp.status == 404
    text = await resp.text()
    assert "spring" in text and "autumn" not in text


async def test_the_live_feed_and_session_name_only_the_users_campaigns(
    clients: dict[str, TestClient], autumn_contact: str
) -> None:
    sam = clients["sam"]
    assert (await get_json(sam, "/api/session", "sam"))["campaigns"] == ["spring"]
    async with sam.ws_connect("/ws/live") as ws:
        first = await ws.receive_json(timeout=10)
    assert first["type"] == "snapshot"
    assert "autumn" not in json.dumps(first) and autumn_contact not in json.dumps(first)
    async with clients["cora"].ws_connect("/ws/live") as ws:
        first = await ws.receive_json(timeout=10)
    assert [(r["id"], r["queue"]) for r in first["requests"]] == [(autumn_contact, None)]
    assert "sales" not in json.dumps(first)
