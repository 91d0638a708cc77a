"""Health with its reasons, reload telling what waits for a restart, the token read live and
compared in constant time, and the OpenAPI document that comes from the route table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from app.store import StoreFull
from app.web import auth
from app.web.openapi import build_openapi
from app.web.page import PAGE_ROUTES
from app.web.routes import ROUTES
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN

# ---- health ---------------------------------------------------------------------------------------


async def test_healthz_503_when_the_service_is_stopping(shell: Shell, http: TestClient) -> None:
    shell.service.fatal.set()
    resp = await http.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["ari"] == "connected"
    assert body["problems"] == ["the service is stopping: it cannot go on safely (see its log)"]


async def test_healthz_503_with_the_reason_the_service_failed(shell: Shell, http: TestClient) -> None:
    shell.service.fail("store_commit_failed", RuntimeError("disk full"))
    resp = await http.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["problems"] == ["the service is stopping: store_commit_failed (see its log)"]


async def test_healthz_says_what_the_store_refused_and_what_to_do(shell: Shell, http: TestClient) -> None:
    """A monitor polling /healthz learns that the disk is full, not only that the store failed."""
    full = StoreFull("database /var/lib/holdfast/holdfast.db is full (database or disk is full): free disk space")
    shell.service.fail("store_failed_stopping", full)
    resp = await http.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["problems"] == [f"the service is stopping: store_failed_stopping: {full} (see its log)"]


async def test_healthz_names_every_reason(shell: Shell, http: TestClient) -> None:
    await shell.push("ApplicationReplaced")
    await shell.eventually(lambda: shell.service.replaced, "replaced")
    resp = await http.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert "another Holdfast took over the Stasis application" in body["problems"]
    assert any(p.startswith("the service is stopping: ") for p in body["problems"])
    assert body["error"] == "; ".join(body["problems"])


# ---- reload ---------------------------------------------------------------------------------------


@pytest.fixture
def settings_file(shell: Shell, shell_text: str, tmp_path: Path) -> Path:
    path = tmp_path / "holdfast.yaml"
    path.write_text(shell_text)
    shell.service.config_path = path
    return path


async def test_reload_applies_and_says_what_waits_for_a_restart(
    shell: Shell, http: TestClient, settings_file: Path
) -> None:
    logged: list[tuple[Any, ...]] = []

    async def record_admin(*entry: Any) -> None:
        logged.append(entry)

    shell.service.record_admin = record_admin  # type: ignore[method-assign]
    text = settings_file.read_text()
    resp = await http.post("/api/reload")
    assert resp.status == 200
    assert await resp.json() == {"applied": True, "restart_needed": []}

    settings_file.write_text(
        text.replace("app: ", "app: other-", 1).replace("display_name: Support", "display_name: Helpdesk")
        + "service:\n  http_port: 9191\n  log_level: debug\n"
    )
    resp = await http.post("/api/reload")
    assert resp.status == 200
    assert await resp.json() == {
        "applied": True,
        "restart_needed": ["service.http_port", "service.log_level", "asterisk.app"],
    }
    assert shell.engine.queues["support"].label == "Helpdesk"  # the rest is applied
    # each reload is in the change log: who applied the file (it can end callbacks, drop campaigns)
    assert [(who, action, detail) for _at, who, action, _rid, detail in logged] == [
        ("admin", "reload", {"restart_needed": []}),
        ("admin", "reload", {"restart_needed": ["service.http_port", "service.log_level", "asterisk.app"]}),
    ]


async def test_a_refused_reload_is_400_with_the_reasons(shell: Shell, http: TestClient, settings_file: Path) -> None:
    settings_file.write_text(settings_file.read_text().replace("ring_timeout: 15s", "ring_timeout: soon", 1))
    resp = await http.post("/api/reload")
    assert resp.status == 400
    body = await resp.json()
    assert body["applied"] is False and "queues.support.ring_timeout" in body["error"]


async def test_a_reload_without_a_settings_file_is_400(http: TestClient) -> None:
    resp = await http.post("/api/reload")
    assert resp.status == 400
    assert await resp.json() == {"applied": False, "error": "this service was not started from a settings file"}


@pytest.mark.parametrize("admin_token", [TOKEN])
async def test_a_reloaded_admin_token_applies_at_once(
    shell: Shell, http: TestClient, settings_file: Path, admin_token: str
) -> None:
    new = "a-new-token-after-reload-42"
    settings_file.write_text(settings_file.read_text().replace(admin_token, new))
    resp = await http.post("/api/reload", headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status == 200
    assert (await resp.json())["restart_needed"] == []  # the token is not one of them
    old = await http.get("/api/agents", headers={"Authorization": f"Bearer {admin_token}"})
    assert old.status == 401
    assert await old.json() == {"error": "missing or wrong bearer token"}
    assert (await http.get("/api/agents", headers={"Authorization": f"Bearer {new}"})).status == 200


# ---- the token -------------------------------------------------------------------------------------


@pytest.mark.parametrize("admin_token", [TOKEN])
async def test_the_token_is_compared_in_constant_time(
    http: TestClient, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert (await http.get("/api/agents", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await http.get("/api/agents", headers={"Authorization": f"Bearer {admin_token}"})).status == 200
    expected = f"Bearer {admin_token}".encode()
    assert compared == [(b"Bearer nope", expected), (expected, expected)]


@pytest.mark.parametrize("admin_token", [TOKEN])
async def test_a_header_that_is_not_ascii_is_401_not_500(http: TestClient, admin_token: str) -> None:
    resp = await http.get("/api/agents", headers={"Authorization": "Bearer tøken-ü"})
    assert resp.status == 401


@pytest.mark.parametrize("admin_token", [TOKEN])
async def test_the_openapi_document_is_behind_the_token_too(http: TestClient, admin_token: str) -> None:
    assert (await http.get("/api/openapi.json")).status == 401
    resp = await http.get("/api/openapi.json", headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status == 200


# ---- OpenAPI ---------------------------------------------------------------------------------------


async def test_openapi_document_is_valid_and_served(http: TestClient) -> None:
    resp = await http.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)  # raises with the reason when the document is not valid OpenAPI 3.1
    assert doc == build_openapi(ROUTES)
    assert doc["openapi"].startswith("3.")


async def test_every_served_route_is_published_and_every_published_one_served(http: TestClient) -> None:
    served = {
        (r.method, r.resource.canonical)
        for r in http.server.app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    doc = build_openapi(ROUTES)
    published = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert served - set(PAGE_ROUTES) == published  # the pages are HTML, not the JSON API
    assert ("POST", "/api/callbacks") in published and ("GET", "/api/openapi.json") in published


def test_request_bodies_are_the_models_schemas() -> None:
    doc = build_openapi(ROUTES)
    schemas = doc["components"]["schemas"]
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        if route.csv_body:  # a CSV file, streamed: no JSON model
            assert list(op["requestBody"]["content"]) == ["text/csv"]
            continue
        if route.body is None:
            assert "requestBody" not in op
            continue
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        published = schemas[ref.rsplit("/", 1)[1]]
        assert published["properties"] == route.body.model_json_schema()["properties"]
        assert published["additionalProperties"] is False
        assert {"400", "413", "422", "401"} <= set(op["responses"])


def test_bounds_are_published() -> None:
    schema = build_openapi(ROUTES)["components"]["schemas"]["CallbackRequestBody"]
    assert schema["properties"]["priority"]["minimum"] == -1000
    assert schema["properties"]["priority"]["maximum"] == 1000
    assert schema["properties"]["number"]["maxLength"] == 32
    assert schema["required"] == ["queue", "number"]
