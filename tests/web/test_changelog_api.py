"""GET /api/changelog reads the admin log back from its newest entry, a batch at a time, so the
page shows the latest changes however long the log has grown (it once read the oldest 100 000 and
stopped showing new ones), and a user who sees little of it still gets their entries from
further back. A since_id no store can hold is a 400 naming it, not a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.store.sqlite import SQLiteStore
from app.web import changelog
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN
from tests.web.test_users_api import SUPPORT_TOKEN, shell_text  # noqa: F401

ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SAM = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}  # a supervisor of support


@pytest.fixture
async def store(shell: Shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SQLiteStore]:
    monkeypatch.setattr(changelog, "BATCH", 3)  # a long log in a few entries
    s = SQLiteStore(tmp_path / "log.db")
    await s.open()
    shell.service.store = s  # the admin log only (no committer: this service stores no steps)
    try:
        yield s
    finally:
        shell.service.store = None
        await s.close()


async def changes(http: TestClient, headers: dict[str, str], **query: str) -> list[Any]:
    resp = await http.get("/api/changelog", params=query, headers=headers)
    assert resp.status == 200, await resp.text()
    return [c["id"] for c in (await resp.json())["changes"]]


async def test_the_newest_entries_come_first_across_batches(
    http: TestClient, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    support = await store.append_admin(1.0, "sam", "remove_callback", None, {"queue": "support"})
    sales = [await store.append_admin(2.0 + i, "bo", "remove_callback", None, {"queue": "sales"}) for i in range(8)]
    assert await changes(http, ADMIN) == [*reversed(sales), support]
    assert await changes(http, SAM) == [support]  # found behind three batches of sales
    assert await changes(http, ADMIN, since_id=str(sales[4])) == sales[:4:-1]
    monkeypatch.setattr(changelog, "MAX_ENTRIES", 4)
    assert await changes(http, ADMIN) == sales[:3:-1]


@pytest.mark.parametrize("since_id", ["99999999999999999999", "-1", "x"])
async def test_a_since_id_out_of_range_is_a_400_naming_it(http: TestClient, store: SQLiteStore, since_id: str) -> None:
    resp = await http.get("/api/changelog", params={"since_id": since_id}, headers=ADMIN)
    assert resp.status == 400
    assert "since_id" in (await resp.json())["error"]
