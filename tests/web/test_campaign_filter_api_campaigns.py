"""A user's campaign filter naming a campaign created over the API (issue 16): the settings file
is accepted, the user is warned of at run time while no such campaign exists, and sees it (live
rows, figures, statistics) from the moment an admin creates it — without a reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from app.web.api import make_app
from app.web.live_feed import LIVE_KEY
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN, started_shell, users_settings
from tests.web.test_users_api import _HASH, PASSWORD

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def users(tmp: Path) -> str:
    return users_settings(tmp, _HASH, wendy={"role": "supervisor", "campaigns": ["winter", "nowhere"]})


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    async with started_shell(fake_ari, tmp_path, users(tmp_path)) as s:
        yield s


@pytest.fixture
async def http(shell: Shell) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(make_app(shell.service)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def wendy_sees(http: TestClient) -> Any:
    resp = await http.post("/api/session", json={"username": "wendy", "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_filter_names_an_api_campaign_and_sees_it_once_created(shell: Shell, http: TestClient) -> None:
    feed = http.server.app[LIVE_KEY]
    await shell.eventually(lambda: bool(feed.unknown_campaigns), "the feed's first look at the filters", timeout=10.0)
    assert feed.unknown_campaigns == {("wendy", "winter"), ("wendy", "nowhere")}
    feed.unknown_campaigns = frozenset()  # as at start: what it logs (no await between, so no race)
    with structlog.testing.capture_logs() as logs:
        feed.check_filters()
    assert [(e["log_level"], e["user"], e["campaign"]) for e in logs] == [
        ("warning", "wendy", "nowhere"),
        ("warning", "wendy", "winter"),
    ]
    assert (await wendy_sees(http))["campaigns"] == []
    assert (await http.get("/api/campaigns/winter/figures")).status == 404

    body = {"id": "winter", "by": "eva", "campaign": {"queue": "sales", "state": "paused"}}
    resp = await http.post("/api/campaigns", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()

    assert (await wendy_sees(http))["campaigns"] == ["winter"]  # no reload: the API's campaigns count
    live = await (await http.get("/api/live")).json()
    assert [c["name"] for c in live["campaigns"]] == ["winter"]
    assert (await http.get("/api/campaigns/winter/figures")).status == 200
    with structlog.testing.capture_logs() as logs:
        feed.check_filters()
    assert feed.unknown_campaigns == {("wendy", "nowhere")}  # still warned of; winter exists now
    assert logs == []  # nothing new to say
