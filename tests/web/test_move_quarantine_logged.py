"""Moving a callback that is in quarantine between attempts: it stays in quarantine in its new
queue, and the change log says so (it said "waiting at the end of sales"). Removing one while
it is being served is refused and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.ari.fake_ari import FakeAri
from tests.ari.fixtures import fake_ari  # noqa: F401
from tests.telephony.conftest import CALLER, Shell
from tests.web.conftest import started_shell

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
"""


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    async with started_shell(fake_ari, tmp_path, f"service:\n  data_dir: {tmp_path}\n", queues=QUEUES) as s:
        yield s


async def test_moving_a_quarantined_callback_is_logged_as_it_is(shell: Shell, http: TestClient) -> None:
    resp = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER})
    rid = (await resp.json())["request_id"]
    shell.ready("1001")
    ring = await shell.wait_originate("1001")
    await shell.answer(ring)
    whisper = await shell.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play")
    # removing it while the agent hears the whisper: refused, nothing changes (sound)
    resp = await http.delete(f"/api/callbacks/{rid}", json={"by": "eva", "reason": "x"})
    assert resp.status == 409
    await shell.finish_playback(whisper.param("playbackId") or "", ring.channel_id)
    dial = await shell.fake.wait_for_call("POST", r"/channels", count=2)
    await shell.eventually(lambda: shell.engine.requests[rid].state.value == "dialling_customer", "dialling")
    resp = await http.delete(f"/api/callbacks/{rid}", json={"by": "eva", "reason": "x"})
    assert resp.status == 409
    shell.clock.advance(20)
    customer = dict(shell.fake.channels[dial.param("channelId") or ""])
    await shell.hangup_event(customer, "ChannelDestroyed", cause=17, cause_txt="User busy")
    await shell.activities.wait("quarantine", request_id=rid)

    resp = await http.post(f"/api/callbacks/{rid}/move", json={"queue": "sales", "by": "eva", "reason": "wrong queue"})
    body = await resp.json()
    assert resp.status == 200, body
    req = shell.engine.requests[rid]
    assert shell.service.store is not None
    entry = (await shell.service.store.admin_log())[-1]
    assert req.state.value == "quarantine"  # still between attempts, in sales
    assert "quarantine" in str(entry.detail["after"]), f"change log says: {entry.detail}"
