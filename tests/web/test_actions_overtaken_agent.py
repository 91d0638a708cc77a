"""An agent action that becomes moot because the agent's wrap-up ended (timer due, Tick not yet
delivered) in the same step: the engine's `event_ignored` activity crashes the service (with a
store: commit_crashed_stopping; without one: a 500 and the rest of the step's commands unsent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.ari.fake_ari import FakeAri
from tests.ari.fixtures import fake_ari  # noqa: F401  (the fixture)
from tests.telephony.conftest import Shell
from tests.web.conftest import started_shell


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    async with started_shell(fake_ari, tmp_path, f"service:\n  data_dir: {tmp_path}\n") as s:
        yield s


async def test_a_pause_made_moot_by_a_logout_taking_effect_is_refused_and_the_service_goes_on(
    shell: Shell, http: TestClient
) -> None:
    caller, _ring = await shell.connected_call()
    await shell.hangup_event(caller.channel)
    await shell.eventually(lambda: shell.agent_state("1001").value == "wrap_up", "wrap-up")
    resp = await http.post("/api/agents/1001/logout", json={})
    assert resp.status == 200, await resp.text()  # takes effect when wrap-up (10 s) ends
    shell.clock.advance(10.5)  # wrap-up over; the timer task has not delivered its Tick yet
    resp = await http.post("/api/agents/1001/pause", json={"reason": "lunch"})
    body = await resp.json()
    assert shell.service.healthy, (
        f"service stopping after an agent pause: {shell.service.fatal_reason} ({resp.status} {body})"
    )
    assert resp.status == 409, body  # the agent is logged off now: cannot pause
