"""GET /api/queues shows every active request and what it is doing; times are ISO 8601 UTC; an
estimate that cannot be made is null. Answers match the published OpenAPI schemas."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from app.core.commands import PromptItem
from app.web.openapi import build_openapi
from app.web.routes import ROUTES
from app.web.times import iso, known_estimate
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, START, Shell, config_text

OTHER = "+4520999888"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

QUEUES = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 10s
    callback:
      max_attempts: 2
      sec_between_retries: 5m
  sales:
    display_name: Sales
    ring_timeout: 15s
    wrap_up: 10s
    callback:
      callback_delay: 2m
"""


@pytest.fixture
def shell_text(fake_ari: FakeAri) -> str:
    return config_text(fake_ari, queues=QUEUES)


async def get_json(http: TestClient, path: str, model: str) -> dict[str, Any]:
    """The answer, checked against the schema the OpenAPI document publishes for it."""
    resp = await http.get(path)
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    doc = build_openapi(ROUTES)
    Draft202012Validator({"$ref": f"#/components/schemas/{model}", "components": doc["components"]}).validate(body)
    return body


async def support(http: TestClient) -> dict[str, Any]:
    body = await get_json(http, "/api/queues", "QueueList")
    return next(q for q in body["queues"] if q["name"] == "support")


async def ask(http: TestClient, number: str = CALLER, queue: str = "support") -> str:
    resp = await http.post("/api/callbacks", json={"queue": queue, "number": number})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["request_id"])


def by_id(queue: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in queue["requests"]}


# ---- every active request, with its state ----------------------------------------------------------


async def test_a_caller_whose_agent_rings_is_still_listed(shell: Shell, http: TestClient) -> None:
    shell.ready("1001")
    first = await shell.caller(CALLER)
    await shell.wait_originate("1001")  # first leaves the place order while 1001 rings
    shell.clock.advance(10)
    second = await shell.caller(OTHER)
    shell.clock.advance(5)
    q = await support(http)
    assert [w["request_id"] for w in q["waiting"]] == [second.request_id]  # unchanged meaning
    assert [r["request_id"] for r in q["requests"]] == [second.request_id, first.request_id]
    ringing = by_id(q)[first.request_id]
    assert ringing["state"] == "ringing_agent" and ringing["agent_id"] == "1001"
    assert ringing["position"] is None and ringing["estimated_wait"] is None
    assert ringing["kind"] == "inbound" and ringing["number"] == CALLER
    assert ringing["gross_wait"] == 15.0
    assert ringing["arrived_at"] == "2026-01-01T10:00:00.000Z" and ringing["arrived_at_epoch"] == START
    waiting = by_id(q)[second.request_id]
    assert waiting["state"] == "waiting" and waiting["position"] == 1 and waiting["agent_id"] is None
    assert waiting["gross_wait"] == 5.0 and waiting["net_wait"] == 5.0


async def test_a_callback_through_whisper_dialling_and_quarantine(shell: Shell, http: TestClient) -> None:
    request_id = await ask(http)
    shell.ready("1001")
    ring = await shell.wait_originate("1001")
    assert by_id(await support(http))[request_id]["state"] == "ringing_agent"

    await shell.answer(ring)
    whisper = await shell.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play")
    assert whisper.param("media") == shell.media_items(PromptItem("callback_whisper"), PromptItem("number", CALLER))
    seen = by_id(await support(http))[request_id]
    assert (seen["state"], seen["agent_id"], seen["kind"]) == ("whisper", "1001", "callback")

    await shell.finish_playback(whisper.param("playbackId") or "", ring.channel_id)
    dial = await shell.fake.wait_for_call("POST", r"/channels", count=2)
    await shell.eventually(
        lambda: shell.engine.requests[request_id].state.value == "dialling_customer", "dialling the customer"
    )
    seen = by_id(await support(http))[request_id]
    assert (seen["state"], seen["agent_id"], seen["attempts"]) == ("dialling_customer", "1001", 1)

    shell.clock.advance(20)
    customer = dict(shell.fake.channels[dial.param("channelId") or ""])
    await shell.hangup_event(customer, "ChannelDestroyed", cause=17, cause_txt="User busy")
    await shell.activities.wait("quarantine", request_id=request_id)
    q = await support(http)
    assert q["waiting"] == []  # out of the place order, but not out of sight
    seen = by_id(q)[request_id]
    assert seen["state"] == "quarantine" and seen["agent_id"] is None and seen["attempts"] == 1
    until = START + 20 + 300
    assert seen["until_epoch"] == until and seen["until"] == "2026-01-01T10:05:20.000Z"
    assert seen["not_before"] is None and seen["position"] is None

    # /api/callbacks shows the same instant as ISO text and epoch seconds
    listed = (await get_json(http, "/api/callbacks", "CallbackList"))["callbacks"]
    assert [(c["request_id"], c["not_before"], c["not_before_epoch"]) for c in listed] == [
        (request_id, "2026-01-01T10:05:20.000Z", until)
    ]


