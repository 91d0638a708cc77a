"""HTTP API against the real service on a fake Asterisk: health, metrics, queues, agents, auth."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from app.core.states import AgentState
from tests.telephony.conftest import CALLER, Shell
from tests.web.conftest import TOKEN

# ---- health and metrics ------------------------------------------------------------------------


async def test_healthz_ok_when_connected(http: TestClient) -> None:
    resp = await http.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"ari": "connected", "problems": []}


async def test_healthz_503_when_disconnected(shell: Shell, http: TestClient) -> None:
    shell.fake.refuse_websocket()  # no way back in
    await shell.fake.drop_websockets()
    await shell.eventually(lambda: not shell.service.connected.is_set(), "the disconnect")
    resp = await http.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["ari"] == "disconnected"
    assert body["problems"] == ["ARI is not connected: Asterisk is unreachable or the events websocket dropped"]
    assert body["error"] == body["problems"][0]


async def test_healthz_503_when_replaced(shell: Shell, http: TestClient) -> None:
    await shell.push("ApplicationReplaced")
    await shell.eventually(lambda: shell.service.replaced, "replaced")
    resp = await http.get("/healthz")
    assert resp.status == 503


async def test_metrics(shell: Shell, http: TestClient) -> None:
    shell.ready("1001")
    await shell.endpoint_state("1002", "offline")
    await shell.activities.wait("agent_reachability", agent_id="1002")
    await shell.caller(CALLER)  # rings 1001
    await shell.caller("+4520999888")  # waits
    resp = await http.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert 'holdfast_callers_waiting{queue="support"} 1.0' in text
    assert 'holdfast_callers_waiting{queue="sales"} 0.0' in text
    assert 'holdfast_agents{state="ringing"} 1.0' in text
    assert 'holdfast_agents{state="logged_off"} 1.0' in text
    assert "holdfast_ari_connected 1.0" in text
    assert "holdfast_event_handling_seconds_count" in text


# ---- views --------------------------------------------------------------------------------------


async def test_queues_lists_waiting_in_place_order(shell: Shell, http: TestClient) -> None:
    first = await shell.caller(CALLER)
    shell.clock.advance(30)
    second = await shell.caller("+4520999888")
    shell.clock.advance(15)
    resp = await http.get("/api/queues")
    assert resp.status == 200
    queues = {q["name"]: q for q in (await resp.json())["queues"]}
    assert set(queues) == {"support", "sales"}
    support = queues["support"]
    assert support["display_name"] == "Support" and support["open"] is True
    waiting = support["waiting"]
    assert [w["request_id"] for w in waiting] == [first.request_id, second.request_id]
    assert [w["position"] for w in waiting] == [1, 2]
    assert waiting[0]["number"] == CALLER and waiting[0]["kind"] == "inbound"
    assert waiting[0]["gross_wait"] == 45.0 and waiting[1]["gross_wait"] == 15.0
    assert queues["sales"]["waiting"] == []


async def test_agents_view(shell: Shell, http: TestClient) -> None:
    shell.ready("1001")
    await shell.endpoint_state("1002", "offline")
    await shell.activities.wait("agent_reachability", agent_id="1002")
    resp = await http.get("/api/agents")
    assert resp.status == 200
    agents = {a["id"]: a for a in (await resp.json())["agents"]}
    assert agents["1001"] == {
        "id": "1001",
        "name": "Agent 1001",
        "state": "ready",
        "pause_reason": None,
        "reachable": True,
        "request_id": None,
        "queues": ["support", "sales"],
    }
    assert agents["1002"]["state"] == "logged_off" and agents["1002"]["reachable"] is False


# ---- agent actions -----------------------------------------------------------------------------


async def test_ready_pause_logout(shell: Shell, http: TestClient) -> None:
    resp = await http.post("/api/agents/1001/ready")
    assert resp.status == 200
    assert (await resp.json())["state"] == "ready"
    assert shell.agent_state("1001") is AgentState.READY

    resp = await http.post("/api/agents/1001/pause", json={"reason": "lunch"})
    assert resp.status == 200
    body = await resp.json()
    assert body["state"] == "paused" and body["pause_reason"] == "lunch"

    resp = await http.post("/api/agents/1001/pause")  # no body: the default reason
    assert resp.status == 200 and (await resp.json())["pause_reason"] == "break"

    resp = await http.post("/api/agents/1001/logout")
    assert resp.status == 200 and (await resp.json())["state"] == "logged_off"


async def test_login_action(http: TestClient) -> None:
    resp = await http.post("/api/agents/1002/login")
    assert resp.status == 200 and (await resp.json())["state"] == "ready"


async def test_ready_via_api_rings_agent_for_waiting_caller(shell: Shell, http: TestClient) -> None:
    caller = await shell.caller(CALLER)
    resp = await http.post("/api/agents/1001/ready")
    assert resp.status == 200
    ring = await shell.wait_originate("1001")
    assert shell.engine.requests[caller.request_id].agent_leg == ring.leg_id
    resp = await http.get("/api/agents")
    agents = {a["id"]: a for a in (await resp.json())["agents"]}
    assert agents["1001"]["state"] == "ringing" and agents["1001"]["request_id"] == caller.request_id


@pytest.mark.parametrize(
    ("path", "fragment"),
    [("/api/agents/9999/ready", "no agent '9999'"), ("/api/agents/1001/dance", "unknown action 'dance'")],
    ids=["unknown-agent", "unknown-action"],
)
async def test_404(http: TestClient, path: str, fragment: str) -> None:
    resp = await http.post(path)
    assert resp.status == 404
    assert fragment in (await resp.json())["error"]


async def test_pause_while_ringing_gives_the_call_back_to_its_place(shell: Shell, http: TestClient) -> None:
    shell.ready("1001")
    caller = await shell.caller(CALLER)
    ringing = await shell.wait_originate("1001")
    resp = await http.post("/api/agents/1001/pause", json={"reason": "lunch"})
    assert resp.status == 200
    assert (await resp.json())["state"] == "paused"
    assert shell.agent_state("1001") is AgentState.PAUSED
    # the agent's ringing leg is hung up and the caller is back at the head of the queue
    await shell.fake.wait_for_call("DELETE", rf"/channels/{ringing.channel_id}")
    queues = await (await http.get("/api/queues")).json()
    waiting = [w for q in queues["queues"] for w in q["waiting"]]
    assert [w["request_id"] for w in waiting] == [caller.request_id]


async def test_pause_while_logged_off_is_409(http: TestClient) -> None:
    resp = await http.post("/api/agents/1001/pause")
    assert resp.status == 409
    assert "logged_off" in (await resp.json())["error"]


async def test_body_must_be_json(http: TestClient) -> None:
    resp = await http.post("/api/agents/1001/ready", data="not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400


# ---- bearer token --------------------------------------------------------------------------------


@pytest.mark.parametrize("admin_token", [TOKEN])
async def test_token_required_for_api(http: TestClient, admin_token: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": admin_token}):
        resp = await http.get("/api/agents", headers=headers)
        assert resp.status == 401, headers
        resp = await http.post("/api/agents/1001/ready", headers=headers)
        assert resp.status == 401, headers
    resp = await http.get("/api/agents", headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status == 200
    resp = await http.post("/api/agents/1001/ready", headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status == 200


@pytest.mark.parametrize("admin_token", [TOKEN])
async def test_health_is_open_and_metrics_needs_the_token_with_token_set(http: TestClient, admin_token: str) -> None:
    # issue 16: /metrics shows every queue; with a token set it is an operator's (admin) view
    assert (await http.get("/healthz")).status == 200
    assert (await http.get("/metrics")).status == 401
    assert (await http.get("/metrics", headers={"Authorization": f"Bearer {admin_token}"})).status == 200


async def test_no_token_configured_means_open_api(http: TestClient) -> None:
    assert (await http.get("/api/agents")).status == 200


async def test_an_open_service_ignores_an_authorization_header(shell: Shell, http: TestClient) -> None:
    # no admin_token and no users: open on loopback as before issue 16, whatever a client sends
    resp = await http.get("/api/agents", headers={"Authorization": "Bearer anything"})
    assert resp.status == 200
