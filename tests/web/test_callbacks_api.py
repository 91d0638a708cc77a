"""The callbacks API: ask, list, remove, move, and every kind of bad input refused with a 4xx that
names the field and why, leaving nothing changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.errors import DuplicateRequest
from app.core.states import RequestState
from app.web.body import MAX_BODY_BYTES
from tests.telephony.conftest import CALLER, Shell

OTHER = "+4520999888"
HIDDEN_PREMIUM = "+4590123456"  # Danish premium rate: refused by the default rules


async def ask(http: TestClient, number: str = CALLER, queue: str = "support", **more: Any) -> dict[str, Any]:
    resp = await http.post("/api/callbacks", json={"queue": queue, "number": number, **more})
    body = await resp.json()
    assert resp.status == 201, body
    return body


def snapshot(shell: Shell) -> list[tuple[str, str, str, Any]]:
    """What a refused request must leave as it was."""
    return sorted((r.id, r.queue, r.state.value, r.place) for r in shell.engine.requests.values())


# ---- the happy paths ------------------------------------------------------------------------------


async def test_ask_then_list_in_place_order(shell: Shell, http: TestClient) -> None:
    first = await ask(http, CALLER)
    assert first["queue"] == "support" and first["state"] == "waiting" and first["position"] == 1
    assert first["number"] == CALLER and first["attempts"] == 0
    vip = await ask(http, OTHER, priority=5)
    assert vip["position"] == 1  # a higher priority goes first
    resp = await http.get("/api/callbacks")
    assert resp.status == 200
    listed = (await resp.json())["callbacks"]
    assert [(c["request_id"], c["position"]) for c in listed] == [(vip["request_id"], 1), (first["request_id"], 2)]
    assert shell.engine.requests[vip["request_id"]].priority == 5


async def test_remove_records_who_and_why(shell: Shell, http: TestClient) -> None:
    cb = await ask(http)
    resp = await http.delete(f"/api/callbacks/{cb['request_id']}", json={"by": "eva", "reason": "called in again"})
    assert resp.status == 200
    assert await resp.json() == {"request_id": cb["request_id"], "removed": True}
    assert cb["request_id"] not in shell.engine.requests
    ended = shell.activities.find("ended", request_id=cb["request_id"])[0]
    assert (ended.data["by"], ended.data["reason"]) == ("eva", "called in again")


async def test_remove_without_a_body_uses_the_defaults(shell: Shell, http: TestClient) -> None:
    cb = await ask(http)
    resp = await http.delete(f"/api/callbacks/{cb['request_id']}")
    assert resp.status == 200
    ended = shell.activities.find("ended", request_id=cb["request_id"])[0]
    assert (ended.data["by"], ended.data["reason"]) == ("admin", "")


async def test_move_to_another_queue(shell: Shell, http: TestClient) -> None:
    cb = await ask(http)
    resp = await http.post(f"/api/callbacks/{cb['request_id']}/move", json={"queue": "sales", "by": "eva"})
    assert resp.status == 200
    body = await resp.json()
    assert body["removed"] is False and body["callback"]["queue"] == "sales" and body["callback"]["position"] == 1
    assert shell.engine.requests[cb["request_id"]].queue == "sales"


# ---- refusals by the engine ---------------------------------------------------------------------


async def test_a_refused_number_is_422_with_the_reason(shell: Shell, http: TestClient) -> None:
    before = snapshot(shell)
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": HIDDEN_PREMIUM})
    assert resp.status == 422
    body = await resp.json()
    assert body["reason"] == "premium_rate" and body["error"] == "number refused: premium_rate"
    assert snapshot(shell) == before


async def test_ask_for_an_unknown_queue_is_404(shell: Shell, http: TestClient) -> None:
    resp = await http.post("/api/callbacks", json={"queue": "nope", "number": CALLER})
    assert resp.status == 404
    assert (await resp.json())["error"] == "no queue named 'nope'"
    assert snapshot(shell) == []


async def test_move_to_an_unknown_queue_is_404_and_changes_nothing(shell: Shell, http: TestClient) -> None:
    cb = await ask(http)
    before = snapshot(shell)
    resp = await http.post(f"/api/callbacks/{cb['request_id']}/move", json={"queue": "nope"})
    assert resp.status == 404
    assert (await resp.json())["error"] == "no queue named 'nope'"
    assert snapshot(shell) == before


async def test_no_callbacks_into_a_queue_without_them_is_409(shell: Shell, http: TestClient) -> None:
    # Issue 12: a queue with callback.enabled false was accepted by POST /api/callbacks and /move.
    from dataclasses import replace

    from app.core.events import SettingsChanged

    cb = await ask(http)
    core = shell.engine.settings
    off = replace(core.queue("sales"), callback=replace(core.queue("sales").callback, enabled=False))
    queues = tuple(off if q.name == "sales" else q for q in core.queues)
    shell.engine.handle(SettingsChanged(shell.clock(), replace(core, queues=queues)))  # sales: callbacks off
    before = snapshot(shell)
    resp = await http.post("/api/callbacks", json={"queue": "sales", "number": OTHER})
    assert resp.status == 409 and "queue 'sales' does not take callbacks" in (await resp.json())["error"]
    resp = await http.post(f"/api/callbacks/{cb['request_id']}/move", json={"queue": "sales"})
    assert resp.status == 409 and "queue 'sales' does not take callbacks" in (await resp.json())["error"]
    assert snapshot(shell) == before


@pytest.mark.parametrize("method", ["DELETE", "MOVE"])
async def test_an_unknown_request_is_404(http: TestClient, method: str) -> None:
    if method == "DELETE":
        resp = await http.delete("/api/callbacks/nobody")
    else:
        resp = await http.post("/api/callbacks/nobody/move", json={"queue": "sales"})
    assert resp.status == 404
    assert (await resp.json())["error"] == "no waiting request nobody"


async def test_removing_an_inbound_caller_is_409_and_changes_nothing(shell: Shell, http: TestClient) -> None:
    caller = await shell.caller(CALLER)
    before = snapshot(shell)
    resp = await http.delete(f"/api/callbacks/{caller.request_id}", json={"by": "eva"})
    assert resp.status == 409
    assert "only waiting callbacks" in (await resp.json())["error"]
    assert snapshot(shell) == before and shell.engine.requests[caller.request_id].state is RequestState.WAITING


async def test_an_engine_refusal_is_409_with_the_engines_words(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine's DuplicateRequest names the request that already holds the number; the API
    # passes that sentence on (the rule itself is the core's: see the test below).
    def refuse(event: object) -> list[object]:
        raise DuplicateRequest("+4520123456 already waits in support as request web-1", "web-1")

    monkeypatch.setattr(shell.engine, "handle", refuse)
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    assert resp.status == 409
    assert await resp.json() == {
        "error": "+4520123456 already waits in support as request web-1",
        "existing_request_id": "web-1",
    }


async def test_the_same_number_twice_in_one_queue_is_409_naming_the_first(shell: Shell, http: TestClient) -> None:
    first = await ask(http)
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    assert resp.status == 409
    body = await resp.json()
    assert first["request_id"] in body["error"]
    assert body["existing_request_id"] == first["request_id"]
    assert len(shell.engine.requests) == 1


# ---- bad bodies -------------------------------------------------------------------------------------

ASK = "/api/callbacks"
VALID = {"queue": "support", "number": CALLER}


def text(value: Any) -> bytes:
    return json.dumps(value).encode()


# (body as raw bytes, status, the field named, a fragment of why)
BAD_ASK: list[tuple[bytes, int, str, str]] = [
    (text({**VALID, "priority": "abc"}), 422, "priority", "valid integer"),
    (text({**VALID, "priority": "5"}), 422, "priority", "valid integer"),
    (text({**VALID, "priority": None}), 422, "priority", "valid integer"),
    (text({**VALID, "priority": 1.5}), 422, "priority", "valid integer"),
    (text({**VALID, "priority": True}), 422, "priority", "valid integer"),
    (b'{"queue": "support", "number": "+4520123456", "priority": 1e999}', 422, "priority", "valid integer"),
    (b'{"queue": "support", "number": "+4520123456", "priority": NaN}', 422, "priority", "valid integer"),
    (b'{"queue": "support", "number": "+4520123456", "priority": Infinity}', 422, "priority", "valid integer"),
    (text({**VALID, "priority": 2**63}), 422, "priority", "less than or equal to 1000"),
    (text({**VALID, "priority": -(2**63)}), 422, "priority", "greater than or equal to -1000"),
    (text({**VALID, "priority": 1001}), 422, "priority", "less than or equal to 1000"),
    (text({"number": CALLER}), 422, "queue", "is required"),
    (text({"queue": "support"}), 422, "number", "is required"),
    (text({**VALID, "number": None}), 422, "number", "valid string"),
    (text({**VALID, "number": 4520123456}), 422, "number", "valid string"),
    (text({**VALID, "number": "+45" + "1" * 30}), 422, "number", "at most 32 characters"),
    (text({**VALID, "number": ""}), 422, "number", "at least 1 character"),
    (text({**VALID, "queue": "q" * 65}), 422, "queue", "at most 64 characters"),
    (text({**VALID, "queue": ["support"]}), 422, "queue", "valid string"),
    (text({**VALID, "priorty": 1}), 422, "priorty", "not a known field; known fields: queue, number, priority"),
    (text([VALID]), 422, "body", "must be a JSON object"),
    (text("support"), 422, "body", "must be a JSON object"),
    (b"null", 422, "body", "must be a JSON object"),
    (b"", 422, "queue", "is required"),
    (b"not json", 400, "", "the body is not valid JSON"),
    (b'{"queue": "support",', 400, "", "the body is not valid JSON"),
    (b"\xff\xfe\x00", 400, "", "the body is not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, 400, "", "recursion limit exceeded"),
    (b'{"queue": ' + b'{"a": ' * 500 + b"1" + b"}" * 501, 400, "", "recursion limit exceeded"),
]


@pytest.mark.parametrize(("raw", "status", "field", "why"), BAD_ASK, ids=[f"ask-{i}" for i in range(len(BAD_ASK))])
async def test_a_bad_callback_request_is_refused_with_the_field_and_why(
    shell: Shell, http: TestClient, raw: bytes, status: int, field: str, why: str
) -> None:
    resp = await http.post(ASK, data=raw, headers={"Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == status, body
    assert why in body["error"]
    if status == 422:
        assert any(p["field"] == field and why in p["problem"] for p in body["problems"]), body
        assert body["error"].startswith("the body is not valid: ")
    assert snapshot(shell) == []  # nothing half done


async def test_a_body_larger_than_the_limit_is_413(shell: Shell, http: TestClient) -> None:
    raw = text({**VALID, "pad": "x" * MAX_BODY_BYTES})
    resp = await http.post(ASK, data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"] == f"the body is larger than {MAX_BODY_BYTES} bytes"
    assert snapshot(shell) == []


BAD_ADMIN: list[tuple[dict[str, Any] | list[Any], str, str]] = [
    ({"reason": None}, "reason", "valid string"),
    ({"by": None}, "by", "valid string"),
    ({"by": ""}, "by", "at least 1 character"),
    ({"by": "b" * 65}, "by", "at most 64 characters"),
    ({"reason": "r" * 501}, "reason", "at most 500 characters"),
    ({"reason": 42}, "reason", "valid string"),
    ({"by": "eva", "why": "x"}, "why", "not a known field"),
    (["eva"], "body", "must be a JSON object"),
]


@pytest.mark.parametrize(("body", "field", "why"), BAD_ADMIN, ids=[f"admin-{i}" for i in range(len(BAD_ADMIN))])
@pytest.mark.parametrize("action", ["remove", "move"])
async def test_a_bad_remove_or_move_is_422_and_changes_nothing(
    shell: Shell, http: TestClient, action: str, body: Any, field: str, why: str
) -> None:
    cb = await ask(http)
    before = snapshot(shell)
    if action == "remove":
        resp = await http.delete(f"/api/callbacks/{cb['request_id']}", json=body)
    else:
        resp = await http.post(
            f"/api/callbacks/{cb['request_id']}/move",
            json={"queue": "sales", **body} if isinstance(body, dict) else body,
        )
    answer = await resp.json()
    assert resp.status == 422, answer
    assert any(p["field"] == field and why in p["problem"] for p in answer["problems"]), answer
    assert snapshot(shell) == before
    assert not shell.activities.find("ended", request_id=cb["request_id"])


async def test_move_needs_the_target_queue(shell: Shell, http: TestClient) -> None:
    cb = await ask(http)
    resp = await http.post(f"/api/callbacks/{cb['request_id']}/move", json={"by": "eva"})
    assert resp.status == 422
    assert (await resp.json())["problems"] == [{"field": "queue", "problem": "is required"}]


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"reason": None}, "reason", "valid string"),
        ({"reason": "r" * 501}, "reason", "at most 500"),
        ({"x": 1}, "x", ""),
    ],
)
async def test_a_bad_agent_action_body_is_422_and_changes_nothing(
    shell: Shell, http: TestClient, body: dict[str, Any], field: str, why: str
) -> None:
    resp = await http.post("/api/agents/1001/ready", json=body)
    answer = await resp.json()
    assert resp.status == 422, answer
    assert any(p["field"] == field and why in p["problem"] for p in answer["problems"])
    assert shell.agent_state("1001").value == "logged_off"


# ---- the rest is JSON too ---------------------------------------------------------------------------


async def test_an_unknown_path_and_a_wrong_method_answer_json(http: TestClient) -> None:
    resp = await http.get("/api/nothing-here")
    assert resp.status == 404 and (await resp.json())["error"] == "Not Found"
    resp = await http.put("/api/callbacks", json=VALID)
    assert resp.status == 405 and (await resp.json())["error"] == "Method Not Allowed"
    assert "POST" in resp.headers["Allow"]
