"""Pausing and resuming a campaign over the API: stored first (it outlives a restart), then the
running engine follows; every change admin-logged."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.core.settings import CampaignState
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import START, Shell, make_shell
from tests.web.test_campaigns_api import CAMPAIGN, http, shell_text, store, stored_shell

__all__ = ["http", "shell_text", "store", "stored_shell"]  # the fixtures of the contacts API tests


async def post(http: TestClient, path: str, status: int = 200, **body: Any) -> Any:
    resp = await http.post(path, json=body)
    answer = await resp.json()
    assert resp.status == status, answer
    return answer


async def test_resume_and_pause_are_stored_and_followed_by_the_engine(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    before = await (await http.get(f"/api/campaigns/{CAMPAIGN}/state")).json()
    assert before == {
        "campaign": CAMPAIGN,
        "state": "paused",  # as in the settings
        "engine_state": "paused",
        "stored": False,
        "updated_at": None,
        "updated_at_epoch": None,
        "updated_by": None,
    }
    resumed = await post(http, f"/api/campaigns/{CAMPAIGN}/resume", by="eva", reason="lists ready")
    assert (resumed["state"], resumed["engine_state"], resumed["stored"]) == ("running", "running", True)
    assert (resumed["updated_by"], resumed["updated_at_epoch"]) == ("eva", START)
    assert stored_shell.engine.campaign_state[CAMPAIGN] is CampaignState.RUNNING
    paused = await post(http, f"/api/campaigns/{CAMPAIGN}/pause", by="bo")
    assert (paused["state"], paused["engine_state"]) == ("paused", "paused")
    assert [(s.state, s.updated_by) for s in await store.campaign_states()] == [("paused", "bo")]
    assert await (await http.get(f"/api/campaigns/{CAMPAIGN}/state")).json() == paused
    log = [(e.who, e.action, e.detail) for e in await store.admin_log()]
    assert log == [
        (
            "eva",
            "campaign_start",
            {"campaign": CAMPAIGN, "reason": "lists ready", "before": "paused", "after": "running"},
        ),
        ("bo", "campaign_pause", {"campaign": CAMPAIGN, "reason": "", "before": "running", "after": "paused"}),
    ]


async def test_a_stored_state_outlives_a_restart(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, fake_ari: FakeAri, shell_text: str
) -> None:
    await post(http, f"/api/campaigns/{CAMPAIGN}/resume")
    await stored_shell.stop()
    again = await make_shell(fake_ari, shell_text, store=store)  # the settings still say paused
    await again.start()
    try:
        assert again.engine.campaign_state[CAMPAIGN] is CampaignState.RUNNING
        async with TestClient(TestServer(make_app(again.service))) as client:
            state = await (await client.get(f"/api/campaigns/{CAMPAIGN}/state")).json()
        assert (state["state"], state["engine_state"], state["stored"]) == ("running", "running", True)
    finally:
        await again.stop()


@pytest.mark.parametrize("path", ["/api/campaigns/autumn/pause", "/api/campaigns/autumn/resume"])
async def test_an_unknown_campaign_is_404_and_nothing_is_stored(
    http: TestClient, store: SQLiteStore, path: str
) -> None:
    await post(http, path, status=404)
    assert await store.campaign_states() == [] and await store.admin_log() == []


async def test_a_bad_body_is_422_and_changes_nothing(http: TestClient, store: SQLiteStore) -> None:
    await post(http, f"/api/campaigns/{CAMPAIGN}/pause", status=422, who="eva")
    assert await store.campaign_states() == []
