"""POST /api/agents/{id}/extend: an agent still writing notes when the wrap-up runs out extends it
(`service.max_wrap_up_extension` caps the total) instead of being rung for the next caller. Through
the real app, a real service and engine on the fake Asterisk, with a SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.core.states import AgentState
from app.telephony.service import TelephonyService
from app.web.api import make_app
from app.web.models import ExtendWrapUpBody
from tests.ari.fake_ari import FakeAri
from tests.ari.fixtures import fake_ari  # noqa: F401  (the fixture)
from tests.telephony.conftest import Shell
from tests.web.conftest import started_shell, users_settings
from tests.web.test_users_api import _HASH, PASSWORD

WRAP_UP = 10.0  # the support queue's (tests/web/conftest.py CALLBACK_QUEUES)
CAP = 90.0


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    extra = f"service:\n  data_dir: {tmp_path}\n  max_wrap_up_extension: 90s\n"
    async with started_shell(fake_ari, tmp_path, extra) as s:
        yield s


async def _in_wrap_up(shell: Shell) -> float:
    """Agent 1001 takes a call that ends: returns the end of their wrap-up."""
    caller, _ring = await shell.connected_call()
    await shell.hangup_event(caller.channel)
    await shell.eventually(lambda: shell.agent_state("1001") is AgentState.WRAP_UP, "wrap-up")
    end = shell.engine.agents["1001"].wrap_up_until
    assert end is not None
    return end


async def _extend(http: TestClient, body: Any = None, agent: str = "1001") -> tuple[int, dict[str, Any]]:
    resp = await http.post(f"/api/agents/{agent}/extend", json=body)
    return resp.status, await resp.json()


async def test_an_agent_in_wrap_up_extends_it_and_is_not_rung_until_the_new_end(shell: Shell, http: TestClient) -> None:
    end = await _in_wrap_up(shell)
    status, body = await _extend(http)  # no body: the default step, one minute
    assert status == 200, body
    assert body["granted"] == 60.0
    assert body["wrap_up_until_epoch"] == pytest.approx(end + 60.0)
    assert body["extension_left"] == pytest.approx(CAP - 60.0)
    assert body["agent"]["state"] == "wrap_up"

    # a caller arrives and the configured wrap-up runs out: the agent is not rung
    await shell.caller()
    shell.tick(WRAP_UP + 1)
    assert shell.agent_state("1001") is AgentState.WRAP_UP
    assert not [c for c in shell.fake.calls_to("POST", r"/channels") if c.param("endpoint") == "PJSIP/1001"][1:]
    # ... until the extended end
    shell.tick(60.0)
    await shell.wait_originate("1001", count=2)
    assert shell.agent_state("1001") is AgentState.RINGING

    log = await (await http.get("/api/changelog")).json()
    (line,) = [e for e in log["changes"] if e["action"] == "agent_extend"]
    assert line["detail"]["agent_id"] == "1001" and line["detail"]["granted"] == 60.0


async def test_the_cap_leaves_less_then_nothing_and_the_answer_says_so(shell: Shell, http: TestClient) -> None:
    end = await _in_wrap_up(shell)
    status, body = await _extend(http, {"seconds": 60})
    assert (status, body["granted"], body["extension_left"]) == (200, 60.0, 30.0)
    status, body = await _extend(http, {"seconds": 60})  # only 30 s of the cap are left
    assert (status, body["granted"], body["extension_left"]) == (200, 30.0, 0.0)
    assert body["wrap_up_until_epoch"] == pytest.approx(end + CAP)
    # at the cap the engine changes nothing: not a 200 claiming an extension
    status, body = await _extend(http, {"seconds": 10})
    assert status == 409, body
    assert "1m30s" in body["error"] and "no more" in body["error"], body
    assert shell.engine.agents["1001"].wrap_up_until == pytest.approx(end + CAP)


async def test_the_answer_is_what_the_step_granted_not_what_a_later_step_left(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent dials *24 while the API's extension is being stored: the answer still tells what
    the API's own step granted and left (60 s, 30 s of the cap), not the state after the *24."""
    end = await _in_wrap_up(shell)
    service = shell.service
    stored = service.feed_and_commit

    async def then_the_code(event: Any) -> Any:
        commands = await stored(event)
        assert service.agent_action("1001", "extend") == "wrap_up_extended"  # the rest of the cap
        return commands

    monkeypatch.setattr(service, "feed_and_commit", then_the_code)
    status, body = await _extend(http, {"seconds": 60})
    assert status == 200, body
    assert (body["granted"], body["extension_left"]) == (60.0, CAP - 60.0)
    assert body["wrap_up_until_epoch"] == pytest.approx(end + 60.0)
    assert shell.engine.agents["1001"].wrap_up_until == pytest.approx(end + CAP)  # the code's 30 s came after


async def test_an_agent_not_in_wrap_up_gets_a_409_saying_so(shell: Shell, http: TestClient) -> None:
    shell.ready("1001")
    status, body = await _extend(http)
    assert status == 409, body
    assert "not in wrap-up" in body["error"], body
    assert shell.agent_state("1001") is AgentState.READY


@pytest.mark.parametrize("seconds", [0, -5, "60", None, float("nan")])
async def test_a_bad_number_of_seconds_is_refused(shell: Shell, http: TestClient, seconds: Any) -> None:
    end = await _in_wrap_up(shell)
    if seconds != seconds:  # NaN: JSON has none, sent as the bare token Python writes
        resp = await http.post(
            "/api/agents/1001/extend", data='{"seconds": NaN}', headers={"Content-Type": "application/json"}
        )
        status, body = resp.status, await resp.json()
    else:
        status, body = await _extend(http, {"seconds": seconds})
    assert status in (400, 422), body
    assert "seconds" in str(body) or "JSON" in body["error"], body
    assert shell.engine.agents["1001"].wrap_up_until == end


async def test_an_unknown_agent_is_404(shell: Shell, http: TestClient) -> None:
    status, body = await _extend(http, agent="9999")
    assert status == 404, body


@pytest.fixture
async def viewer(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[tuple[Shell, TestClient]]:  # noqa: F811
    settings = users_settings(tmp_path, _HASH, vic={"role": "viewer", "queues": ["*"]})
    async with started_shell(fake_ari, tmp_path, settings) as s:
        client = TestClient(TestServer(make_app(s.service)))
        await client.start_server()
        try:
            resp = await client.post("/api/session", json={"username": "vic", "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            client.csrf = (await resp.json())["csrf_token"]  # type: ignore[attr-defined]
            yield s, client
        finally:
            await client.close()


async def test_a_viewer_may_not_extend(viewer: tuple[Shell, TestClient]) -> None:
    shell, client = viewer
    end = await _in_wrap_up(shell)
    resp = await client.post("/api/agents/1001/extend", json={}, headers={"X-CSRF-Token": client.csrf})  # type: ignore[attr-defined]
    assert resp.status == 403, await resp.text()
    assert shell.engine.agents["1001"].wrap_up_until == end


def test_the_api_default_is_the_extension_codes_step() -> None:
    assert ExtendWrapUpBody().seconds == TelephonyService.WRAP_UP_STEP
