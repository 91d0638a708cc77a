"""Contact uploads and do-not-call changes against a stopping service, a campaign deleted
meanwhile and a file refused part way, on the real service app with a real SQLite store: nothing
is stored that the answer denies, and rows that are stored are in the change log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.store.contact_import import BATCH_SIZE
from app.store.sqlite import SQLiteStore
from tests.telephony.conftest import Shell
from tests.web.store_gates import held
from tests.web.test_campaign_writes_api import NEW, call, stopped_api_campaign
from tests.web.test_campaigns_api import CAMPAIGN, CSV, http, shell_text, store, stored_shell

__all__ = ["http", "shell_text", "store", "stored_shell"]  # the fixtures of the contacts API tests


async def test_an_upload_while_the_service_stops_stores_nothing(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    """Answered 503 "could not be stored", yet its contacts were stored (and dialled after the
    restart) with no change-log line."""
    stored_shell.service.fatal.set()  # the service is stopping
    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/contacts?by=eva", data="number\n+4520123456\n", headers=CSV)
    assert resp.status == 503, await resp.text()
    assert await store.list_contacts(CAMPAIGN, None, 0, 100) == []


async def test_an_upload_racing_a_delete_is_409_with_its_stored_contacts_logged(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    """The campaign was deleted while its upload was being stored: a bare 500 after the contacts
    were stored, and no change-log line for them."""
    await stopped_api_campaign(http)
    gate = held(store, "import_contacts")
    try:
        up = asyncio.create_task(
            http.post(f"/api/campaigns/{NEW}/contacts?by=eva", data="number\n+4520123456\n", headers=CSV)
        )
        await asyncio.wait_for(gate.reached.wait(), 5)
        assert (await call(http, "DELETE", f"/api/campaigns/{NEW}"))[0] == 200
    finally:
        gate.open.set()
    resp = await up
    answer = await resp.json()
    assert resp.status == 409 and answer["stored"] is True and answer["inserted"] == 1, answer
    assert f"no campaign {NEW!r}" in answer["error"], answer
    logged = [e.detail for e in await store.admin_log() if e.action == "contacts_import"]
    assert [(d["campaign"], d["inserted"]) for d in logged] == [(NEW, 1)]


async def test_a_campaign_dnc_add_racing_a_delete_is_409_stored_and_logged(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    """A bare 500 after the entry was stored, with no change-log line."""
    await stopped_api_campaign(http)
    gate = held(store, "dnc_add")
    try:
        add = asyncio.create_task(call(http, "POST", f"/api/campaigns/{NEW}/dnc", entries=["+4520123456"], by="eva"))
        await asyncio.wait_for(gate.reached.wait(), 5)
        assert (await call(http, "DELETE", f"/api/campaigns/{NEW}"))[0] == 200
    finally:
        gate.open.set()
    status, answer = await add
    assert status == 409 and answer["stored"] is True, answer
    assert [e.entry for e in await store.dnc_list(NEW)] == ["+4520123456"]
    assert [e.detail["entries"] for e in await store.admin_log() if e.action == "dnc_add"] == [["+4520123456"]]


@pytest.mark.parametrize(
    ("path", "action", "counted"),
    [
        ("/api/dnc/import", "dnc_import", "added"),
        (f"/api/campaigns/{CAMPAIGN}/contacts", "contacts_import", "inserted"),
    ],
)
async def test_a_file_refused_part_way_says_how_many_rows_it_stored_and_logs_them(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, path: str, action: str, counted: str
) -> None:
    """A line the CSV reader cannot read after two batches: the rows before it were stored (and
    barred), the 400 was documented as "nothing was stored", and the change log had no line."""
    rows = "".join(f"+4520{100_000 + i:06d}\n" for i in range(BATCH_SIZE * 2))
    bad = "x" * 140_000 + "\n"  # over csv's field size limit: the rest of the file cannot be read
    resp = await http.post(f"{path}?by=eva", data="number\n" + rows + bad, headers=CSV)
    answer: dict[str, Any] = await resp.json()
    assert resp.status == 400 and answer["stored"] is True and answer["inserted"] == BATCH_SIZE * 2, answer
    assert f"{BATCH_SIZE * 2} rows before it were stored" in answer["error"], answer
    logged = [e.detail for e in await store.admin_log() if e.action == action]
    assert [(d[counted], "cannot be read as CSV" in str(d["stopped_by"])) for d in logged] == [(BATCH_SIZE * 2, True)]
