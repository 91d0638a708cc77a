"""The dialler at the agent's desk over the API: the card while the agent's phone rings, dial now,
skip, and dispositions, with their refusals."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from app.core import events as ev
from app.core.contacts import DueContact
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text
from tests.web.conftest import CALLBACK_QUEUES

CAMPAIGN = """
campaigns:
  spring:
    mode: preview
    queue: sales
    review_time: 30s
"""
ADA = DueContact("spring", 7, "+4520123477", "Ada", {"account": "A-7"}, None, 0, 1, None)


@pytest.fixture
def shell_text(fake_ari: FakeAri) -> str:
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=CAMPAIGN)


async def rung_for_ada(shell: Shell) -> None:
    shell.service.feed(ev.ContactsLoaded(shell.clock.now, "spring", (ADA,)))
    assert shell.service.agent_action("1001", "ready") is not None
    assert shell.service.engine.contact_for_agent("1001") is not None


async def test_the_card_is_served_while_the_agent_is_rung(shell: Shell, http: TestClient) -> None:
    resp = await http.get("/api/agents/1001/contact")
    assert resp.status == 404  # no dialler contact yet
    await rung_for_ada(shell)
    resp = await http.get("/api/agents/1001/contact")
    card = await resp.json()
    assert resp.status == 200, card
    assert {k: card[k] for k in ("campaign", "contact_id", "number", "name", "fields", "attempts", "state")} == {
        "campaign": "spring",
        "contact_id": 7,
        "number": "+4520123477",
        "name": "Ada",
        "fields": {"account": "A-7"},
        "attempts": 1,
        "state": "ringing_agent",
    }
    assert (await http.get("/api/agents/nobody/contact")).status == 404


async def test_dial_now_is_refused_while_ringing_and_skip_takes_the_contact_back(
    shell: Shell, http: TestClient
) -> None:
    await rung_for_ada(shell)
    resp = await http.post("/api/agents/1001/contact/dial")
    assert resp.status == 409, await resp.json()
    resp = await http.post("/api/agents/1001/contact/skip")
    assert resp.status == 200, await resp.json()
    assert (await http.get("/api/agents/1001/contact")).status == 404
    assert (await http.post("/api/agents/1001/contact/skip")).status == 409  # nothing left to skip


async def test_a_disposition_needs_a_call_a_known_name_and_a_time_with_a_zone(shell: Shell, http: TestClient) -> None:
    resp = await http.post("/api/agents/1001/contact/disposition", json={"disposition": "sale"})
    assert resp.status == 409 and "no dialler call" in (await resp.json())["error"]
    resp = await http.post(
        "/api/agents/1001/contact/disposition", json={"disposition": "call_back", "when": "2026-12-05T10:00:00"}
    )
    assert resp.status == 422 and "time zone" in (await resp.json())["error"]
    resp = await http.post("/api/agents/1001/contact/disposition", json={"disposition": 5})
    assert resp.status == 422
