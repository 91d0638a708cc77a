"""Campaign changes (create, stop, delete, pause, resume, reload) against each other, a stopping
service and a busy store, on the real service app with a real SQLite store: one change at a
time, checked with the engine before anything is stored, and once stored answered and logged as
stored — never a bare 500, never "could not be stored" for a change a restart brings back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.settings import CampaignState
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.store_gates import busy, held, then
from tests.web.test_campaigns_api import CAMPAIGN, http, shell_text, store, stored_shell

__all__ = ["http", "shell_text", "store", "stored_shell"]  # the fixtures of the contacts API tests

NEW = "autumn"


async def call(http: TestClient, method: str, path: str, **body: Any) -> tuple[int, Any]:
    resp = await http.request(method, path, json=body)
    return resp.status, await resp.json()


async def stopped_api_campaign(http: TestClient) -> None:
    assert (await call(http, "POST", "/api/campaigns", id=NEW, campaign={"queue": "sales"}))[0] == 201
    assert (await call(http, "POST", f"/api/campaigns/{NEW}/stop"))[0] == 200


async def actions(store: SQLiteStore) -> list[str]:
    return [e.action for e in await store.admin_log()]


async def restarted(fake_ari: FakeAri, shell_text: str, store: SQLiteStore, running: Shell) -> Shell:
    await running.stop()
    again = await make_shell(fake_ari, shell_text, store=store)
    await again.start()
    return again


async def test_a_campaign_deleted_and_created_again_runs_after_a_restart(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, fake_ari: FakeAri, shell_text: str
) -> None:
    """Stopped, deleted and created again: the API said running, the restart brought it back
    stopped (the deleted campaign's stored state)."""
    await stopped_api_campaign(http)
    assert (await call(http, "DELETE", f"/api/campaigns/{NEW}"))[0] == 200
    status, again = await call(http, "POST", "/api/campaigns", id=NEW, campaign={"queue": "sales"})
    assert (status, again["state"]) == (201, "running")
    after = await restarted(fake_ari, shell_text, store, stored_shell)
    try:
        assert after.engine.campaign_state[NEW] is CampaignState.RUNNING
    finally:
        await after.stop()


async def test_a_delete_waits_for_a_resume_under_way_and_is_refused_as_not_stopped(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    """A delete during a resume of a stopped campaign deleted it, then the resume was a 500 and
    left a stored state for a campaign that no longer existed."""
    await stopped_api_campaign(http)
    gate = held(store, "set_campaign_state")
    try:
        resume = asyncio.create_task(call(http, "POST", f"/api/campaigns/{NEW}/resume"))
        await asyncio.wait_for(gate.reached.wait(), 5)
        delete = asyncio.create_task(call(http, "DELETE", f"/api/campaigns/{NEW}"))
        await asyncio.wait([delete], timeout=0.3)  # unserialized, it would be done by now
    finally:
        gate.open.set()
    status, resumed = await resume
    assert (status, resumed["state"]) == (200, "running"), resumed
    status, refused = await delete
    assert status == 409 and "not stopped" in refused["error"], refused
    assert stored_shell.engine.campaign_state[NEW] is CampaignState.RUNNING


async def test_a_resume_waits_for_a_delete_under_way_and_finds_no_campaign(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    """A resume during a delete (after its "is it stopped?" check) was answered 200 running, and
    the campaign was deleted anyway."""
    await stopped_api_campaign(http)
    gate = held(store, "delete_campaign_def")
    try:
        delete = asyncio.create_task(call(http, "DELETE", f"/api/campaigns/{NEW}"))
        await asyncio.wait_for(gate.reached.wait(), 5)
        resume = asyncio.create_task(call(http, "POST", f"/api/campaigns/{NEW}/resume"))
        await asyncio.wait([resume], timeout=0.3)
    finally:
        gate.open.set()
    assert (await delete)[0] == 200
    status, refused = await resume
    assert status == 404 and f"no campaign {NEW!r}" in refused["error"], refused
    assert NEW not in stored_shell.engine.campaigns
    assert [s.campaign for s in await store.campaign_states()] == []


async def test_a_stop_racing_a_reload_that_drops_the_campaign_is_409_stored_and_logged(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, fake_ari: FakeAri, tmp_path: Path
) -> None:
    """A SIGHUP reload without the campaign came between a stop's store write and the engine:
    the stop was a bare 500, its stored state in no change log."""
    path = tmp_path / "holdfast.yaml"
    path.write_text(config_text(fake_ari, queues=CALLBACK_QUEUES))  # no campaigns any more
    stored_shell.service.config_path = path
    gate = held(store, "set_campaign_state")
    try:
        stop = asyncio.create_task(call(http, "POST", f"/api/campaigns/{CAMPAIGN}/stop", by="eva"))
        await asyncio.wait_for(gate.reached.wait(), 5)
        assert stored_shell.service.reload() is None  # as SIGHUP does it
    finally:
        gate.open.set()
    status, answer = await stop
    assert status == 409 and answer["stored"] is True, answer
    assert f"no campaign {CAMPAIGN!r}" in answer["error"], answer
    assert await actions(store) == ["campaign_stop"]


@pytest.mark.parametrize(
    ("method", "verb", "path", "body", "action"),
    [
        ("set_campaign_state", "POST", f"/api/campaigns/{CAMPAIGN}/resume", {}, "campaign_start"),
        ("set_campaign_state", "POST", f"/api/campaigns/{CAMPAIGN}/stop", {}, "campaign_stop"),
        ("save_campaign_def", "POST", "/api/campaigns", {"id": NEW, "campaign": {"queue": "sales"}}, "campaign_create"),
        ("dnc_add", "POST", "/api/dnc", {"entries": ["+4520123457"]}, "dnc_add"),
        ("dnc_remove", "DELETE", "/api/dnc", {"entries": ["+4520123456"]}, "dnc_remove"),
    ],
)
async def test_a_change_stored_as_the_service_starts_stopping_is_answered_stored_and_logged(
    http: TestClient,
    store: SQLiteStore,
    stored_shell: Shell,
    method: str,
    verb: str,
    path: str,
    body: dict[str, Any],
    action: str,
) -> None:
    """The service started stopping right after the store write: the answer said "could not be
    stored; try again later", the change came back after the restart, and no change log had it."""
    assert (await call(http, "POST", "/api/dnc", entries=["+4520123456"]))[0] == 201
    then(store, method, lambda: stored_shell.service.fail("test: stopping meanwhile"))
    status, answer = await call(http, verb, path, by="eva", **body)
    assert status == 503 and answer["stored"] is True, answer
    assert "is stored" in answer["error"] and "could not be stored" not in answer["error"], answer
    logged = [e for e in await store.admin_log() if e.action == action and e.who == "eva"]
    assert [e.detail["applied"] for e in logged] == ["at the next start"]


async def test_a_resume_answered_stored_while_stopping_runs_after_the_restart(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, fake_ari: FakeAri, shell_text: str
) -> None:
    """What the 503 says ("stored; applies when the service starts again") is what a restart does."""
    then(store, "set_campaign_state", lambda: stored_shell.service.fail("test: stopping meanwhile"))
    status, answer = await call(http, "POST", f"/api/campaigns/{CAMPAIGN}/resume", by="eva")
    assert status == 503 and "applies when the service starts again" in answer["error"], answer
    after = await restarted(fake_ari, shell_text, store, stored_shell)
    try:
        assert after.engine.campaign_state[CAMPAIGN] is CampaignState.RUNNING
    finally:
        await after.stop()


async def test_a_reload_while_the_service_stops_is_503_not_applied(
    http: TestClient, stored_shell: Shell, fake_ari: FakeAri, shell_text: str, tmp_path: Path
) -> None:
    """A reload sent while the service was stopping was answered 200 applied."""
    path = tmp_path / "holdfast.yaml"
    path.write_text(shell_text.replace("state: paused", "state: paused\n    max_attempts: 4"))
    stored_shell.service.config_path = path
    stored_shell.service.fatal.set()  # the service is stopping
    status, answer = await call(http, "POST", "/api/reload")
    assert status == 503, answer
    assert stored_shell.engine.campaigns[CAMPAIGN].max_attempts != 4


@pytest.mark.parametrize(
    ("method", "verb", "path", "body"),
    [
        ("set_campaign_state", "POST", f"/api/campaigns/{CAMPAIGN}/resume", {}),
        ("set_campaign_state", "POST", f"/api/campaigns/{CAMPAIGN}/stop", {}),
        ("dnc_add", "POST", "/api/dnc", {"entries": ["+4520123456"]}),
        ("save_campaign_def", "POST", "/api/campaigns", {"id": NEW, "campaign": {"queue": "sales"}}),
    ],
)
async def test_a_busy_store_is_503_with_a_retry_hint(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, method: str, verb: str, path: str, body: dict[str, Any]
) -> None:
    """A store locked by someone else gave a bare 500 "internal error" though nothing changed."""
    busy(store, method)
    resp = await http.request(verb, path, json=body)
    answer = await resp.json()
    assert resp.status == 503 and resp.headers["Retry-After"] == "2", answer
    assert "the store is busy" in answer["error"], answer
    assert await store.admin_log() == [] and not stored_shell.service.fatal.is_set()
