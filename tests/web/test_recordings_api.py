"""Recordings over the API (issue 17): a request's recordings listed from the event log and the
file streamed from ARI's stored recordings, both cut to the caller's queues — a supervisor of
support gets 404 for a sales recording — and a recording deleted by retention is shown deleted
and no longer served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from app.core.commands import BridgeLegs
from app.store import store_from_dsn
from app.telephony.legs import Leg
from app.web.passwords import hash_token
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.telephony.test_recording_retention import HOUR, RECORDED_QUEUES, keeper, recorded_call
from tests.web.conftest import TOKEN
from tests.web.test_users_api import SALES_NUMBER, SUPPORT_NUMBER, SUPPORT_TOKEN, users_yaml

SALES_TOKEN = "hf_sales-token-for-tests-0123456789abc"


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    store = store_from_dsn(str(tmp_path / "events.db"))
    await store.open()
    sales_user = f"""  sal:
    role: supervisor
    api_token_hash: "{hash_token(SALES_TOKEN)}"
    queues: [sales]
"""
    text = config_text(fake_ari, queues=RECORDED_QUEUES, extra=users_yaml(tmp_path) + sales_user)
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


async def test_a_moved_callbacks_recording_goes_with_the_queue_it_was_recorded_in(
    shell: Shell, http: TestClient
) -> None:
    """A callback asked for in sales and moved to support is called back, and recorded, in
    support. Who may hear the recording was decided by the request's first queue (sales): the
    supervisor of support, whose call it was, got 404, and one of sales would hear a support
    conversation. Each recording goes with the queue it was made in."""
    resp = await http.post(
        "/api/callbacks", json={"queue": "sales", "number": SALES_NUMBER, "priority": 0}, headers=bearer(TOKEN)
    )
    assert resp.status in (200, 201), await resp.text()
    rid = str((await resp.json())["request_id"])
    resp = await http.post(f"/api/callbacks/{rid}/move", json={"queue": "support", "by": "eva"}, headers=bearer(TOKEN))
    assert resp.status == 200, await resp.text()
    customer = shell.fake.add_channel(name="PJSIP/trunk-cust")
    agent = shell.fake.add_channel(name="PJSIP/1001-agent")
    shell.service.legs.add(Leg(f"{rid}:c", customer["id"], "customer", rid, answered=True))
    shell.service.legs.add(Leg(f"{rid}:a", agent["id"], "agent", rid, answered=True))
    shell.service.executor.submit([BridgeLegs(rid, f"{rid}:c", f"{rid}:a", record=True, record_format="wav")])
    await shell.activities.wait("recording_started", request_id=rid)
    await shell.service.wait_committed()

    [row] = await listed(http, SUPPORT_TOKEN, rid)
    assert (row["name"], row["queue"]) == (f"holdfast-{rid}", "support")
    resp = await http.get(f"/api/recordings/holdfast-{rid}", headers=bearer(SUPPORT_TOKEN))
    assert resp.status == 200 and await resp.read() == shell.fake.state.recordings[f"holdfast-{rid}"]["file"]
    # sales saw the request (it was theirs) but not the support conversation
    assert await listed(http, SALES_TOKEN, rid) == []
    assert (await http.get(f"/api/recordings/holdfast-{rid}", headers=bearer(SALES_TOKEN))).status == 404
    sales = await recorded_call(shell, SALES_NUMBER, "4001", fmt="gsm")
    assert [r["name"] for r in await listed(http, SALES_TOKEN, sales)] == [f"holdfast-{sales}"]  # their own: yes
