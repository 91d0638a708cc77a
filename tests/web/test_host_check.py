"""DNS rebinding: a page on attacker.example whose name is re-pointed at 127.0.0.1 talks to the
service from an operator's browser as a same-origin page (Host and Origin both name
attacker.example). The Host header must name this service (app/web/hosts.py): loopback, an IP
address, service.http_host or web.allowed_hosts; anything else is refused with 421, websocket too."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.web.api import make_app
from app.web.hosts import host_name, is_own_host
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import started_shell
from tests.web.test_users_api import PASSWORD, users_yaml

EVIL_HOST = "attacker.example:8080"
REBOUND = {"Host": EVIL_HOST, "Origin": f"http://{EVIL_HOST}"}  # what the browser sends after rebinding
NUMBER = "+4520123456"


async def test_a_rebound_page_cannot_act_on_an_open_service(shell: Shell, http: TestClient) -> None:
    shell.ready("1001")
    resp = await http.post("/api/agents/1001/logout", headers=REBOUND)
    assert resp.status == 421, await resp.text()
    assert "web.allowed_hosts" in (await resp.json())["error"]
    agents = (await (await http.get("/api/agents")).json())["agents"]
    assert {a["id"]: a["state"] for a in agents}["1001"] == "ready"


async def test_a_rebound_page_cannot_read_callers_numbers_or_open_the_feed(shell: Shell, http: TestClient) -> None:
    assert (await http.post("/api/callbacks", json={"queue": "support", "number": NUMBER})).status == 201
    resp = await http.get("/api/callbacks", headers=REBOUND)
    assert resp.status == 421
    assert NUMBER not in await resp.text()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect("/ws/live", headers=REBOUND)
    assert refused.value.status == 421
    assert (await http.get("/live", headers=REBOUND)).status == 421  # the page itself too


@pytest.mark.parametrize("host", ["localhost:8080", "LOCALHOST", "127.0.0.1", "127.1.2.3:80", "[::1]:8080", "10.1.2.3"])
async def test_loopback_names_and_addresses_are_this_service(http: TestClient, host: str) -> None:
    resp = await http.get("/api/callbacks", headers={"Host": host})
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("allowed", [True, False], ids=["allowed_host", "other_host"])
async def test_with_users_any_name_of_the_service_logs_in(fake_ari: FakeAri, tmp_path: Path, allowed: bool) -> None:
    """With users, a session cookie is SameSite=Strict and bound to the name it was set for: a
    rebound page gains nothing, and any name the service is reached by logs in."""
    web = "web:\n  allowed_hosts: [holdfast.example.com]\n"
    host = "Holdfast.Example.com:443" if allowed else "holdfast.example.org"
    async with started_shell(fake_ari, tmp_path, users_yaml(tmp_path) + web) as shell:
        client = TestClient(TestServer(make_app(shell.service)))
        await client.start_server()
        try:
            body = {"username": "sam", "password": PASSWORD}
            resp = await client.post("/api/session", json=body, headers={"Host": host})
            assert resp.status == 200, await resp.text()
        finally:
            await client.close()


def test_the_host_header_is_read_as_a_name_without_its_port() -> None:
    assert host_name("Holdfast.Example.com.:8443") == "holdfast.example.com"
    assert host_name("[::1]:8080") == "::1"
    assert host_name("[::1") is None and host_name("::1") is None and host_name(":8080") is None
    assert is_own_host("holdfast.lan", "Holdfast.LAN", ())  # service.http_host as a name
    assert is_own_host("0.0.0.0", "0.0.0.0", ())
    assert not is_own_host("attacker.example", "0.0.0.0", ("holdfast.lan",))
    assert not is_own_host("localhost.attacker.example", "127.0.0.1", ())
