"""The change log as a viewer whose role sees numbers masked (web.mask_numbers, viewers by
default): a campaign's do-not-call change names customers' numbers, and the viewer of that
campaign must read them masked, as everywhere else (the do-not-call list itself is for admins)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.web.access import mask_number
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN, started_shell, users_settings
from tests.web.test_campaign_scope_api import CAMPAIGNS
from tests.web.test_users_api import _HASH, PASSWORD

ADMIN = {"Authorization": f"Bearer {TOKEN}"}
NUMBER = "+4520123456"


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    extra = users_settings(
        tmp_path,
        _HASH,
        vic={"role": "viewer", "queues": ["sales"], "campaigns": ["spring"]},
        sam={"role": "supervisor", "queues": ["sales"], "campaigns": ["spring"]},
    )
    async with started_shell(fake_ari, tmp_path, extra + CAMPAIGNS) as s:
        yield s


async def logged_in(shell: Shell, name: str) -> TestClient:
    client = TestClient(TestServer(make_app(shell.service)))
    await client.start_server()
    resp = await client.post("/api/session", json={"username": name, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return client


async def test_a_masked_viewer_reads_do_not_call_numbers_masked(shell: Shell, http: TestClient) -> None:
    resp = await http.post(
        "/api/campaigns/spring/dnc", json={"entries": [NUMBER, "+4590*"], "by": "ada", "reason": "asked"}, headers=ADMIN
    )
    assert resp.status == 201, await resp.text()
    for name, masked in (("vic", True), ("sam", False)):
        client = await logged_in(shell, name)
        try:
            answer = await (await client.get("/api/changelog")).json()
        finally:
            await client.close()
        [change] = [c for c in answer["changes"] if c["action"] == "dnc_add"]
        entries = change["detail"]["entries"]
        assert (NUMBER in entries) is not masked, (name, entries)
        if masked:
            assert entries == [mask_number(NUMBER), mask_number("+4590*")]
