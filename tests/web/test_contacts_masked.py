"""A viewer reads a campaign's contacts with their numbers masked, as everywhere else the roles of
web.mask_numbers see numbers (the live page, callbacks, exports): the contact list and a single
contact copied the stored number, so a viewer could page through every contact's full number."""

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
from tests.web.test_users_api import _HASH, PASSWORD

CAMPAIGNS = """
campaigns:
  autumn:
    mode: preview
    queue: sales
"""
NUMBER = "+4520123477"


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    users = users_settings(tmp_path, _HASH, vic={"role": "viewer", "queues": ["sales"], "campaigns": ["autumn"]})
    async with started_shell(fake_ari, tmp_path, users + CAMPAIGNS) as s:
        yield s


async def test_a_viewer_reads_contacts_with_masked_numbers_and_an_admin_in_full(shell: Shell) -> None:
    client = TestClient(TestServer(make_app(shell.service)))
    await client.start_server()
    try:
        admin = {"Authorization": f"Bearer {TOKEN}"}
        up = await client.post(
            "/api/campaigns/autumn/contacts?by=eva",
            data=f"number,name\n{NUMBER},Ada\n",
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert up.status == 200, await up.text()
        as_admin = (await (await client.get("/api/campaigns/autumn/contacts", headers=admin)).json())["contacts"]
        assert [c["number"] for c in as_admin] == [NUMBER]
        assert (await client.post("/api/session", json={"username": "vic", "password": PASSWORD})).status == 200
        listed = (await (await client.get("/api/campaigns/autumn/contacts")).json())["contacts"]
        one = await (await client.get(f"/api/campaigns/autumn/contacts/{listed[0]['contact_id']}")).json()
        assert [listed[0]["number"], one["number"]] == [mask_number(NUMBER)] * 2  # "+•••••••477"
    finally:
        await client.close()
