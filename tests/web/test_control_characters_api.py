"""Free text the API takes is one line of printable text: a NUL (valid JSON as "\\u0000", but
PostgreSQL cannot store it) or any other control character is refused with 422 naming the field,
before anything is changed or stored; a contacts upload refuses the row that holds one."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.states import AgentState
from app.store.sqlite import SQLiteStore
from tests.telephony.conftest import CALLER, Shell
from tests.web.test_campaigns_api import CAMPAIGN, CSV, http, shell_text, store, stored_shell, upload

__all__ = ["http", "shell_text", "store", "stored_shell"]  # the fixtures of the contacts API tests

NUL = "\x00"


async def call(http: TestClient, method: str, path: str, status: int, body: Any = None) -> Any:
    resp = await http.request(method, path, json=body)
    answer = await resp.json()
    assert resp.status == status, answer
    return answer


def names_field(answer: dict[str, Any], field: str) -> None:
    """A 422 that names `field` and says why."""
    assert [p["field"] for p in answer["problems"]] == [field], answer
    assert "control characters" in answer["problems"][0]["problem"], answer
    assert f"{field}: must not contain control characters" in answer["error"], answer


@pytest.mark.parametrize("reason", [f"coffee{NUL}", "two\nlines", "tab\there", "escape\x1b[31m"])
async def test_a_pause_reason_with_a_control_character_is_422_and_the_agent_stays_ready(
    http: TestClient, stored_shell: Shell, store: SQLiteStore, reason: str
) -> None:
    await call(http, "POST", "/api/agents/1001/ready", 200)
    answer = await call(http, "POST", "/api/agents/1001/pause", 422, {"reason": reason})
    names_field(answer, "reason")
    assert stored_shell.agent_state("1001") is AgentState.READY
    assert stored_shell.service.healthy
    # a reason of one line is taken as before
    paused = await call(http, "POST", "/api/agents/1001/pause", 200, {"reason": "coffee"})
    assert paused["pause_reason"] == "coffee"


async def test_callback_changes_with_a_nul_are_422_and_the_callback_stays(
    http: TestClient, stored_shell: Shell, store: SQLiteStore
) -> None:
    asked = await call(http, "POST", "/api/callbacks", 201, {"queue": "support", "number": CALLER})
    rid = asked["request_id"]
    names_field(await call(http, "DELETE", f"/api/callbacks/{rid}", 422, {"reason": f"x{NUL}"}), "reason")
    names_field(await call(http, "DELETE", f"/api/callbacks/{rid}", 422, {"by": f"eva{NUL}"}), "by")
    moved = {"queue": "sales", "reason": f"x{NUL}"}
    names_field(await call(http, "POST", f"/api/callbacks/{rid}/move", 422, moved), "reason")
    names_field(await call(http, "POST", f"/api/callbacks/{rid}/move", 422, {"queue": f"sales{NUL}"}), "queue")
    position = {"position": 1, "reason": f"x{NUL}"}
    names_field(await call(http, "POST", f"/api/callbacks/{rid}/position", 422, position), "reason")
    assert rid in stored_shell.engine.requests and stored_shell.engine.requests[rid].queue == "support"
    assert await store.admin_log() == []
    ask = {"queue": "support", "number": f"{CALLER}{NUL}"}
    names_field(await call(http, "POST", "/api/callbacks", 422, ask), "number")


async def test_campaign_texts_with_a_nul_are_422_naming_the_key(
    http: TestClient, stored_shell: Shell, store: SQLiteStore
) -> None:
    body = {"id": "autumn", "campaign": {"queue": "support", "name": f"Autumn{NUL}"}}
    answer = await call(http, "POST", "/api/campaigns", 422, body)
    assert "campaigns.autumn.name: must not contain control characters" in answer["error"], answer
    body = {"id": "autumn", "campaign": {"queue": "support", "dispositions": ["sale", f"no{NUL}"]}}
    answer = await call(http, "POST", "/api/campaigns", 422, body)
    assert "campaigns.autumn.dispositions.1: must not contain control characters" in answer["error"], answer
    body = {"id": f"autumn{NUL}", "campaign": {"queue": "support"}}
    names_field(await call(http, "POST", "/api/campaigns", 422, body), "id")
    names_field(await call(http, "POST", f"/api/campaigns/{CAMPAIGN}/pause", 422, {"reason": f"x{NUL}"}), "reason")
    names_field(await call(http, "POST", f"/api/campaigns/{CAMPAIGN}/stop", 422, {"reason": f"x{NUL}"}), "reason")
    assert "autumn" not in stored_shell.engine.campaigns
    assert await store.campaign_defs() == [] and await store.campaign_states() == []
    assert await store.admin_log() == []


async def test_do_not_call_entries_and_uploads_by_with_a_nul_are_422(http: TestClient, store: SQLiteStore) -> None:
    names_field(await call(http, "POST", "/api/dnc", 422, {"entries": [f"+4520123456{NUL}"]}), "entries.0")
    names_field(await call(http, "POST", "/api/dnc", 422, {"entries": ["+4520123456"], "reason": NUL}), "reason")
    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/contacts?by=eva%00", data="number\n+4520123456\n", headers=CSV)
    answer = await resp.json()
    assert resp.status == 422 and answer["problems"][0]["field"] == "by", answer
    assert await store.dnc_entries(None) == [] and await store.admin_log() == []
    assert await store.list_contacts(CAMPAIGN) == []


async def test_an_uploaded_contact_row_with_a_nul_is_refused_on_its_line(http: TestClient, store: SQLiteStore) -> None:
    text = f"number,name,note\n+4520123456,Ann,ok\n+4520123457,Bo{NUL}b,x\n+4520123458,Cy,a{NUL}\n"
    answer = await upload(http, text)
    assert (answer["inserted"], answer["refused"], answer["reasons"]) == (1, 2, {"nul_character": 2})
    assert [(r["line"], r["reason"]) for r in answer["refusals"]] == [(3, "nul_character"), (4, "nul_character")]
    assert "'name' cell has a NUL character" in answer["refusals"][0]["detail"]
    assert "'note' cell has a NUL character" in answer["refusals"][1]["detail"]
    assert [c.number for c in await store.list_contacts(CAMPAIGN)] == ["+4520123456"]