async def test_a_delayed_callback_is_scheduled_with_its_not_before(shell: Shell, http: TestClient) -> None:
    request_id = await ask(http, queue="sales")
    shell.clock.advance(30)
    body = await get_json(http, "/api/queues", "QueueList")
    sales = next(q for q in body["queues"] if q["name"] == "sales")
    seen = by_id(sales)[request_id]
    assert seen["state"] == "scheduled" and seen["position"] == 1  # it holds its place meanwhile
    assert seen["not_before"] == "2026-01-01T10:02:00.000Z" and seen["not_before_epoch"] == START + 120
    assert seen["until"] is None
    assert [w["request_id"] for w in sales["waiting"]] == [request_id]
    shell.tick(100)  # past the delay: plain waiting again
    seen = by_id(next(q for q in (await get_json(http, "/api/queues", "QueueList"))["queues"] if q["name"] == "sales"))
    assert seen[request_id]["state"] == "waiting" and seen[request_id]["not_before"] is None


# ---- times -------------------------------------------------------------------------------------------


async def test_callback_times_are_iso_utc_with_the_epoch_beside(shell: Shell, http: TestClient) -> None:
    shell.clock.advance(3.25)
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    created = await resp.json()
    assert created["requested_at"] == "2026-01-01T10:00:03.250Z"
    assert created["requested_at_epoch"] == START + 3.25
    assert datetime.fromisoformat(created["requested_at"]).timestamp() == START + 3.25
    assert created["not_before"] is None and created["not_before_epoch"] is None
    listed = (await get_json(http, "/api/callbacks", "CallbackList"))["callbacks"]
    assert listed[0]["requested_at"] == created["requested_at"]


def test_every_published_time_field_is_iso_text() -> None:
    """Every instant in every answer: ISO text (format date-time), with its epoch seconds beside it."""
    schemas = build_openapi(ROUTES)["components"]["schemas"]

    def kinds(prop: dict[str, Any]) -> list[dict[str, Any]]:
        return [k for k in prop.get("anyOf", [prop]) if k.get("type") != "null"]

    found = []
    for model, schema in schemas.items():
        for name, prop in schema.get("properties", {}).items():
            if name.endswith("_at") or name in ("not_before", "until"):
                found.append((model, name))
                assert [(k["type"], k.get("format")) for k in kinds(prop)] == [("string", "date-time")], prop
                assert [k["type"] for k in kinds(schema["properties"][f"{name}_epoch"])] == ["number"]
    assert {("CallbackView", "requested_at"), ("CallbackView", "not_before"), ("RequestView", "arrived_at"),
            ("RequestView", "not_before"), ("RequestView", "until")} <= set(found)  # fmt: skip


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (START, "2026-01-01T10:00:00.000Z"),
        (START + 0.1234, "2026-01-01T10:00:00.123Z"),
        (START + 0.123, "2026-01-01T10:00:00.123Z"),  # not .122 from float error
        (START + 59.9996, "2026-01-01T10:01:00.000Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_iso(epoch: float, text: str) -> None:
    assert iso(epoch) == text
    assert ISO_UTC.match(text)


# ---- an unknown estimate is null ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "shown"),
    [(None, None), (math.inf, None), (math.nan, None), (86400.0, None), (1e9, None), (12.34, 12.3), (0.0, 0.0)],
)
def test_known_estimate(given: float | None, shown: float | None) -> None:
    assert known_estimate(given) == shown


async def test_estimate_is_null_with_no_agent_and_a_number_with_one(shell: Shell, http: TestClient) -> None:
    caller = await shell.caller(CALLER)  # every agent is logged off
    q = await support(http)
    assert q["waiting"][0]["estimated_wait"] is None
    assert by_id(q)[caller.request_id]["estimated_wait"] is None

    shell.ready("1001")  # serves the queue: it takes this caller, the next one has an estimate
    await shell.wait_originate("1001")
    second = await shell.caller(OTHER)
    q = await support(http)
    estimate = by_id(q)[second.request_id]["estimated_wait"]
    assert isinstance(estimate, float) and 0 <= estimate < 86400
    assert q["waiting"][0]["estimated_wait"] == estimate
