"""Cross-site requests on an open service (no token, no users: what `make run` gives). Another
site's page can make the operator's browser send a text/plain or form POST without a CORS
preflight; with no cookie or token to check, only the content type and the Origin header keep it
from ordering a callback or logging an agent out."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient

from app.web.openapi import build_openapi
from app.web.routes import ROUTES
from tests.telephony.conftest import Shell

ASK = {"queue": "support", "number": "+4520123456"}
EVIL = "https://evil.example"


def own_origin(http: TestClient) -> str:
    url = http.make_url("/")
    return f"http://{url.host}:{url.port}"


async def test_a_json_body_sent_as_text_plain_is_refused_and_changes_nothing(shell: Shell, http: TestClient) -> None:
    resp = await http.post("/api/callbacks", data=json.dumps(ASK), headers={"Content-Type": "text/plain"})
    assert resp.status == 415, await resp.text()
    assert "application/json" in (await resp.json())["error"]
    form = await http.post("/api/callbacks", data=ASK)  # a form: application/x-www-form-urlencoded
    assert form.status == 415
    assert shell.engine.requests == {}


async def test_a_change_from_another_sites_page_is_refused_even_as_json(shell: Shell, http: TestClient) -> None:
    shell.ready("1001")
    resp = await http.post("/api/agents/1001/logout", headers={"Origin": EVIL})  # no body: no content type to check
    assert resp.status == 403 and "Origin" in (await resp.json())["error"]
    resp = await http.post("/api/callbacks", json=ASK, headers={"Origin": "null"})  # a sandboxed frame
    assert resp.status == 403
    assert shell.engine.requests == {}
    agents = (await (await http.get("/api/agents", headers={"Origin": EVIL})).json())["agents"]  # reading is fine
    assert {a["id"]: a["state"] for a in agents}["1001"] == "ready"


async def test_the_services_own_page_and_clients_without_origin_may_change(shell: Shell, http: TestClient) -> None:
    resp = await http.post("/api/callbacks", json=ASK, headers={"Origin": own_origin(http)})
    assert resp.status == 201, await resp.text()
    shell.ready("1001")
    assert (await http.post("/api/agents/1001/pause")).status == 200  # no body, no Origin: a script


def test_the_openapi_document_names_the_refusals() -> None:
    ask = build_openapi(ROUTES)["paths"]["/api/callbacks"]["post"]["responses"]
    assert {"403", "415"} <= set(ask)
