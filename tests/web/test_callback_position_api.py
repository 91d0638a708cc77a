"""POST /api/callbacks/{id}/position: a supervisor puts a waiting callback at a position of their
queue; it is stored, written to the change log (who, why, position before → after), and the next
free agent is rung for it. A viewer cannot, another queue's supervisor does not see it, and what
the engine refuses (a position beyond the queue, a callback in quarantine) changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN, started_shell, users_settings
from tests.web.test_users_api import _HASH, login

ADMIN = {"Authorization": f"Bearer {TOKEN}"}
NUMBERS = ("+4520111111", "+4520222222", "+4520333333")


def users(tmp: Path) -> str:
    return users_settings(
        tmp,
        _HASH,
        sam={"role": "supervisor", "queues": ["support"]},
        nora={"role": "supervisor", "queues": ["sales"]},
        vic={"role": "viewer", "queues": ["*"]},
    )


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    async with started_shell(fake_ari, tmp_path, users(tmp_path)) as s:
        yield s


@pytest.fixture
async def clients(shell: Shell) -> AsyncIterator[dict[str, TestClient]]:
    made = {name: await login(shell, name) for name in ("sam", "nora", "vic")}
    try:
        yield made
    finally:
        for client in made.values():
            await client.close()


@pytest.fixture
async def three(clients: dict[str, TestClient], shell: Shell) -> list[str]:
    """Three callbacks waiting in support, in this order."""
    ids = []
    for number in NUMBERS:
        shell.clock.advance(1.0)
        resp = await clients["sam"].post(
            "/api/callbacks",
            json={"queue": "support", "number": number},
            headers={"X-CSRF-Token": clients["sam"].csrf},  # type: ignore[attr-defined]
        )
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["request_id"])
    return ids


async def place(client: TestClient, rid: str, **body: Any) -> tuple[int, Any]:
    csrf = getattr(client, "csrf", None)
    resp = await client.post(
        f"/api/callbacks/{rid}/position", json=body, headers={"X-CSRF-Token": csrf} if csrf else ADMIN
    )
    return resp.status, await resp.json()


def order(shell: Shell) -> list[str]:
    return [r.id for r in shell.service.engine.waiting("support")]


async def test_a_supervisor_puts_a_callback_first_logged_and_it_is_served_next(
    clients: dict[str, TestClient], shell: Shell, three: list[str]
) -> None:
    status, body = await place(clients["sam"], three[2], position=1, reason="customer is a VIP")
    assert status == 200, body
    assert (body["request_id"], body["callback"]["position"]) == (three[2], 1)
    assert order(shell) == [three[2], three[0], three[1]]
    assert shell.service.store is not None
    stored = {r.id: r.place for r in await shell.service.store.load_active_requests()}
    assert stored[three[2]] == shell.service.engine.requests[three[2]].place  # the new place is kept
    log = [(e.who, e.action, e.request_id, e.detail) for e in await shell.service.store.admin_log()]
    assert log == [
        (
            "sam",
            "position_callback",
            three[2],
            {
                "reason": "customer is a VIP",
                "queue": "support",
                "before": "position 3 of 3 in support",
                "after": "position 1 of 3 in support",
            },
        )
    ]
    changelog = await (await clients["sam"].get("/api/changelog")).json()
    assert "position_callback" in str(changelog)
    assert shell.service.agent_action("1001", "ready") is not None
    assert shell.service.engine.agents["1001"].request_id == three[2]  # the next one served


async def test_a_person_must_say_why_and_a_viewer_cannot_act(
    clients: dict[str, TestClient], shell: Shell, three: list[str]
) -> None:
    status, body = await place(clients["sam"], three[2], position=1)
    assert status == 422 and "reason" in body["error"]
    status, _ = await place(clients["vic"], three[2], position=1, reason="x")
    assert status == 403
    assert order(shell) == three


async def test_another_queues_supervisor_does_not_see_it(
    clients: dict[str, TestClient], shell: Shell, three: list[str]
) -> None:
    status, _ = await place(clients["nora"], three[2], position=1, reason="x")
    assert status == 404
    assert order(shell) == three


async def test_what_the_engine_refuses_changes_nothing(
    clients: dict[str, TestClient], shell: Shell, three: list[str]
) -> None:
    sam = clients["sam"]
    status, body = await place(sam, three[0], position=4, reason="x")
    assert status == 422 and "use 1-3" in body["error"], body
    status, body = await place(sam, three[0], position=0, reason="x")
    assert status == 422
    status, body = await place(sam, "nobody", position=1, reason="x")
    assert status == 404
    assert order(shell) == three
    assert shell.service.store is not None and await shell.service.store.admin_log() == []


async def test_the_admin_token_positions_without_a_reason_and_the_api_describes_it(
    shell: Shell, three: list[str]
) -> None:
    from aiohttp.test_utils import TestServer

    async with TestClient(TestServer(make_app(shell.service))) as admin:
        status, body = await place(admin, three[1], position=3, by="ops")
        assert status == 200, body
        assert order(shell) == [three[0], three[2], three[1]]
        doc = await (await admin.get("/api/openapi.json", headers=ADMIN)).json()
        assert "/api/callbacks/{request_id}/position" in doc["paths"]
