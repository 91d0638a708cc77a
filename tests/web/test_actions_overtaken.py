"""A supervisor's action that a deadline due first made moot (the callback expired a moment
before the timer loop delivered its tick): the engine drops it. That stopped the service (the
`event_ignored` activity's key `event` clashed with the logger's own argument on the commit path),
and with that masked it was answered 200 and written to the change log as if done. Now: 409, the
service goes on, and the change log has only what was done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.ari.fake_ari import FakeAri
from tests.ari.fixtures import fake_ari  # noqa: F401  (the fixture)
from tests.telephony.conftest import CALLER, Shell
from tests.web.conftest import TOKEN, started_shell

ADMIN = {"Authorization": f"Bearer {TOKEN}"}

QUEUES = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 10s
    callback:
      max_age: 1h
  sales:
    display_name: Sales
    ring_timeout: 15s
    wrap_up: 10s
"""


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    extra = f'service:\n  admin_token: "{TOKEN}"\n  data_dir: {tmp_path}\n'
    async with started_shell(fake_ari, tmp_path, extra, queues=QUEUES) as s:
        yield s


async def _ask(http: TestClient) -> str:
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER}, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["request_id"])


async def _act(http: TestClient, rid: str, action: str):
    if action == "remove":
        return await http.delete(f"/api/callbacks/{rid}", json={"by": "eva", "reason": "duplicate"}, headers=ADMIN)
    if action == "move":
        return await http.post(
            f"/api/callbacks/{rid}/move", json={"queue": "sales", "by": "eva", "reason": "x"}, headers=ADMIN
        )
    return await http.post(
        f"/api/callbacks/{rid}/position", json={"position": 1, "by": "eva", "reason": "x"}, headers=ADMIN
    )


@pytest.mark.parametrize("action", ["remove", "move", "position"])
async def test_a_moot_admin_action_is_refused_and_not_logged_and_the_service_goes_on(
    shell: Shell, http: TestClient, action: str
) -> None:
    rid = await _ask(http)
    shell.clock.advance(3600.5)  # max_age passed; the timer task has not delivered its tick yet
    resp = await _act(http, rid, action)
    body = await resp.json()
    assert shell.service.healthy, f"{shell.service.fatal_reason} ({resp.status} {body})"
    assert resp.status == 409 and "not done" in body["error"], body
    ended = shell.activities.find("ended", request_id=rid)
    assert ended and ended[0].data["outcome"] == "expired"  # what the deadline did is kept
    assert shell.service.store is not None
    assert [e.action for e in await shell.service.store.admin_log()] == []
