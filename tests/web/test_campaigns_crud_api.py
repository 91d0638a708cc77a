"""Campaigns created, edited, stopped and deleted over the API, on the real service app with a real
SQLite store: validated as the YAML is, stored, given to the running engine as a reload would,
admin-logged, and restored at start-up. The YAML's own campaign cannot be changed over the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog
from aiohttp.test_utils import TestClient, TestServer

from app.core.settings import CampaignMode, CampaignState
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, make_shell
from tests.web.test_campaigns_api import CAMPAIGN, CSV, http, shell_text, store, stored_shell

__all__ = ["http", "shell_text", "store", "stored_shell"]  # the fixtures of the contacts API tests

NEW = "autumn"


async def call(http: TestClient, method: str, path: str, status: int, **body: Any) -> Any:
    resp = await http.request(method, path, json=body)
    answer = await resp.json()
    assert resp.status == status, answer
    return answer


async def create(http: TestClient, status: int = 201, **campaign: Any) -> Any:
    return await call(http, "POST", "/api/campaigns", status, id=NEW, by="eva", campaign=campaign)


async def test_a_created_campaign_is_stored_listed_and_dials(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    created = await create(http, queue="sales", max_attempts=5, name="Autumn")
    assert (created["id"], created["source"], created["state"], created["queue"]) == (NEW, "api", "running", "sales")
    assert stored_shell.engine.campaigns[NEW].max_attempts == 5
    assert [d.campaign for d in await store.campaign_defs()] == [NEW]
    listing = await call(http, "GET", "/api/campaigns", 200)
    assert {(c["id"], c["source"]) for c in listing["campaigns"]} == {(CAMPAIGN, "yaml"), (NEW, "api")}
    # its contacts are asked for and loaded by the engine: it dials
    resp = await http.post(f"/api/campaigns/{NEW}/contacts?by=eva", data="number,name\n+4520123456,Ada\n", headers=CSV)
    assert resp.status == 200, await resp.text()
    stored_shell.tick(1.0)

    await stored_shell.activities.wait("contacts_loaded", campaign=NEW, taken=1)
    log = [(e.who, e.action, e.detail["campaign"]) for e in await store.admin_log() if e.action.startswith("campaign_")]
    assert log == [("eva", "campaign_create", NEW)]


async def test_edit_applies_stop_stops_and_delete_needs_stopped(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    await create(http, queue="sales")
    edited = await call(http, "PUT", f"/api/campaigns/{NEW}", 200, by="bo", campaign={"queue": "support", "window": 7})
    assert edited["queue"] == "support"
    assert (stored_shell.engine.campaigns[NEW].queue, stored_shell.engine.campaigns[NEW].window) == ("support", 7)
    assert (await store.campaign_defs())[0].definition == {"queue": "support", "window": 7}
    await call(http, "DELETE", f"/api/campaigns/{NEW}", 409, by="bo")  # still running
    stopped = await call(http, "POST", f"/api/campaigns/{NEW}/stop", 200, by="bo", reason="done")
    assert stopped["state"] == "stopped" and stopped["stored_state"] == "stopped"
    assert stored_shell.engine.campaign_state[NEW] is CampaignState.STOPPED
    await call(http, "DELETE", f"/api/campaigns/{NEW}", 200, by="bo")
    assert NEW not in stored_shell.engine.campaigns and await store.campaign_defs() == []
    actions = [e.action for e in await store.admin_log()]
    assert actions == ["campaign_create", "campaign_edit", "campaign_stop", "campaign_delete"]
    edit, delete = (await store.admin_log())[1].detail, (await store.admin_log())[3].detail
    assert (edit["before"], edit["after"]) == ({"queue": "sales"}, {"queue": "support", "window": 7})
    assert delete["before"] == {"queue": "support", "window": 7}


async def test_an_api_campaign_outlives_a_restart(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, fake_ari: FakeAri, shell_text: str
) -> None:
    await create(http, queue="sales", state="paused", max_attempts=4)
    await stored_shell.stop()
    again = await make_shell(fake_ari, shell_text, store=store)  # the YAML knows only the other one
    await again.start()
    try:
        assert again.engine.campaigns[NEW].max_attempts == 4
        assert again.engine.campaign_state[NEW] is CampaignState.PAUSED
        async with TestClient(TestServer(make_app(again.service))) as client:
            listing = await (await client.get("/api/campaigns")).json()
        assert {(c["id"], c["source"], c["state"]) for c in listing["campaigns"]} == {
            (CAMPAIGN, "yaml", "paused"),
            (NEW, "api", "paused"),
        }
    finally:
        await again.stop()


async def test_a_bad_campaign_is_422_naming_the_key_and_nothing_changes(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    answer = await create(http, 422, queue="sales", max_attempts=99)
    assert f"campaigns.{NEW}.max_attempts" in answer["error"]
    answer = await create(http, 422, queue="nowhere")
    assert f"campaigns.{NEW}.queue" in answer["error"]
    answer = await create(http, 422, queue="sales", colour="red")
    assert f"campaigns.{NEW}.colour" in answer["error"]
    assert NEW not in stored_shell.engine.campaigns
    assert await store.campaign_defs() == [] and await store.admin_log() == []


async def test_the_yaml_campaign_cannot_be_created_or_edited_over_the_api(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    answer = await call(http, "PUT", f"/api/campaigns/{CAMPAIGN}", 409, campaign={"queue": "sales"})
    assert "settings file" in answer["error"]
    await call(http, "POST", "/api/campaigns", 409, id=CAMPAIGN, campaign={"queue": "sales"})
    await call(http, "DELETE", f"/api/campaigns/{CAMPAIGN}", 409)
    assert stored_shell.engine.campaigns[CAMPAIGN].queue == "support"
    assert await store.campaign_defs() == [] and await store.admin_log() == []


async def test_creating_an_existing_api_campaign_is_409(http: TestClient, store: SQLiteStore) -> None:
    await create(http, queue="sales")
    await create(http, 409, queue="support")
    assert (await store.campaign_defs())[0].definition == {"queue": "sales"}


async def test_a_reload_keeps_the_api_campaigns_and_the_file_wins_an_id_both_have(
    http: TestClient, stored_shell: Shell, shell_text: str, tmp_path: Path
) -> None:
    await create(http, queue="sales", max_attempts=4)
    path = tmp_path / "holdfast.yaml"
    path.write_text(shell_text)
    stored_shell.service.config_path = path
    assert (await http.post("/api/reload")).status == 200
    assert stored_shell.engine.campaigns[NEW].max_attempts == 4  # still there after the file is read again
    path.write_text(shell_text + f"  {NEW}:\n    queue: support\n")  # the file now declares it too
    assert (await http.post("/api/reload")).status == 200
    assert stored_shell.engine.campaigns[NEW].queue == "support"
    listing = await call(http, "GET", "/api/campaigns", 200)
    assert {(c["id"], c["source"]) for c in listing["campaigns"]} == {(CAMPAIGN, "yaml"), (NEW, "yaml")}
    await call(http, "PUT", f"/api/campaigns/{NEW}", 409, campaign={"queue": "sales"})


async def test_two_campaigns_created_at_once_are_both_kept(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    """Each change reads the set of API campaigns and awaits the store before handing the new set to
    the engine: two at once must not lose one."""
    names = ["winter", "summer", "harvest"]
    answers = await asyncio.gather(
        *(call(http, "POST", "/api/campaigns", 201, id=n, by="eva", campaign={"queue": "sales"}) for n in names)
    )
    assert sorted(a["id"] for a in answers) == sorted(names)
    assert set(names) <= set(stored_shell.engine.campaigns)
    assert set(names) <= set(stored_shell.service.api_campaigns)
    assert sorted(d.campaign for d in await store.campaign_defs()) == sorted(names)


async def test_a_power_campaign_without_caller_id_is_refused_but_one_stored_before_the_rule_restores(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, fake_ari: FakeAri, shell_text: str
) -> None:
    """Power and predictive campaigns need a caller_id (their abandoned calls present and say a
    number): created over the API without one is 422. One the store kept from before that rule is
    restored at start-up (an upgrade must not stop the service), with a warning at every start."""
    answer = await create(http, 422, queue="sales", mode="power")
    assert f"campaigns.{NEW}.caller_id is required in mode: power" in answer["error"]
    assert await store.campaign_defs() == []
    await store.save_campaign_def(NEW, {"queue": "sales", "mode": "power", "state": "paused"}, 0.0, "eva")
    await stored_shell.stop()
    again = await make_shell(fake_ari, shell_text, store=store)
    with structlog.testing.capture_logs() as logs:
        await again.start()
    try:
        assert again.engine.campaigns[NEW].mode is CampaignMode.POWER
        warned = [e for e in logs if e["event"] == "stored_campaign_without_caller_id"]
        assert [e["campaign"] for e in warned] == [NEW]
        # an edit is held to the rule: the admin gives it the number
        async with TestClient(TestServer(make_app(again.service))) as client:
            refused = await call(
                client, "PUT", f"/api/campaigns/{NEW}", 422, by="bo", campaign={"queue": "sales", "mode": "power"}
            )
            assert "caller_id is required" in refused["error"]
            fixed = {"queue": "sales", "mode": "power", "caller_id": "+4533445566"}
            await call(client, "PUT", f"/api/campaigns/{NEW}", 200, by="bo", campaign=fixed)
        assert again.engine.campaigns[NEW].information_number == "33445566"
    finally:
        await again.stop()
