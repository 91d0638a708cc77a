"""The campaign filter over the real API: a supervisor given `spring` sees and pauses spring, and
never receives a byte about `autumn` — figures, state, contacts, live rows, change log; a viewer
sees and cannot act; a user given no campaign sees none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import started_shell, users_settings
from tests.web.test_users_api import _HASH, PASSWORD

CAMPAIGNS = """
campaigns:
  spring:
    queue: support
    state: paused
  autumn:
    queue: support
    state: paused
"""


def users(tmp: Path) -> str:
    return users_settings(
        tmp,
        _HASH,
        sam={"role": "supervisor", "queues": ["support", "sales"], "campaigns": ["spring"]},
        vic={"role": "viewer", "queues": ["*"], "campaigns": ["*"]},
        nora={"role": "supervisor", "queues": ["*"]},
    )


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    async with started_shell(fake_ari, tmp_path, users(tmp_path) + CAMPAIGNS) as s:
        yield s


@pytest.fixture
async def clients(shell: Shell) -> AsyncIterator[dict[str, TestClient]]:
    made = {}
    for name in ("sam", "vic", "nora"):
        client = TestClient(TestServer(make_app(shell.service)))
        await client.start_server()
        resp = await client.post("/api/session", json={"username": name, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        client.csrf = (await resp.json())["csrf_token"]  # type: ignore[attr-defined]
        made[name] = client
    try:
        yield made
    finally:
        for client in made.values():
            await client.close()


async def act(client: TestClient, path: str) -> tuple[int, str]:
    resp = await client.post(path, json={"reason": "lists ready"}, headers={"X-CSRF-Token": client.csrf})  # type: ignore[attr-defined]
    return resp.status, await resp.text()


@pytest.mark.parametrize("tail", ["figures", "state", "contacts", "contacts/1"])
async def test_a_campaign_outside_the_filter_is_as_if_it_did_not_exist(
    clients: dict[str, TestClient], tail: str
) -> None:
    sam = clients["sam"]
    mine = await sam.get(f"/api/campaigns/spring/{tail}")
    assert mine.status == (404 if tail == "contacts/1" else 200), await mine.text()  # no contact 1 uploaded
    other = await sam.get(f"/api/campaigns/autumn/{tail}")
    assert other.status == 404
    assert "spring" not in await other.text()  # the refusal does not list the campaigns there are
    none = await clients["nora"].get(f"/api/campaigns/spring/{tail}")
    assert none.status == 404


async def test_a_supervisor_pauses_and_resumes_only_their_campaign_and_it_is_logged(
    clients: dict[str, TestClient], shell: Shell
) -> None:
    sam = clients["sam"]
    assert (await act(sam, "/api/campaigns/autumn/resume"))[0] == 404
    status, text = await act(sam, "/api/campaigns/spring/resume")
    assert status == 200, text
    assert shell.service.engine.campaign_state["spring"].value == "running"
    assert shell.service.engine.campaign_state["autumn"].value == "paused"
    assert shell.service.store is not None
    log = [(e.who, e.action, e.detail) for e in await shell.service.store.admin_log()]
    assert log == [
        (
            "sam",
            "campaign_start",
            {"campaign": "spring", "reason": "lists ready", "before": "paused", "after": "running"},
        )
    ]
    changelog = await (await sam.get("/api/changelog")).text()
    assert "campaign_start" in changelog
    assert "campaign_start" not in await (await clients["nora"].get("/api/changelog")).text()


async def test_a_viewer_sees_every_campaign_and_cannot_pause(clients: dict[str, TestClient], shell: Shell) -> None:
    vic = clients["vic"]
    assert (await vic.get("/api/campaigns/autumn/figures")).status == 200
    status, _ = await act(vic, "/api/campaigns/spring/resume")
    assert status == 403
    assert shell.service.engine.campaign_state["spring"].value == "paused"


async def test_the_live_rows_carry_only_the_users_campaigns(clients: dict[str, TestClient]) -> None:
    sam = await (await clients["sam"].get("/api/live")).json()
    assert [c["name"] for c in sam["campaigns"]] == ["spring"]
    row = sam["campaigns"][0]
    assert (row["state"], row["left"], row["dialled_24h"], row["connects_24h"]) == ("paused", 0, 0, 0)
    assert row["abandon_rate_24h"] is None
    assert "autumn" not in json_text(sam)
    vic = await (await clients["vic"].get("/api/live")).json()
    assert sorted(c["name"] for c in vic["campaigns"]) == ["autumn", "spring"]
    nora = await (await clients["nora"].get("/api/live")).json()
    assert nora["campaigns"] == []


def json_text(value: object) -> str:
    import json

    return json.dumps(value)


async def test_stop_and_the_agent_desk_dialler_routes_are_refused_to_a_supervisor(
    clients: dict[str, TestClient], shell: Shell
) -> None:
    """Their handlers make no campaign-filter check of their own: a supervisor whose filter leaves
    `autumn` out must not stop it, nor see or act on an agent's dialler contact. The routes are
    admin-only, so the role check refuses them first (this pins that)."""
    sam = clients["sam"]
    desk = [f"/api/agents/1001/contact/{action}" for action in ("dial", "skip", "disposition")]
    for path in ("/api/campaigns/autumn/stop", "/api/campaigns/spring/stop", *desk):
        status, text = await act(sam, path)
        assert status == 403 and "only an admin" in text, (path, status, text)
    card = await sam.get("/api/agents/1001/contact")
    assert card.status == 403
    assert shell.service.engine.campaign_state["autumn"].value == "paused"
