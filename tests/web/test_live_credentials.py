"""The live websocket outlives the request that opened it, so it must end when the credential that
opened it stops holding: a personal token rotated, the admin token changed, or a reload that turns
authentication on for a service that was open. Each gets {"type": "expired"} and close 4401."""

from __future__ import annotations

from pathlib import Path

from aiohttp import WSMsgType
from aiohttp.client import ClientWebSocketResponse
from aiohttp.test_utils import TestClient, TestServer

from app.web.api import make_app
from app.web.passwords import hash_token
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES, TOKEN
from tests.web.test_users_api import SUPPORT_TOKEN, shell_text, users_yaml  # noqa: F401

NEW_ADMIN_TOKEN = "a-brand-new-admin-token-0000"


def reload_with(shell: Shell, path: Path, text: str) -> None:
    path.write_text(text)
    shell.service.config_path = path
    assert shell.service.reload() is None


async def assert_expired(shell: Shell, ws: ClientWebSocketResponse) -> None:
    shell.service.step_listeners[0]()  # any change: the next push checks the credential
    assert (await ws.receive_json(timeout=3)) == {"type": "expired"}
    closed = await ws.receive(timeout=2)
    assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and ws.close_code == 4401


async def test_a_socket_opened_with_a_personal_token_ends_when_the_token_is_rotated(
    shell: Shell, http: TestClient, tmp_path: Path
) -> None:
    text = config_text(shell.fake, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path))
    old = f'api_token_hash: "{hash_token(SUPPORT_TOKEN)}"'
    assert old in text
    headers = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}
    async with http.ws_connect("/ws/live", headers=headers) as ws:
        assert (await ws.receive_json(timeout=2))["type"] == "snapshot"
        reload_with(shell, tmp_path / "holdfast.yaml", text.replace(old, f'api_token_hash: "{hash_token("hf_new")}"'))
        assert (await http.get("/api/live", headers=headers)).status == 401
        await assert_expired(shell, ws)


async def test_a_socket_opened_with_the_admin_token_ends_when_the_admin_token_changes(
    shell: Shell, http: TestClient, tmp_path: Path
) -> None:
    text = config_text(shell.fake, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path))
    async with http.ws_connect("/ws/live", headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        assert (await ws.receive_json(timeout=2))["type"] == "snapshot"
        reload_with(shell, tmp_path / "holdfast.yaml", text.replace(TOKEN, NEW_ADMIN_TOKEN))
        await assert_expired(shell, ws)


async def test_a_reload_that_keeps_the_token_keeps_the_socket(shell: Shell, http: TestClient, tmp_path: Path) -> None:
    text = config_text(shell.fake, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path))
    headers = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}
    async with http.ws_connect("/ws/live", headers=headers) as ws:
        assert (await ws.receive_json(timeout=2))["type"] == "snapshot"
        reload_with(shell, tmp_path / "holdfast.yaml", text)
        resp = await http.post(
            "/api/callbacks",
            json={"queue": "support", "number": "+4520123456"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert resp.status == 201
        assert (await ws.receive_json(timeout=3))["type"] == "patch"


async def test_an_open_service_socket_ends_when_a_reload_turns_authentication_on(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    open_shell = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES))  # no token, no users
    await open_shell.start()
    client = TestClient(TestServer(make_app(open_shell.service)))
    await client.start_server()
    try:
        async with client.ws_connect("/ws/live") as ws:
            assert (await ws.receive_json(timeout=2))["type"] == "snapshot"
            closed = config_text(fake_ari, queues=CALLBACK_QUEUES, extra=f'service:\n  admin_token: "{TOKEN}"\n')
            reload_with(open_shell, tmp_path / "holdfast.yaml", closed)
            assert (await client.get("/api/live")).status == 401
            await assert_expired(open_shell, ws)
    finally:
        await client.close()
        await open_shell.stop()
