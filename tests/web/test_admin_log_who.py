"""The admin change log names the person who made a change: a logged-in user is recorded as
themselves whatever `by` the client sends (else one admin could act in another's name), for the
do-not-call lists, contact and do-not-call uploads and campaigns created over the API alike. Only
the global admin token, which names nobody, takes the client's `by`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN, started_shell, users_settings
from tests.web.test_campaigns_api import CAMPAIGN, CAMPAIGNS, CSV
from tests.web.test_users_api import _HASH, login

NEW = "autumn"


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    extra = users_settings(tmp_path, _HASH, ada={"role": "admin", "queues": ["*"]}) + CAMPAIGNS
    async with started_shell(fake_ari, tmp_path, extra) as s:
        yield s


@pytest.fixture
async def ada(shell: Shell) -> AsyncIterator[TestClient]:
    client = await login(shell, "ada")
    client.session.headers["X-CSRF-Token"] = client.csrf  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        await client.close()


async def call(client: TestClient, method: str, path: str, status: int, **kwargs: object) -> None:
    resp = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert resp.status == status, await resp.text()


async def test_a_logged_in_admin_is_logged_as_themselves_not_as_the_by_they_send(shell: Shell, ada: TestClient) -> None:
    dnc = {"entries": ["+4520123456"], "by": "eva"}
    await call(ada, "POST", "/api/dnc", 201, json=dnc)
    await call(ada, "DELETE", "/api/dnc", 200, json=dnc)
    await call(ada, "POST", "/api/dnc/import?by=eva", 200, data="number\n+4520123457\n", headers=CSV)
    contacts = f"/api/campaigns/{CAMPAIGN}/contacts?by=eva"
    await call(ada, "POST", contacts, 200, data="number\n+4520123458\n", headers=CSV)
    await call(ada, "POST", "/api/campaigns", 201, json={"id": NEW, "by": "eva", "campaign": {"queue": "sales"}})
    await call(ada, "PUT", f"/api/campaigns/{NEW}", 200, json={"by": "eva", "campaign": {"queue": "support"}})
    await call(ada, "POST", f"/api/campaigns/{NEW}/stop", 200, json={"by": "eva", "reason": "done"})
    await call(ada, "DELETE", f"/api/campaigns/{NEW}", 200, json={"by": "eva"})
    store = shell.service.store
    assert store is not None
    log = await store.admin_log()
    assert [e.action for e in log] == [
        "dnc_add",
        "dnc_remove",
        "dnc_import",
        "contacts_import",
        "campaign_create",
        "campaign_edit",
        "campaign_stop",
        "campaign_delete",
    ]
    assert {e.who for e in log} == {"ada"}
    assert {e.added_by for e in await store.dnc_list(None)} == {"ada"}  # the import's entry


async def test_the_global_admin_token_is_logged_under_the_by_the_client_sends(shell: Shell, http: TestClient) -> None:
    token = {"Authorization": f"Bearer {TOKEN}"}
    await call(http, "POST", "/api/dnc", 201, json={"entries": ["+4520123456"], "by": "eva"}, headers=token)
    store = shell.service.store
    assert store is not None
    assert [(e.action, e.who) for e in await store.admin_log()] == [("dnc_add", "eva")]
