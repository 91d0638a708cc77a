"""Recordings over the API (issue 17): a request's recordings listed from the event log and the
file streamed from ARI's stored recordings, both cut to the caller's queues — a supervisor of
support gets 404 for a sales recording — and a recording deleted by retention is shown deleted
and no longer served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from app.store import store_from_dsn
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.telephony.test_recording_retention import HOUR, RECORDED_QUEUES, keeper, recorded_call
from tests.web.conftest import TOKEN
from tests.web.test_users_api import SALES_NUMBER, SUPPORT_NUMBER, SUPPORT_TOKEN, users_yaml


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    store = store_from_dsn(str(tmp_path / "events.db"))
    await store.open()
    text = config_text(fake_ari, queues=RECORDED_QUEUES, extra=users_yaml(tmp_path))
    s = await make_shell(fake_ari, text, store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def listed(http: TestClient, token: str, rid: str, status: int = 200) -> list[dict[str, object]]:
    resp = await http.get(f"/api/requests/{rid}/recordings", headers=bearer(token))
    assert resp.status == status, await resp.text()
    return list((await resp.json()).get("recordings", [])) if status == 200 else []


async def test_recordings_are_listed_and_streamed_only_for_the_callers_queues(shell: Shell, http: TestClient) -> None:
    support = await recorded_call(shell, SUPPORT_NUMBER, "4000")
    sales = await recorded_call(shell, SALES_NUMBER, "4001", fmt="gsm")

    [row] = await listed(http, TOKEN, support)
    assert (row["name"], row["format"], row["queue"], row["stored"]) == (f"holdfast-{support}", "wav", "support", True)
    assert row["started_at_epoch"] == shell.clock.now and row["deleted_at"] is None
    [row] = await listed(http, TOKEN, sales)
    assert (row["name"], row["format"], row["queue"]) == (f"holdfast-{sales}", "gsm", "sales")

    # the supervisor of support: their queue's recording, nothing of sales (as if it did not exist)
    assert [r["name"] for r in await listed(http, SUPPORT_TOKEN, support)] == [f"holdfast-{support}"]
    await listed(http, SUPPORT_TOKEN, sales, status=404)
    await listed(http, SUPPORT_TOKEN, "no-such-request", status=404)

    resp = await http.get(f"/api/recordings/holdfast-{support}", headers=bearer(SUPPORT_TOKEN))
    assert resp.status == 200 and resp.content_type == "audio/wav"
    assert await resp.read() == shell.fake.state.recordings[f"holdfast-{support}"]["file"]
    resp = await http.get(f"/api/recordings/holdfast-{sales}", headers=bearer(SUPPORT_TOKEN))
    assert resp.status == 404
    resp = await http.get(f"/api/recordings/holdfast-{sales}", headers=bearer(TOKEN))
    assert resp.status == 200 and await resp.read() == shell.fake.state.recordings[f"holdfast-{sales}"]["file"]
    resp = await http.get("/api/recordings/some-file", headers=bearer(TOKEN))
    assert resp.status == 404
    assert (await http.get(f"/api/recordings/holdfast-{support}")).status == 401


async def test_a_recording_deleted_by_retention_is_shown_deleted_and_not_served(shell: Shell, http: TestClient) -> None:
    start = shell.clock.now
    rid = await recorded_call(shell, SUPPORT_NUMBER, "4000")
    assert await keeper(shell).sweep(start + 3 * HOUR) == [f"holdfast-{rid}"]
    await shell.service.wait_committed()
    [row] = await listed(http, TOKEN, rid)
    assert row["stored"] is False and row["deleted_at_epoch"] == start + 3 * HOUR
    assert (await http.get(f"/api/recordings/holdfast-{rid}", headers=bearer(TOKEN))).status == 404
